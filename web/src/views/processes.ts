// SPDX-License-Identifier: Apache-2.0
// Containers and processes: one sortable table (RSS, growth, faults/s, swap, swap-ins, the memory
// cgroup's usage against its limit, its OOM kills), refreshed every 2 s while shown; a filter box;
// a row opens the process view.
import type { ProcessRow } from '../../../src/dashboard/types';
import { getJson, Live } from '../api';
import { clear, errorBox, h, on, View } from '../dom';
import { bytes, int, kb, rate } from '../format';

interface Col {
  key: string;
  label: string;
  num: boolean;
  value: (r: ProcessRow) => number | string;
  show: (r: ProcessRow) => string;
}

const pct = (r: ProcessRow) => (r.cgLimit && r.cgUsage !== undefined ? r.cgUsage / r.cgLimit : -1);
const COLS: Col[] = [
  { key: 'pid', label: 'PID', num: true, value: (r) => r.pid, show: (r) => String(r.pid) },
  { key: 'comm', label: 'Command', num: false, value: (r) => r.comm, show: (r) => r.comm },
  { key: 'container', label: 'Container', num: false, value: (r) => r.container, show: (r) => r.container || '–' },
  { key: 'rss', label: 'RSS', num: true, value: (r) => r.rss, show: (r) => kb(r.rss) },
  { key: 'growth', label: 'Growth /s', num: true, value: (r) => r.growth, show: (r) => (r.growth ? `${r.growth > 0 ? '+' : ''}${kb(r.growth)}` : '0') },
  { key: 'faults', label: 'Faults /s', num: true, value: (r) => r.faultsPerSec, show: (r) => rate(r.faultsPerSec) },
  { key: 'swap', label: 'Swap', num: true, value: (r) => r.swap, show: (r) => kb(r.swap) },
  {
    key: 'swapins',
    label: 'Swap-ins /s',
    num: true,
    value: (r) => r.swapinsPerSec ?? -1,
    show: (r) => (r.swapinsPerSec === undefined ? '–' : rate(r.swapinsPerSec)),
  },
  { key: 'cgroup', label: 'Memory cgroup', num: false, value: (r) => r.cgroup, show: (r) => r.cgroup },
  {
    key: 'cg',
    label: 'Usage / limit',
    num: true,
    value: pct,
    show: (r) =>
      r.cgLimit ? `${bytes(r.cgUsage)} / ${bytes(r.cgLimit)} (${Math.round(100 * pct(r))}%)` : r.cgUsage !== undefined ? `${bytes(r.cgUsage)} / no limit` : '–',
  },
  { key: 'ooms', label: 'OOM kills', num: true, value: (r) => r.cgOomKills ?? 0, show: (r) => int(r.cgOomKills ?? 0) },
];
const MAX_ROWS = 500;

export function processesView(_live: Live): View {
  let rows: ProcessRow[] = [];
  let sortKey = 'rss';
  let desc = true;
  const filter = h('input', { type: 'search', placeholder: 'filter: command, PID, container, cgroup', 'aria-label': 'filter processes', class: 'filter' });
  const status = h('p', { class: 'muted' });
  const thead = h('tr');
  const tbody = h('tbody');
  const table = h('table', { class: 'procs', 'data-sort': sortKey }, h('thead', {}, thead), tbody);
  const el = h('div', { class: 'view processes' }, h('h1', {}, 'Containers and processes'), filter, status, h('div', { class: 'scroll' }, table));

  const head = () => {
    clear(thead);
    for (const c of COLS) {
      const th = h(
        'th',
        { class: c.num ? 'num' : '', 'data-key': c.key, 'aria-sort': c.key === sortKey ? (desc ? 'descending' : 'ascending') : 'none' },
        h('button', { type: 'button' }, c.label, c.key === sortKey ? (desc ? ' ▾' : ' ▴') : ''),
      );
      on(th, 'click', () => {
        desc = sortKey === c.key ? !desc : c.num;
        sortKey = c.key;
        table.dataset.sort = sortKey;
        render();
      });
      thead.appendChild(th);
    }
  };
  const render = () => {
    head();
    const col = COLS.find((c) => c.key === sortKey)!;
    const q = filter.value.trim().toLowerCase();
    const shown = rows
      .filter((r) => !q || String(r.pid) === q || [r.comm, r.container, r.cgroup, r.cmdline].some((x) => x.toLowerCase().includes(q)))
      .sort((a, b) => {
        const x = col.value(a);
        const y = col.value(b);
        const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
        return (desc ? -c : c) || a.pid - b.pid;
      });
    status.textContent = `${shown.length} of ${rows.length} processes${shown.length > MAX_ROWS ? `, the first ${MAX_ROWS} shown` : ''}`;
    const frag = document.createDocumentFragment();
    for (const r of shown.slice(0, MAX_ROWS)) {
      const tr = h('tr', { 'data-pid': r.pid, tabindex: 0 });
      for (const c of COLS) {
        const td = h('td', { class: c.num ? 'num' : '', 'data-key': c.key }, c.key === 'comm' ? h('a', { href: `#/process/${r.pid}` }, c.show(r)) : c.show(r));
        if (c.key === 'comm' || c.key === 'cgroup') td.title = c.key === 'comm' ? r.cmdline : r.cgroup;
        if (c.key === 'swapins' && r.swapins !== undefined) {
          td.dataset.total = String(r.swapins);
          td.title = `${int(r.swapins)} pages swapped in since the agent first saw it`;
        }
        tr.appendChild(td);
      }
      on(tr, 'click', (e) => {
        if (!(e.target instanceof HTMLAnchorElement)) location.hash = `#/process/${r.pid}`;
      });
      on(tr, 'keydown', (e) => {
        if (e.key === 'Enter') location.hash = `#/process/${r.pid}`;
      });
      frag.appendChild(tr);
    }
    clear(tbody);
    tbody.appendChild(frag);
  };
  const load = () =>
    getJson<ProcessRow[]>('/api/dash/processes').then(
      (r) => {
        rows = r;
        render();
        el.dataset.loaded = 'yes';
      },
      (e) => {
        clear(status);
        status.appendChild(errorBox(e));
      },
    );
  on(filter, 'input', render);
  void load();
  const timer = setInterval(load, 2000);
  return { el, dispose: () => clearInterval(timer) };
}
