// SPDX-License-Identifier: Apache-2.0
// The overview's data: one sample a second from /proc/meminfo and /proc/vmstat (plus the host's
// reclaim/compaction time), kept in a ring of the last hour; OOM kills (the host's post-mortems or
// the kernel log); and the checklist's findings over the last minute, each with the commands that
// dig deeper.
//
// A sample's seq is its slot on the wall clock (slot n covers start + n intervals), not a count of
// ticks: setInterval drifts by each tick's lateness (an hour's soak made 3,515 samples for 3,600
// seconds, none marked missing), and an event loop held by the agent's collections can skip a
// slot outright. Ticks aim at the slots' times, so lateness does not add up; a slot that passed with
// no tick is a gap the next sample names (`gap`) and `missed` counts, and seq jumps past it: every
// slot from 1 to lastSeq is a sample or a gap, so a page can mark each one it lacks.
import { FREE_FIELDS, freeFigures, readMeminfo } from '../procfs/meminfo';
import { readVmstat, Vmstat } from '../procfs/vmstat';
import { KmsgOoms } from './kmsg-watch';
import { DashboardSources, Finding, OomRecord, ProcessRow, Sample } from './types';

export const RING = 3600;

/** The counters a sample reads: only these are picked out of /proc/vmstat (allocstall* sums the
 * per-zone allocstall_* lines), not the whole file parsed every second. */
const VMSTAT_FIELDS = ['pgfault', 'pgmajfault', 'pswpin', 'pswpout', 'allocstall*', 'compact_stall'];

export class Monitor {
  readonly samples: Sample[] = [];
  private seq = 0;
  private prev: { t: number; v: Vmstat; rs?: { reclaim: number; compaction: number } } | null = null;
  private readonly kmsg: KmsgOoms | null;
  private knownOoms = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private t0 = 0;
  private intervalMs = 1000;
  private stopped = false;
  /** slots that passed without a sample (each marked by the next sample's gap) */
  missed = 0;

  constructor(
    private readonly sources: DashboardSources,
    private readonly onSample: (s: Sample) => void,
    private readonly onOom: (r: OomRecord) => void,
  ) {
    this.kmsg = sources.oomRecords ? null : new KmsgOoms();
    if (this.kmsg)
      this.kmsg.poll(); // kills before we started are history, not news
    else for (const r of sources.oomRecords!()) this.knownOoms.add(r.id);
  }

  start(intervalMs = 1000): void {
    this.intervalMs = intervalMs;
    this.t0 = performance.now(); // monotonic: a stepped wall clock neither skips nor repeats slots
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.kmsg?.close();
  }

  /** The slot the (monotonic) clock is in now (0 from start until one interval has passed). */
  private slot(now: number): number {
    return Math.floor((now - this.t0) / this.intervalMs);
  }

  /** Sleeps until the next slot begins (from the clock, so a late tick does not delay the next). */
  private schedule(): void {
    if (this.stopped) return;
    const now = performance.now();
    const next = this.t0 + (this.slot(now) + 1) * this.intervalMs;
    this.timer = setTimeout(() => this.tick(), Math.max(1, Math.ceil(next - now)));
    this.timer.unref();
  }

  get lastSeq(): number {
    return this.seq;
  }

  ooms(): OomRecord[] {
    return this.sources.oomRecords ? this.sources.oomRecords() : this.kmsg!.records();
  }

  get oomSource(): string {
    return this.sources.oomRecords ? 'agent' : this.kmsg?.available ? 'kernel log' : 'none (cannot read /dev/kmsg)';
  }

  since(seq: number): Sample[] {
    const i = this.samples.findIndex((s) => s.seq > seq);
    return i < 0 ? [] : this.samples.slice(i);
  }

  private tick(): void {
    try {
      this.sample();
    } finally {
      this.schedule();
    }
  }

  private sample(): void {
    const now = Date.now();
    const slot = this.slot(performance.now());
    // a timer that fires a hair early is still the slot we had: no sample
    if (this.prev && slot <= this.seq) return;
    const v = readVmstat(VMSTAT_FIELDS);
    const rs = this.sources.reclaimSeconds?.();
    if (this.prev) {
      const dt = (now - this.prev.t) / 1000;
      const gap = slot - this.seq - 1;
      const rate = (k: string) => Math.max(0, ((v[k] ?? 0) - (this.prev!.v[k] ?? 0)) / dt);
      const f = freeFigures(readMeminfo(FREE_FIELDS));
      const s: Sample = {
        seq: (this.seq = slot),
        t: now,
        total: f.total,
        available: f.available,
        free: f.free,
        cache: f.buffCache,
        swapUsed: f.swapUsed,
        swapTotal: f.swapTotal,
        faults: rate('pgfault'),
        majfaults: rate('pgmajfault'),
        swapins: rate('pswpin'),
        swapouts: rate('pswpout'),
        reclaimStalls: rate('allocstall*'),
        compactStalls: rate('compact_stall'),
      };
      // the rates above are averages over the gap too (dt spans it); its own points are missing
      if (gap > 0) {
        s.gap = gap;
        this.missed += gap;
      }
      if (rs && this.prev.rs) {
        s.reclaimSeconds = Math.max(0, (rs.reclaim - this.prev.rs.reclaim) / dt);
        s.compactionSeconds = Math.max(0, (rs.compaction - this.prev.rs.compaction) / dt);
      }
      this.samples.push(s);
      if (this.samples.length > RING) this.samples.splice(0, this.samples.length - RING);
      this.onSample(s);
    } else this.seq = 0; // the first reading: the baseline of the rates, not a sample; slots are
    // counted from 0, so a start held past slot 0 leaves a gap before the first sample, marked as any
    this.prev = { t: now, v, rs };
    this.pollOoms();
  }

  private pollOoms(): void {
    if (this.kmsg) {
      for (const r of this.kmsg.poll()) this.onOom(r);
      return;
    }
    for (const r of this.sources.oomRecords!()) {
      if (this.knownOoms.has(r.id)) continue;
      this.knownOoms.add(r.id);
      if (this.knownOoms.size > 10_000) this.knownOoms = new Set([...this.knownOoms].slice(-1000));
      this.onOom(r);
    }
  }

  /** The checklist over the last minute of samples, and (from the process table) who holds memory,
   *  who grows, and which memory cgroups are near their limit. */
  findings(rows: ProcessRow[] = []): Finding[] {
    const out: Finding[] = [];
    const last = this.samples.slice(-60);
    const s = last[last.length - 1];
    if (!s) return out;
    const avg = (k: keyof Sample) => last.reduce((a, x) => a + ((x[k] as number) ?? 0), 0) / last.length;
    const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
    const recentOoms = this.ooms().filter((r) => r.t > Date.now() - 3600_000);
    if (recentOoms.length) {
      const v = recentOoms[recentOoms.length - 1];
      out.push({
        severity: 'critical',
        step: 'oom',
        title: `${recentOoms.length} OOM kill${recentOoms.length > 1 ? 's' : ''} in the last hour`,
        detail: `latest: ${v.victim?.comm ?? '?'} (PID ${v.victim?.pid ?? '?'})${v.cgroup ? ` in ${v.cgroup}` : ''}, ${v.constraint ?? ''}`.replace(/, $/, ''),
        dig: ['memscope oomlog', 'memscope oomkill'],
      });
    }
    const availPct = s.total ? (100 * s.available) / s.total : 100;
    out.push({
      severity: availPct < 5 ? 'critical' : availPct < 10 ? 'warning' : 'ok',
      step: 'memory',
      title: `available memory ${availPct.toFixed(1)}% of ${n0(s.total / 1024)} MiB`,
      detail: `free ${n0(s.free / 1024)} MiB, cache ${n0(s.cache / 1024)} MiB`,
      dig: ['memscope free', 'memscope ps --sort rss'],
    });
    const swapIO = avg('swapins') + avg('swapouts');
    out.push({
      severity: swapIO > 2560 ? 'critical' : swapIO > 4 ? 'warning' : s.swapTotal ? 'ok' : 'info',
      step: 'swap',
      title: s.swapTotal
        ? `swap ${n0(s.swapUsed / 1024)} of ${n0(s.swapTotal / 1024)} MiB used; ${n0(avg('swapins'))} in / ${n0(avg('swapouts'))} out pages/s`
        : 'no swap configured',
      detail: 'swap-ins stall the process that faults them in',
      dig: ['memscope swapin', 'memscope swap 1'],
    });
    const faults = avg('faults');
    out.push({
      severity: faults > 10_000 ? 'warning' : 'ok',
      step: 'faults',
      title: `page faults ${n0(faults)}/s (major ${n0(avg('majfaults'))}/s)`,
      detail: 'faults are RSS growth; their stacks say which code paths',
      dig: ['memscope faults --svg faults.svg 10', 'memscope ffaults 10'],
    });
    const stalls = avg('reclaimStalls');
    const rsec = s.reclaimSeconds !== undefined ? avg('reclaimSeconds') : undefined;
    out.push({
      severity: stalls > 1 || (rsec ?? 0) > 0.01 ? 'warning' : 'ok',
      step: 'reclaim',
      title: `direct reclaim ${stalls.toFixed(1)} stalls/s${rsec !== undefined ? `, ${(rsec * 1000).toFixed(1)} ms/s` : ''}`,
      detail: 'allocations waiting for reclaim',
      dig: ['memscope vmscan', 'memscope drsnoop'],
    });
    const cstalls = avg('compactStalls');
    const csec = s.compactionSeconds !== undefined ? avg('compactionSeconds') : undefined;
    out.push({
      severity: cstalls > 1 || (csec ?? 0) > 0.01 ? 'warning' : 'ok',
      step: 'compaction',
      title: `compaction ${cstalls.toFixed(1)} stalls/s${csec !== undefined ? `, ${(csec * 1000).toFixed(1)} ms/s` : ''}`,
      detail: 'allocations of high orders waiting for compaction',
      dig: ['memscope compaction'],
    });
    out.push(...processFindings(rows));
    const rank = { critical: 0, warning: 1, info: 2, ok: 3 };
    return out.sort((a, b) => rank[a.severity] - rank[b.severity]);
  }
}

const GROWTH_WARN_KB_S = 1024; // a process growing by 1 MiB/s fills a 4 GiB host in an hour
const CGROUP_NEAR = 0.9;

/** Who holds memory, who grows, and memory cgroups near their limit (reclaim, then OOM kills). */
export function processFindings(rows: ProcessRow[]): Finding[] {
  const out: Finding[] = [];
  const mib = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;
  const top = [...rows].sort((a, b) => b.rss - a.rss)[0];
  if (top) {
    out.push({
      severity: 'info',
      step: 'processes',
      title: `largest process: ${top.comm} (PID ${top.pid}), RSS ${mib(top.rss)}`,
      detail: top.container ? `container ${top.container}` : `memory cgroup ${top.cgroup}`,
      dig: [`memscope pmap -x ${top.pid}`, 'memscope ps --sort rss'],
    });
  }
  const grower = [...rows].sort((a, b) => b.growth - a.growth)[0];
  if (grower && grower.growth > 0) {
    out.push({
      severity: grower.growth >= GROWTH_WARN_KB_S ? 'warning' : 'info',
      step: 'growth',
      title: `fastest growing: ${grower.comm} (PID ${grower.pid}), +${mib(grower.growth)}/s`,
      detail: `RSS ${mib(grower.rss)}`,
      dig: [`memscope memleak -p ${grower.pid}`, `memscope vmgrowth -p ${grower.pid}`, `memscope faults -p ${grower.pid} --svg faults.svg 10`],
    });
  }
  const seen = new Set<string>();
  for (const r of [...rows].sort((a, b) => (b.cgUsage ?? 0) / (b.cgLimit || Infinity) - (a.cgUsage ?? 0) / (a.cgLimit || Infinity))) {
    if (seen.has(r.cgroup) || !r.cgLimit || r.cgUsage === undefined || r.cgUsage < CGROUP_NEAR * r.cgLimit) continue;
    seen.add(r.cgroup);
    if (seen.size > 3) break;
    out.push({
      severity: 'warning',
      step: 'memory',
      title: `memory cgroup ${r.cgroup}${r.container ? ` (${r.container})` : ''} at ${Math.round((100 * r.cgUsage) / r.cgLimit)}% of its limit`,
      detail: `${mib(r.cgUsage / 1024)} of ${mib(r.cgLimit / 1024)}; ${r.cgOomKills ?? 0} OOM kills so far`,
      dig: ['memscope drsnoop', 'memscope oomkill', 'memscope vmscan'],
    });
  }
  return out;
}
