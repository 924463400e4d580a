// SPDX-License-Identifier: Apache-2.0
// OOM kills, newest first, each a post-mortem: what triggered it, the victim, its container and
// memory cgroup, the limit that was hit and the usage then, the victim's RSS by kind, and (when the
// agent kept them) the code paths that faulted the victim's memory in, as a flame graph.
import type { OomRecord } from '../../../src/dashboard/types';
import { getSession, Live } from '../api';
import { clear, h, View } from '../dom';
import { dateTime, kb } from '../format';
import { FlamePanel } from '../flame';

function card(r: OomRecord): HTMLElement {
  const rows: [string, string][] = [
    ['time', dateTime(r.t)],
    ['trigger', `${r.trigger.comm}${r.trigger.pid !== undefined ? ` (PID ${r.trigger.pid})` : ''}`],
    ['victim', r.victim ? `${r.victim.comm} (PID ${r.victim.pid})` : '?'],
    ['constraint', r.constraint ?? '–'],
    ['container', r.container || '–'],
    ['memory cgroup', r.cgroup ?? '–'],
    ['limit', r.limitKb !== undefined ? kb(r.limitKb) : '–'],
    ['usage', r.usageKb !== undefined ? kb(r.usageKb) : '–'],
    ['RSS anon / file / shmem', r.rssKb ? `${kb(r.rssKb.anon)} / ${kb(r.rssKb.file)} / ${kb(r.rssKb.shmem)}` : '–'],
  ];
  const c = h(
    'article',
    { class: 'oom-card', id: `oom-${r.id}`, 'data-oom-id': r.id, 'data-victim-pid': r.victim?.pid },
    h('h2', {}, `OOM kill ${r.id}: `, h('span', { class: 'victim' }, r.victim?.comm ?? '?')),
    h('dl', { class: 'figures' }, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-field': k }, v)])),
  );
  if (r.stacks?.length) {
    const f = new FlamePanel('faults', "faults that brought the victim's memory in");
    c.appendChild(f.el);
    requestAnimationFrame(() => f.set(r.stacks!));
  } else {
    c.appendChild(h('p', { class: 'muted' }, "the victim's fault stacks are kept by memscope agent"));
  }
  return c;
}

export function oomView(live: Live, focus?: number): View {
  const list = h('div', { class: 'oom-list' });
  const source = h('p', { class: 'muted' });
  const el = h('div', { class: 'view oom' }, h('h1', {}, 'OOM kills'), source, list);
  const shown = new Set<number>();
  const render = () => {
    if (!live.ooms.length && !shown.size) {
      clear(list);
      list.appendChild(h('p', { class: 'empty' }, 'no OOM kills seen'));
    }
    for (const r of live.ooms) {
      if (shown.has(r.id)) continue;
      if (!shown.size) clear(list);
      shown.add(r.id);
      list.insertBefore(card(r), list.firstChild); // newest first
    }
    if (focus !== undefined) document.getElementById(`oom-${focus}`)?.scrollIntoView();
  };
  void getSession().then(
    (s) => (source.textContent = `source: ${s.oomSource}`),
    () => undefined,
  );
  const offs = [
    live.on('oom', render),
    live.on('reset', () => {
      shown.clear();
      clear(list);
      render();
    }),
  ];
  render();
  return { el, dispose: () => offs.forEach((f) => f()) };
}
