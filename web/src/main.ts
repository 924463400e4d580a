// SPDX-License-Identifier: Apache-2.0
// The dashboard's entry: a hash router over four views, one live stream shared by all of them.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { getSession, Live } from './api';
import { clear, View } from './dom';
import { overviewView } from './views/overview';
import { processesView } from './views/processes';
import { processView } from './views/process';
import { oomView } from './views/oom';

const live = new Live();
const main = document.getElementById('main')!;
const conn = document.getElementById('conn')!;
let current: View | null = null;

function route(): void {
  current?.dispose();
  clear(main);
  const hash = location.hash.replace(/^#\/?/, '') || 'overview';
  const [name, arg] = hash.split('/');
  document
    .querySelectorAll<HTMLElement>('nav a')
    .forEach((a) => a.classList.toggle('active', a.dataset.view === name || (name === 'process' && a.dataset.view === 'processes')));
  if (name === 'processes') current = processesView(live);
  else if (name === 'process' && /^\d+$/.test(arg ?? '')) current = processView(live, Number(arg));
  else if (name === 'oom') current = oomView(live, arg ? Number(arg) : undefined);
  else current = overviewView(live);
  main.appendChild(current.el);
  document.body.dataset.view = name === 'process' ? 'process' : current === null ? '' : name || 'overview';
}

live.on('conn', () => {
  conn.textContent = live.connected ? 'live' : 'reconnecting…';
  conn.classList.toggle('down', !live.connected);
});
// which server instance the page follows (a restart shows as a new one)
live.on('reset', () => (document.body.dataset.instance = live.instance));
// how many samples the page holds (bounded by MAX_SAMPLES: the soak test reads it)
const held = () => {
  document.body.dataset.samples = String(live.samples.length);
  // every slot up to the last seq is either received or a counted gap (the soak checks the sum)
  document.body.dataset.received = String(live.received);
  document.body.dataset.gaps = String(live.gaps);
  document.body.dataset.firstSeq = String(live.firstSeq);
  document.body.dataset.lastSeq = String(live.samples[live.samples.length - 1]?.seq ?? 0);
};
live.on('sample', held);
live.on('reset', held);
window.addEventListener('hashchange', route);
getSession()
  .catch(() => null)
  .finally(() => {
    live.connect();
    route();
  });
