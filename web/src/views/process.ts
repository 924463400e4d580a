// SPDX-License-Identifier: Apache-2.0
// One process: its figures, its segments (pmap -x), its page-fault flame graph (kept by the agent,
// or traced on demand) and memleak on demand: a POST (with the session's CSRF token) starts it, the
// flame graph of outstanding bytes updates at each report with each stack's growth, and any two
// windows (reports, or fault traces) can be diffed. Downloads: folded, SVG and pprof.
import type { JobKind, JobState, Profile, ProcessRow, Segment, StackValue } from '../../../src/dashboard/types';
import { getJson, getSession, Live, post } from '../api';
import { clear, errorBox, h, on, View } from '../dom';
import { bytes, int, kb, rate, time } from '../format';
import { FlamePanel } from '../flame';

interface Detail {
  exited?: boolean;
  row: ProcessRow;
  segments: Segment[];
  faults: Profile | null;
  jobs: JobState[];
}

/** A window of a profile the diff can pick. */
interface Win {
  /** stable while older windows are dropped (an option's value must keep naming its window) */
  id: number;
  label: string;
  stacks: StackValue[];
}
const MAX_WINDOWS = 20;

function topStacks(p: Profile, kind: JobKind, report: number | undefined): HTMLElement {
  const rows = p.stacks
    .slice(0, 20)
    .map((s) =>
      h(
        'tr',
        { 'data-frame': s.frames[s.frames.length - 1] ?? '' },
        h('td', { class: 'fn' }, s.frames[s.frames.length - 1] ?? '?'),
        h('td', { class: 'num', 'data-value': s.value }, kind === 'faults' ? int(s.value) : bytes(s.value)),
        kind === 'memleak'
          ? h('td', { class: 'num growth', 'data-growth': s.growth ?? '' }, s.growth === undefined ? '–' : `${s.growth >= 0 ? '+' : ''}${bytes(s.growth)}/s`)
          : null,
        h('td', { class: 'stack' }, s.frames.slice(0, -1).reverse().slice(0, 4).join(' ← ')),
      ),
    );
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      // the report's time (the tracer's, which its growth rates are computed with) and number
      { class: 'top-stacks', 'data-kind': kind, 'data-t': p.t, 'data-report': report ?? '' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'function'),
          h('th', { class: 'num' }, kind === 'faults' ? 'faults' : 'outstanding'),
          kind === 'memleak' ? h('th', { class: 'num' }, 'growth') : null,
          h('th', {}, 'called from'),
        ),
      ),
      h('tbody', {}, ...rows),
    ),
  );
}

class ProfileSection {
  readonly el: HTMLElement;
  private readonly flame: FlamePanel;
  private readonly status = h('p', { class: 'job-status' });
  private readonly table = h('div');
  private readonly links = h('span', { class: 'downloads' });
  private readonly a = h('select', { 'aria-label': 'first window' });
  private readonly b = h('select', { 'aria-label': 'second window' });
  private readonly diff = h('input', { type: 'checkbox', class: 'diff-toggle' });
  private windows: Win[] = [];
  private nextWin = 0;
  private readonly diffBar: HTMLElement;
  private latest: Profile | null = null;
  readonly seconds: HTMLInputElement;
  readonly button: HTMLButtonElement;
  readonly stop: HTMLButtonElement;
  job: JobState | null = null;

  constructor(
    readonly kind: JobKind,
    title: string,
    defaultSeconds: number,
    private readonly pprof: boolean,
  ) {
    this.flame = new FlamePanel(kind === 'faults' ? 'faults' : 'bytes', kind === 'faults' ? 'page faults by stack' : 'outstanding bytes by stack');
    this.seconds = h('input', { type: 'number', min: 1, max: 600, value: defaultSeconds, class: 'seconds', 'aria-label': 'seconds' });
    this.button = h('button', { type: 'button', class: `start-${kind}` }, kind === 'faults' ? 'trace page faults' : 'trace allocations');
    this.stop = h('button', { type: 'button', class: 'stop', disabled: true }, 'stop');
    // the diff of two windows appears once there are two
    const diffBar = h('div', { class: 'diff-bar', hidden: true }, h('label', {}, this.diff, ' diff two windows:'), this.a, h('span', {}, '→'), this.b);
    this.diffBar = diffBar;
    this.el = h(
      'section',
      { class: `profile ${kind}`, 'data-kind': kind },
      h('h2', {}, title),
      h('div', { class: 'actions' }, this.button, ' for ', this.seconds, ' s ', this.stop, this.links),
      this.status,
      diffBar,
      this.flame.el,
      this.table,
    );
    const redraw = () => this.draw();
    on(this.diff, 'change', redraw);
    on(this.a, 'change', redraw);
    on(this.b, 'change', redraw);
  }

  /** A profile arrived (a report of the running job, or the agent's kept stacks). */
  show(p: Profile, label: string, job?: JobState): void {
    this.latest = p;
    this.addWindow({ id: this.nextWin++, label, stacks: p.stacks });
    this.draw();
    clear(this.table);
    this.table.appendChild(topStacks(p, this.kind, job?.reports));
    if (job) this.setLinks(job);
  }

  setStatus(j: JobState): void {
    this.job = j;
    const what = j.state === 'running' ? `running (${j.reports} report${j.reports === 1 ? '' : 's'})` : j.state;
    const lost = j.profile?.lost ? `; ${j.profile.lost.toLocaleString('en-US')} events lost host-wide meanwhile (a full kernel map): counts may be short` : '';
    this.status.textContent = `trace ${j.id}: ${what}${j.error ? `: ${j.error}` : ''}${lost}`;
    if (j.profile?.lost) this.status.dataset.lost = String(j.profile.lost);
    this.el.dataset.state = j.state;
    const active = j.state === 'starting' || j.state === 'running';
    this.button.disabled = active;
    this.stop.disabled = !active;
  }

  private setLinks(j: JobState): void {
    clear(this.links);
    const link = (fmt: string, label: string) => h('a', { href: `/api/dash/jobs/${j.id}/download?format=${fmt}`, download: '', class: `dl-${fmt}` }, label);
    this.links.append(link('folded', 'folded'), ' ', link('svg', 'SVG'));
    if (this.pprof) this.links.append(' ', link('pprof', 'pprof'));
  }

  private addWindow(w: Win): void {
    this.windows.push(w);
    if (this.windows.length > MAX_WINDOWS) this.windows.shift();
    const has = (v: string) => v !== '' && this.windows.some((x) => String(x.id) === v);
    const keepA = this.a.value;
    for (const sel of [this.a, this.b]) {
      clear(sel);
      for (const x of this.windows) sel.appendChild(h('option', { value: x.id }, x.label));
    }
    this.a.value = has(keepA) ? keepA : String(this.windows[0].id);
    this.b.value = String(w.id); // the second window follows the latest
    this.diffBar.hidden = this.windows.length < 2;
  }

  private draw(): void {
    if (this.diff.checked && this.windows.length > 1) {
      const a = this.windows.find((x) => String(x.id) === this.a.value) ?? this.windows[0];
      const b = this.windows.find((x) => String(x.id) === this.b.value) ?? this.windows[this.windows.length - 1];
      this.flame.set(b.stacks, a.stacks);
    } else if (this.latest) {
      this.flame.set(this.latest.stacks);
    }
  }
}

export function processView(live: Live, pid: number): View {
  const head = h('div', { class: 'proc-head' });
  const segs = h('div');
  const el = h('div', { class: 'view process', 'data-pid': pid }, head);
  let faults: ProfileSection | null = null;
  let leak: ProfileSection | null = null;
  const seen = new Map<number, number>(); // job id → reports shown

  const onJob = (j: JobState) => {
    if (j.pid !== pid) return;
    const sec = j.kind === 'faults' ? faults : leak;
    if (!sec || (sec.job && sec.job.id > j.id)) return;
    sec.setStatus(j);
    if (j.profile && seen.get(j.id) !== j.reports) {
      seen.set(j.id, j.reports);
      sec.show(j.profile, `trace ${j.id}${j.kind === 'memleak' ? ` report ${j.reports}` : ''} ${time(j.profile.t)}`, j);
    }
  };

  const start = async (sec: ProfileSection) => {
    sec.button.disabled = true;
    try {
      const j = await post<JobState>('/api/dash/jobs', { kind: sec.kind, pid, seconds: Number(sec.seconds.value) });
      onJob(j);
    } catch (e) {
      sec.button.disabled = false;
      sec.el.insertBefore(errorBox(e), sec.el.children[2]);
    }
  };

  const renderHead = (d: Detail) => {
    const r = d.row;
    clear(head);
    head.append(
      h('h1', {}, h('span', { class: 'comm' }, r.comm), ` (PID ${r.pid})`),
      h('p', { class: 'cmdline' }, r.cmdline),
      h(
        'dl',
        { class: 'figures' },
        ...(
          [
            ['RSS', kb(r.rss)],
            ['growth', `${kb(r.growth)}/s`],
            ['faults', `${rate(r.faultsPerSec)}/s`],
            ['swap', kb(r.swap)],
            ...(r.swapins !== undefined ? [['swap-ins', `${rate(r.swapinsPerSec ?? 0)}/s, ${int(r.swapins)} pages in all`]] : []),
            ['container', r.container || '–'],
            ['memory cgroup', r.cgroup],
            ['usage / limit', r.cgLimit ? `${bytes(r.cgUsage)} / ${bytes(r.cgLimit)}` : `${bytes(r.cgUsage)} / no limit`],
            ['OOM kills in cgroup', int(r.cgOomKills ?? 0)],
          ] as [string, string][]
        ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
      ),
    );
  };
  const renderSegments = (s: Segment[]) => {
    clear(segs);
    const rows = s.map((x) =>
      h(
        'tr',
        {},
        h('td', { class: 'mono' }, x.start),
        h('td', { class: 'num' }, int(x.kb)),
        h('td', { class: 'num' }, int(x.rss)),
        h('td', { class: 'num' }, int(x.dirty)),
        h('td', { class: 'num' }, int(x.swap)),
        h('td', { class: 'mono' }, x.mode),
        h('td', { class: 'mapping' }, x.mapping),
      ),
    );
    const total = s.reduce((a, x) => [a[0] + x.kb, a[1] + x.rss, a[2] + x.dirty, a[3] + x.swap], [0, 0, 0, 0]);
    segs.appendChild(
      h(
        'div',
        { class: 'scroll' },
        h(
          'table',
          { class: 'segments' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Address', 'Kbytes', 'RSS', 'Dirty', 'Swap', 'Mode', 'Mapping'].map((t, i) => h('th', { class: i >= 1 && i <= 4 ? 'num' : '' }, t)),
            ),
          ),
          h('tbody', {}, ...rows),
          h('tfoot', {}, h('tr', {}, h('td', {}, 'total kB'), ...total.map((t) => h('td', { class: 'num' }, int(t))), h('td', {}), h('td', {}))),
        ),
      ),
    );
  };

  // the agent's kept fault stacks are cumulative: each refresh that changed them is a window, so a
  // diff of two shows what faulted in between
  let keptTotal = -1;
  const showKept = (d: Detail) => {
    // a trace started from the page owns the section from then on (its window, not the running total)
    if (!faults || !d.faults || faults.job) return;
    const total = d.faults.stacks.reduce((a, s) => a + s.value, 0);
    if (total === keptTotal) return;
    keptTotal = total;
    faults.show(d.faults, `kept by the agent ${time(d.faults.t)}`);
  };
  let timer: ReturnType<typeof setInterval> | null = null;
  const gone = h('p', { class: 'muted exited' }, `process ${pid} has exited`);
  const refresh = () =>
    getJson<Detail>(`/api/dash/process/${pid}`).then(
      (d) => {
        if (d.exited) {
          // what was traced stays on the page, with the host's last kept stacks; the figures stop
          if (timer) clearInterval(timer);
          showKept(d);
          if (!gone.isConnected) head.appendChild(gone);
          el.dataset.exited = 'yes';
          return el.dataset.loaded ? null : d;
        }
        renderHead(d);
        renderSegments(d.segments);
        showKept(d);
        el.dataset.loaded = 'yes';
        return d;
      },
      (e) => {
        head.appendChild(errorBox(e));
        if (timer) clearInterval(timer);
        return null;
      },
    );

  void Promise.all([refresh(), getSession().catch(() => null)]).then(([d, s]) => {
    if (!d) return;
    if (d.exited) head.appendChild(gone); // its kept stacks and earlier traces still show below
    faults = new ProfileSection('faults', 'Page faults', 10, !!s?.pprof);
    leak = new ProfileSection('memleak', 'Outstanding allocations (memleak)', 30, !!s?.pprof);
    on(faults.button, 'click', () => void start(faults!));
    on(leak.button, 'click', () => void start(leak!));
    for (const sec of [faults, leak]) on(sec.stop, 'click', () => sec.job && void post(`/api/dash/jobs/${sec.job.id}/stop`, {}).catch(() => undefined));
    el.append(faults.el, leak.el, h('h2', {}, 'Segments (pmap -x)'), segs);
    el.dataset.loaded = 'yes';
    showKept(d);
    for (const j of d.jobs) onJob(j);
    for (const j of live.jobs.values()) onJob(j);
    timer = setInterval(refresh, 5000);
  });
  const off = live.on('job', () => {
    for (const j of live.jobs.values()) onJob(j);
  });
  return {
    el,
    dispose: () => {
      off();
      if (timer) clearInterval(timer);
    },
  };
}
