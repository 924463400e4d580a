// SPDX-License-Identifier: Apache-2.0
// triage's rules for what happened during the window (steps 5-9): page faults and their stacks,
// the files behind faults, brk/mmap growth, reclaim time, cache misses. Pure, as rules.ts.
import { humanKb } from '../../render/units';
import { Finding, isPmcHeader, isVmscanInterval, PmcCountsRecord, StackRecord, TriageReport } from '../../core/records';
import { MAJFLT_PER_S_WARN } from './plan';
import { Context, n0, outcome, pctOf, StepOutcome } from './rules';

/** "touch_pages+0x3a [triage_hog]" → "touch_pages" */
export function funcOf(frame: string): string {
  return frame.replace(/\+0x[0-9a-f]+/, '').replace(/ \[[^\]]*\]$/, '');
}

export function namedFrames(ustack: string[]): string[] {
  return ustack.map(funcOf).filter((f) => f && f !== '[unknown]' && !f.startsWith('[unwind'));
}

/** One folded line (flamegraph.pl input) for a fault stack: comm;outermost;...;innermost count. */
export function foldedLine(r: StackRecord): string {
  const frames = [r.comm ?? '?', ...[...r.ustack].reverse().map(funcOf)].map((f) => f.replace(/;/g, ':').replace(/\s+/g, '_'));
  return `${frames.join(';')} ${r.count}`;
}

type FaultStack = TriageReport['tables']['faultStacks'][number];

/** Why there are no fault stacks at all. */
function noStacksWhy(c: Context): string {
  const o = c.o;
  if (!o.faultTargets.length) return o.noFaultTargets ?? 'no process faulted notably';
  const r = o.runs.faults;
  const who = o.faultTargets.map((t) => `${t.comm} (PID ${t.pid})`).join(' and ');
  if (r?.error && /^no process with PID/.test(r.error)) return `${who}, faulting most in the first second, exited before ${o.faultTargets.length > 1 ? 'their' : 'its'} fault stacks could be traced`;
  if (r?.error) return c.unavailable('faults');
  return `${who} made no page fault after the first second`;
}

// 5. page faults: rates from /proc, stacks from memscope faults for the top faulters
export function faultsStep(c: Context): StepOutcome & { faultStacks: FaultStack[]; folded: string[] } {
  const o = c.o;
  const elapsed = o.elapsed;
  const findings: Finding[] = [];
  const recs = (c.usable('faults')?.records ?? []).filter((r): r is StackRecord & { pid: number; comm: string } => r.pid !== undefined && c.notOurs(r.pid) && typeof r.count === 'number');
  const tracedFor = Math.max(1, o.runs.faults?.traced ?? o.window);
  const sysRate = c.d('pgfault') / elapsed;
  const majRate = c.d('pgmajfault') / elapsed;
  // the stack with the most faults per process (preferring stacks that name functions)
  const topStack = new Map<number, StackRecord>();
  const score = (x: StackRecord) => (namedFrames(x.ustack).length ? 1e15 : 0) + x.count;
  for (const r of recs) {
    const prev = topStack.get(r.pid);
    if (!prev || score(r) > score(prev)) topStack.set(r.pid, r);
  }
  const viaBpf = recs.length > 0;
  // rates per process from /proc/PID/stat (minflt + majflt) over the whole window
  const ranked = c.procDelta.filter((p) => p.faults > 0).map((p) => ({ pid: p.pid, comm: p.comm, count: p.faults, rate: p.faults / elapsed, top: topStack.get(p.pid) }));
  // a traced process that exited before the end has no /proc entry left: count its traced faults
  const seen = new Set(ranked.map((p) => p.pid));
  const gone = new Map<number, { comm: string; count: number }>();
  for (const r of recs) if (!seen.has(r.pid)) gone.set(r.pid, { comm: r.comm, count: (gone.get(r.pid)?.count ?? 0) + r.count });
  for (const [pid, t] of gone) ranked.push({ pid, comm: t.comm, count: t.count, rate: t.count / tracedFor, top: topStack.get(pid) });
  ranked.sort((a, b) => b.rate - a.rate);
  const total = ranked.reduce((s, p) => s + p.count, 0);
  const traced = new Set(o.faultTargets.map((t) => t.pid));
  for (const [i, top] of ranked.slice(0, 3).entries()) {
    if (top.rate < c.faultRate) break;
    const fr = top.top ? namedFrames(top.top.ustack) : [];
    const inFn = fr.length ? `, in ${fr.slice(0, 3).join(' ← ')}` : '';
    const why = traced.has(top.pid) ? noStacksWhy(c) : viaBpf || traced.size ? 'it was not among the processes faulting most in the first second' : noStacksWhy(c);
    findings.push({
      step: 'faults',
      severity: 'warning',
      title: `High page-fault rate: ${top.comm} (PID ${top.pid}) ${n0(top.rate)} faults/s (${pctOf(top.count, total)} of all process faults)${inFn}`,
      details: [
        `system-wide ${n0(sysRate)} faults/s, ${n0(majRate)} major faults/s (/proc/vmstat)`,
        top.top?.ustack.length ? `top stack of ${top.comm} (${n0(top.top.count)} faults in ${tracedFor.toFixed(1)} s, memscope faults): ${top.top.ustack.slice(0, 6).join(' ← ')}` : `no fault stacks for it: ${why}`,
        ...(i === 0 ? ranked.slice(1, 4).map((p) => `next: ${p.comm} (PID ${p.pid}) ${n0(p.rate)} faults/s`) : []),
      ],
      dig: c.dig(`memscope faults -p ${top.pid} 10`, `memscope faults --svg faults.svg 10`, `memscope ffaults -p ${top.pid} 5 1`),
      weight: top.rate,
    });
  }
  if (majRate >= MAJFLT_PER_S_WARN) {
    const majTop = [...c.procDelta].sort((a, b) => b.majflt - a.majflt)[0];
    findings.push({
      step: 'faults',
      severity: 'warning',
      title: `Major faults at ${n0(majRate)}/s (pages read from disk or swap)${majTop && majTop.majflt > 0 ? `; most by ${majTop.comm} (PID ${majTop.pid}) ${n0(majTop.majflt / elapsed)}/s` : ''}`,
      details: [],
      dig: c.dig('memscope ffaults 1', 'memscope swapin'),
      weight: majRate,
    });
  }
  const top = ranked[0];
  const summary = `${n0(sysRate)} faults/s system-wide${top ? `; most: ${top.comm} (PID ${top.pid}) ${n0(top.rate)}/s` : ''}${viaBpf ? '' : ` (no stacks: ${noStacksWhy(c)})`}`;
  return {
    ...outcome('faults', findings.length ? 'problem' : 'clean', summary, findings),
    faultStacks: [...recs].sort((a, b) => b.count - a.count).map((r) => ({ pid: r.pid, comm: r.comm, count: r.count, ustack: r.ustack })),
    folded: recs.map(foldedLine),
  };
}

// 6. files backing page faults
export function filesStep(c: Context): StepOutcome & { files: { file: string; count: number }[] } {
  const r = c.usable('ffaults');
  if (!r) return { ...outcome('files', 'not available', c.unavailable('ffaults')), files: [] };
  const byFile = new Map<string, number>();
  for (const x of r.records) if (x.file !== undefined) byFile.set(x.file, (byFile.get(x.file) ?? 0) + (x.count ?? 0));
  const files = [...byFile.entries()].map(([file, count]) => ({ file, count })).sort((a, b) => b.count - a.count);
  const total = files.reduce((s, f) => s + f.count, 0);
  return { ...outcome('files', 'clean', files.length ? files.slice(0, 3).map((f) => `${f.file} ${pctOf(f.count, total)}`).join(', ') : 'no page faults traced'), files };
}

type Growth = TriageReport['tables']['growth'][number];

// 7. brk and mmap growth (vmgrowth; brkstack's brk() calls where vmgrowth is missing)
export function growthStep(c: Context): StepOutcome & { growth: Growth[] } {
  const tool = c.o.growthTool;
  const growth: Growth[] = [];
  if (tool === 'vmgrowth') {
    const r = c.usable('vmgrowth');
    if (!r) return { ...outcome('growth', 'not available', c.unavailable('vmgrowth')), growth };
    // one record per process and interval: add the intervals up
    const by = new Map<number, Growth>();
    for (const x of r.records) {
      if (!c.notOurs(x.pid) || typeof x.net_bytes !== 'number') continue;
      const g = by.get(x.pid) ?? { pid: x.pid, comm: x.comm, netBytes: 0, brkBytes: 0, mmapBytes: 0 };
      g.netBytes += x.net_bytes;
      g.brkBytes! += x.brk_bytes;
      g.mmapBytes! += x.mmap_bytes;
      by.set(x.pid, g);
    }
    growth.push(...by.values());
  } else {
    const r = c.usable('brkstack');
    if (!r) return { ...outcome('growth', 'not available', c.unavailable('brkstack')), growth };
    const by = new Map<number, Growth>();
    for (const x of r.records) if (x.pid !== undefined && c.notOurs(x.pid)) by.set(x.pid, { pid: x.pid, comm: x.comm ?? '?', netBytes: (by.get(x.pid)?.netBytes ?? 0) + x.count });
    growth.push(...by.values());
  }
  growth.sort((a, b) => b.netBytes - a.netBytes);
  const g = growth[0];
  const summary = !g ? 'no growth traced' : tool === 'vmgrowth' ? `largest net virtual growth: ${g.comm} (PID ${g.pid}) ${humanKb(g.netBytes / 1024)}` : `most brk() calls: ${g.comm} (PID ${g.pid}) ${g.netBytes}`;
  return { ...outcome('growth', 'clean', summary), growth };
}

// 8. reclaim time: vmscan's totals over every interval, drsnoop's stalls by process
export function reclaimStep(c: Context): StepOutcome & { reclaim: Record<string, number> } {
  const findings: Finding[] = [];
  const reclaim: Record<string, number> = {
    pgscan: c.d('pgscan_anon') + c.d('pgscan_file'),
    pgsteal: c.d('pgsteal_anon') + c.d('pgsteal_file'),
    allocstall: Object.keys(c.o.vm1)
      .filter((k) => k.startsWith('allocstall'))
      .reduce((s, k) => s + c.d(k), 0),
  };
  const vsRun = c.usable('vmscan');
  const rows = (vsRun?.records ?? []).filter(isVmscanInterval);
  if (vsRun && rows.length) {
    const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((s, r) => s + f(r), 0);
    Object.assign(reclaim, { directMs: sum((r) => r.d_reclaim_ms), memcgMs: sum((r) => r.m_reclaim_ms), slabMs: sum((r) => r.s_slab_ms), kswapdWakeups: sum((r) => r.kswapd), writepage: sum((r) => r.writepage) });
  }
  const dr = c.usable('drsnoop');
  const byProc = new Map<string, { comm: string; pid: number; ms: number; n: number; kind: string }>();
  for (const x of dr?.records ?? []) {
    if (!c.notOurs(x.pid)) continue;
    const k = `${x.pid}/${x.kind}`;
    const row = byProc.get(k) ?? { comm: x.comm, pid: x.pid, ms: 0, n: 0, kind: x.kind };
    row.ms += x.lat_ms ?? 0;
    row.n++;
    byProc.set(k, row);
  }
  const stalled = [...byProc.values()].sort((a, b) => b.ms - a.ms);
  const directMs = reclaim.directMs ?? stalled.filter((s) => s.kind === 'direct').reduce((s, x) => s + x.ms, 0);
  const memcgMs = reclaim.memcgMs ?? stalled.filter((s) => s.kind === 'memcg').reduce((s, x) => s + x.ms, 0);
  const window = Math.max(vsRun?.traced ?? 0, dr?.traced ?? 0) || c.o.window;
  for (const [kind, ms, what] of [
    ['direct', directMs, 'Direct reclaim (the system is short of free memory)'],
    ['memcg', memcgMs, 'Memory cgroup limit reclaim'],
  ] as [string, number, string][]) {
    const who = stalled.filter((s) => s.kind === kind);
    if (ms <= 0 && !who.length) continue;
    findings.push({
      step: 'reclaim',
      severity: 'warning',
      title: `${what} stalled processes for ${ms.toFixed(1)} ms in ${window.toFixed(1)} s${who[0] ? `; most: ${who[0].comm} (PID ${who[0].pid}) ${who[0].ms.toFixed(1)} ms in ${n0(who[0].n)} reclaims` : ''}`,
      details: [
        ...who.slice(1, 4).map((s) => `also ${s.comm} (PID ${s.pid}) ${s.ms.toFixed(1)} ms`),
        `pages scanned ${n0(reclaim.pgscan)}, stolen ${n0(reclaim.pgsteal)}${reclaim.pgscan ? ` (%vmeff ${((100 * reclaim.pgsteal) / reclaim.pgscan).toFixed(1)})` : ''}`,
      ],
      dig: c.dig('memscope drsnoop', 'memscope vmscan 1', 'memscope paging 1'),
      weight: ms,
    });
  }
  if (!vsRun && !dr && reclaim.allocstall > 0) {
    findings.push({ step: 'reclaim', severity: 'warning', title: `Direct reclaim stalls: ${n0(reclaim.allocstall)} (allocstall, /proc/vmstat)`, details: [], dig: ['memscope paging 1'] });
  }
  const sum = vsRun || dr ? `direct ${directMs.toFixed(1)} ms, memcg ${memcgMs.toFixed(1)} ms, shrink_slab ${(reclaim.slabMs ?? 0).toFixed(1)} ms` : `${c.unavailable('vmscan')}; pgscan ${n0(reclaim.pgscan)}`;
  return { ...outcome('reclaim', findings.length ? 'problem' : 'clean', sum, findings), reclaim };
}

// 9. hardware cache misses (PMCs); without a PMU, the software fault counts pmc falls back to
export function pmcStep(c: Context): StepOutcome {
  const r = c.usable('pmc');
  const head = r?.records.find(isPmcHeader);
  const total = r?.records.filter((x): x is PmcCountsRecord => !isPmcHeader(x)).pop();
  if (!r || !head) return outcome('pmc', 'not available', c.unavailable('pmc'));
  const count = (name: string) => Number(total?.[name] ?? 0);
  if (!head.pmu) return outcome('pmc', 'not available', `no hardware PMU on this machine; software page-faults ${total && total.seconds ? n0(count('page-faults') / total.seconds) : '?'}/s`);
  return outcome('pmc', 'info', `LLC loads ${n0(count('LLC-loads'))}, misses ${n0(count('LLC-load-misses'))} (${total?.['miss%'] ?? 0}%)`);
}
