// SPDX-License-Identifier: Apache-2.0
// triage's rules: pure functions from what was observed (collect.ts) to findings, step results
// and tables. Nothing here reads the system or the clock, so every rule is unit-tested with
// made-up observations (test/triage-rules.test.ts, no root, no BPF).
import { freeFigures } from '../../procfs/meminfo';
import { humanKb } from '../../render/units';
import type { Finding, OomEvent, Severity, StepResult } from '../../core/records';
import type { Observations, RecordsOf, ToolName, ToolRun } from './collect';
import { AVAIL_CRIT, AVAIL_WARN, FAULTS_PER_S_WARN, StepId, STEP_NAME, SWAP_ACTIVE_PAGES, SWAP_CRIT_KB_S } from './plan';

export const RANK: Record<Severity, number> = { critical: 3, warning: 2, info: 1, ok: 0 };

export const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
export const rateKb = (kbPerS: number) => `${humanKb(kbPerS)}/s`;
export const pctOf = (a: number, b: number) => (b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '0%');

export function ago(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
}

/** A process's change over the window (/proc/PID/stat and status before and after). */
export interface ProcDelta {
  pid: number;
  comm: string;
  rssKb: number;
  swapKb: number;
  faults: number;
  majflt: number;
  rssGrowthKb: number;
  swapGrowthKb: number;
}

/** What every rule needs, derived once from the observations. */
export interface Context {
  o: Observations;
  /** OOM kills within this many seconds are problems */
  since: number;
  /** faults per second of one process that count as a high rate */
  faultRate: number;
  memTotal: number;
  /** growth of a /proc/vmstat counter over the window */
  d(key: string): number;
  notOurs(pid: number): boolean;
  procDelta: ProcDelta[];
  /** a tool's run when it ran and succeeded */
  usable<K extends ToolName>(tool: K): ToolRun<RecordsOf[K]> | undefined;
  /** why a tool gave nothing */
  unavailable(tool: ToolName): string;
  /** the commands that exist, of those given ("memscope TOOL ...") */
  dig(...commands: string[]): string[];
}

/** One step's verdict, its findings, and any table it fills. */
export interface StepOutcome {
  step: StepResult;
  findings: Finding[];
}

export function outcome(id: StepId, status: StepResult['status'], summary: string, findings: Finding[] = []): StepOutcome {
  return { step: { id, name: STEP_NAME.get(id)!, status, summary }, findings };
}

export function context(o: Observations, since: number, faultRate = FAULTS_PER_S_WARN): Context {
  const notOurs = (pid: number) => !o.ownPids.has(pid);
  return {
    o,
    since,
    faultRate,
    memTotal: o.meminfo.MemTotal || 1,
    d: (k) => (o.vm1[k] ?? 0) - (o.vm0[k] ?? 0),
    notOurs,
    procDelta: [...o.procs1.values()]
      .filter((p) => notOurs(p.pid))
      .map((p) => {
        const b = o.procs0.get(p.pid);
        return {
          pid: p.pid,
          comm: p.comm,
          rssKb: p.rssKb,
          swapKb: p.swapKb,
          faults: p.faults - (b?.faults ?? p.faults),
          majflt: p.majflt - (b?.majflt ?? p.majflt),
          rssGrowthKb: p.rssKb - (b?.rssKb ?? p.rssKb),
          swapGrowthKb: p.swapKb - (b?.swapKb ?? p.swapKb),
        };
      }),
    usable(tool) {
      const r = o.runs[tool];
      return r && r.available && !r.error ? r : undefined;
    },
    unavailable(tool) {
      const r = o.runs[tool];
      if (!r || !r.available) return `memscope ${tool} is not available`;
      return r.error ? `memscope ${tool} failed: ${r.error}` : `memscope ${tool} traced nothing`;
    },
    dig: (...commands) => commands.filter((c) => o.installed(c.split(' ')[1])),
  };
}

/** oomkill's constraint ("memcg") in the kernel log's words ("CONSTRAINT_MEMCG"). */
const KERNEL_CONSTRAINT: Record<string, string> = { memcg: 'CONSTRAINT_MEMCG', global: 'CONSTRAINT_NONE', cpuset: 'CONSTRAINT_CPUSET', mempolicy: 'CONSTRAINT_MEMORY_POLICY' };

function whereOom(e: OomEvent): string {
  switch (e.constraint) {
    case 'CONSTRAINT_MEMCG':
      return `memory cgroup ${e.cgroup ?? '?'} hit its limit`;
    case 'CONSTRAINT_CPUSET':
      return 'its cpuset ran out of memory';
    case 'CONSTRAINT_MEMORY_POLICY':
      return 'its memory policy ran out of memory';
    default:
      return 'the system ran out of memory';
  }
}

// 1. OOM kills: the kernel log, and kills oomkill traced that the (rate-limited) log missed
export function oomStep(c: Context): StepOutcome {
  const findings: Finding[] = [];
  const log = 'events' in c.o.oomLog ? c.o.oomLog.events : [];
  const traced = c.usable('oomkill')?.records ?? [];
  const recent = log.filter((e) => (e.ageSeconds ?? Infinity) <= c.since);
  const logged = new Set(recent.map((e) => e.victim?.pid));
  for (const k of traced) {
    if (logged.has(k.victim.pid)) continue;
    recent.push({
      ageSeconds: 0,
      invoker: { comm: k.trigger.comm, pid: k.trigger.pid },
      constraint: KERNEL_CONSTRAINT[k.constraint] ?? k.constraint,
      cgroup: k.oom_memcg ?? undefined,
      victim: { pid: k.victim.pid, comm: k.victim.comm, anonRssKb: k.anon_rss_kb, fileRssKb: k.file_rss_kb, totalVmKb: k.pages * (k.page_kb ?? 4) },
    });
  }
  recent.sort((a, b) => (a.ageSeconds ?? 0) - (b.ageSeconds ?? 0));
  const kb = (v?: number) => (v !== undefined ? humanKb(v) : '?');
  for (const e of recent.slice(0, 5)) {
    const v = e.victim;
    findings.push({
      step: 'oom',
      severity: 'critical',
      title: `OOM kill ${ago(e.ageSeconds ?? 0)}: ${v ? `${v.comm} (PID ${v.pid})` : 'a process'} was killed; ${whereOom(e)}`,
      details: [
        v ? `victim ${v.comm} (PID ${v.pid}): anon-rss ${kb(v.anonRssKb)}, file-rss ${kb(v.fileRssKb)}, total-vm ${kb(v.totalVmKb)}` : 'no victim line in the log',
        `invoked by ${e.invoker.comm}${e.invoker.pid !== undefined ? ` (PID ${e.invoker.pid})` : ''}${e.invoker.gfpMask ? `, gfp_mask=${e.invoker.gfpMask}, order=${e.invoker.order}` : ''}`,
        ...(e.memcg ? [`cgroup usage ${humanKb(e.memcg.usageKb)} of limit ${humanKb(e.memcg.limitKb)}, limit hit ${n0(e.memcg.failcnt)} times`] : []),
      ],
      dig: ['memscope oomlog', 'memscope oomkill', ...(e.cgroup && e.cgroup !== '/' ? ['memscope ps -s rss'] : [])],
      weight: 1e9 - (e.ageSeconds ?? 0),
    });
  }
  const span = ago(c.since).replace(' ago', '');
  if (recent.length > 5) findings.push({ step: 'oom', severity: 'critical', title: `${recent.length - 5} more OOM kills in the last ${span}`, details: [], dig: ['memscope oomlog'], weight: 0 });
  const older = log.filter((e) => (e.ageSeconds ?? Infinity) > c.since);
  if (older.length) {
    const last = older[older.length - 1];
    findings.push({
      step: 'oom',
      severity: 'info',
      title: `${older.length} earlier OOM kill${older.length > 1 ? 's' : ''} since boot; the latest ${last.ageSeconds !== undefined ? ago(last.ageSeconds) : ''}: ${last.victim ? `${last.victim.comm} (PID ${last.victim.pid})` : '?'}`,
      details: [],
      dig: ['memscope oomlog'],
    });
  }
  if ('error' in c.o.oomLog && !traced.length) return outcome('oom', 'not available', c.o.oomLog.error, findings);
  if (recent.length) return outcome('oom', 'problem', `${recent.length} OOM kill${recent.length > 1 ? 's' : ''} in the last ${span}`, findings);
  return outcome('oom', older.length ? 'info' : 'clean', older.length ? `no OOM kill in the last ${span}; ${older.length} earlier` : 'no OOM kills in the kernel log', findings);
}

// 2. swap: active swapping from /proc/vmstat, named processes from swapin and /proc
export function swapStep(c: Context, pageKb = 4): StepOutcome {
  const elapsed = c.o.elapsed;
  const inPages = c.d('pswpin');
  const outPages = c.d('pswpout');
  const inKbS = (inPages * pageKb) / elapsed;
  const outKbS = (outPages * pageKb) / elapsed;
  const byPid = new Map<number, { comm: string; pid: number; pages: number }>();
  for (const r of c.usable('swapin')?.records ?? []) {
    if (!c.notOurs(r.pid)) continue;
    const row = byPid.get(r.pid) ?? { comm: r.comm, pid: r.pid, pages: 0 };
    row.pages += r.pages;
    byPid.set(r.pid, row);
  }
  const swappersIn = [...byPid.values()].sort((a, b) => b.pages - a.pages);
  const swappersOut = c.procDelta.filter((p) => p.swapGrowthKb > 0).sort((a, b) => b.swapGrowthKb - a.swapGrowthKb);
  const holders = c.procDelta.filter((p) => p.swapKb > 0).sort((a, b) => b.swapKb - a.swapKb);
  const swaps = c.o.swaps;
  const totalKb = swaps.reduce((s, x) => s + x.sizeKb, 0);
  const usedKb = swaps.reduce((s, x) => s + x.usedKb, 0);
  if (inPages + outPages >= SWAP_ACTIVE_PAGES) {
    const who = swappersIn[0]
      ? `${swappersIn[0].comm} (PID ${swappersIn[0].pid}) swapped in ${n0(swappersIn[0].pages)} pages`
      : swappersOut[0]
        ? `${swappersOut[0].comm} (PID ${swappersOut[0].pid}) had ${humanKb(swappersOut[0].swapGrowthKb)} more swapped out`
        : holders[0]
          ? `${holders[0].comm} (PID ${holders[0].pid}) has ${humanKb(holders[0].swapKb)} swapped out`
          : 'no process could be named';
    const finding: Finding = {
      step: 'swap',
      severity: inKbS + outKbS >= SWAP_CRIT_KB_S ? 'critical' : 'warning',
      title: `Active swapping: ${rateKb(inKbS)} in, ${rateKb(outKbS)} out; ${who}`,
      details: [
        `pswpin ${n0(inPages)} pages, pswpout ${n0(outPages)} pages in ${elapsed.toFixed(1)} s (/proc/vmstat)`,
        ...(swappersIn.length ? [`swapped in (memscope swapin): ${swappersIn.slice(0, 5).map((s) => `${s.comm} (PID ${s.pid}) ${n0(s.pages)} pages`).join(', ')}`] : []),
        ...(swappersOut.length ? [`swapped out more: ${swappersOut.slice(0, 5).map((s) => `${s.comm} (PID ${s.pid}) +${humanKb(s.swapGrowthKb)}`).join(', ')}`] : []),
        `swap used ${humanKb(usedKb)} of ${humanKb(totalKb)}`,
      ],
      dig: c.dig('memscope vmstat 1', 'memscope swapin', ...(swappersIn[0] ? [`memscope faults -p ${swappersIn[0].pid} 10`] : []), 'memscope swapthrash'),
      weight: inKbS + outKbS,
    };
    return outcome('swap', 'problem', `${rateKb(inKbS)} in, ${rateKb(outKbS)} out`, [finding]);
  }
  if (swaps.length === 0) return outcome('swap', 'clean', 'no swap configured');
  if (usedKb > 0) {
    const finding: Finding = {
      step: 'swap',
      severity: 'info',
      title: `Swap in use but not active: ${humanKb(usedKb)} of ${humanKb(totalKb)}${holders[0] ? `; most by ${holders[0].comm} (PID ${holders[0].pid}) ${humanKb(holders[0].swapKb)}` : ''}`,
      details: [],
      dig: ['memscope swap', 'memscope ps -s swap -n 10'],
    };
    return outcome('swap', 'info', `${humanKb(usedKb)} used, no swapping during the window`, [finding]);
  }
  return outcome('swap', 'clean', `${swaps.length} device${swaps.length > 1 ? 's' : ''}, ${humanKb(totalKb)}, none used`);
}

function commsOf(pids: number[], c: Context): string {
  const names = pids.slice(0, 3).map((p) => {
    const s = c.o.procs1.get(p);
    return s ? `${s.comm} (PID ${p})` : `PID ${p}`;
  });
  return names.join(', ') + (pids.length > 3 ? ` and ${pids.length - 3} more` : '');
}

// 3. free vs available memory, and memory cgroups at or near their limit
export function memoryStep(c: Context): StepOutcome {
  const m = c.o.meminfo;
  const free = freeFigures(m);
  const findings: Finding[] = [];
  const avail = free.available / c.memTotal;
  const base = `${humanKb(free.available)} available of ${humanKb(free.total)} (${(avail * 100).toFixed(1)}%), free ${humanKb(free.free)}, buff/cache ${humanKb(free.buffCache)}`;
  if (avail < AVAIL_WARN) {
    const top = [...c.procDelta].sort((a, b) => b.rssKb - a.rssKb)[0];
    findings.push({
      step: 'memory',
      severity: avail < AVAIL_CRIT ? 'critical' : 'warning',
      title: `Low available memory: ${base}`,
      details: [`largest process: ${top ? `${top.comm} (PID ${top.pid}) RSS ${humanKb(top.rssKb)}` : '?'}`, `anon ${humanKb(m.AnonPages ?? 0)}, shmem ${humanKb(m.Shmem ?? 0)}, slab ${humanKb(m.Slab ?? 0)}`],
      dig: ['memscope free -w -h', 'memscope ps -n 10', 'memscope vmscan'],
      weight: 1 - avail,
    });
  }
  for (const [p, c1] of c.o.cg1) {
    const c0 = c.o.cg0.get(p);
    const hits = c1.hits - (c0?.hits ?? c1.hits);
    const full = c1.usageKb / c1.limitKb;
    if (hits <= 0 && full < 0.9) continue;
    findings.push({
      step: 'memory',
      severity: 'warning',
      title: `Memory cgroup ${p} ${hits > 0 ? 'is hitting its limit' : 'is near its limit'}: ${humanKb(c1.usageKb)} of ${humanKb(c1.limitKb)}${hits > 0 ? `, limit hit ${n0(hits)} times in ${c.o.elapsed.toFixed(1)} s` : ''}`,
      details: [c1.pids.length ? `processes: ${commsOf(c1.pids, c)}` : 'no processes left in it'],
      dig: c.dig('memscope drsnoop', 'memscope vmscan', ...(c1.pids[0] ? [`memscope pmap -x ${c1.pids[0]}`] : [])),
      weight: hits + full,
    });
  }
  return outcome('memory', findings.length ? 'problem' : 'clean', base, findings);
}

// 4. the largest processes, and one growing fast
export function processesStep(c: Context): StepOutcome {
  const findings: Finding[] = [];
  const largest = [...c.procDelta].sort((a, b) => b.rssKb - a.rssKb);
  const top = largest[0];
  const grower = [...c.procDelta].sort((a, b) => b.rssGrowthKb - a.rssGrowthKb)[0];
  if (top && top.rssKb > c.memTotal * 0.5) {
    findings.push({
      step: 'processes',
      severity: 'warning',
      title: `${top.comm} (PID ${top.pid}) holds ${pctOf(top.rssKb, c.memTotal)} of memory: RSS ${humanKb(top.rssKb)}`,
      details: largest.slice(1, 4).map((p) => `next: ${p.comm} (PID ${p.pid}) ${humanKb(p.rssKb)}`),
      dig: c.dig(`memscope pmap -x ${top.pid}`, `memscope faults -p ${top.pid} 10`),
      weight: top.rssKb,
    });
  }
  if (grower && grower.rssGrowthKb > c.memTotal * 0.05) {
    findings.push({
      step: 'processes',
      severity: 'warning',
      title: `${grower.comm} (PID ${grower.pid}) grew by ${humanKb(grower.rssGrowthKb)} RSS in ${c.o.elapsed.toFixed(1)} s (now ${humanKb(grower.rssKb)})`,
      details: [],
      dig: c.dig(`memscope faults -p ${grower.pid} 10`, `memscope vmgrowth -p ${grower.pid} -s 5`),
      weight: grower.rssGrowthKb,
    });
  }
  return outcome('processes', findings.length ? 'problem' : 'clean', top ? `largest: ${top.comm} (PID ${top.pid}) RSS ${humanKb(top.rssKb)}, ${pctOf(top.rssKb, c.memTotal)} of memory` : 'no processes', findings);
}
