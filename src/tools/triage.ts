// triage: the chapter's checklist (7.1.3) as one command. Reads /proc and the kernel log, runs
// the BPF tools for a short window as subprocesses (`memscope TOOL --json ...`, concurrently), and
// ranks what it finds, each finding with its numbers and the command to dig deeper.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { addCommonOptions, CommonOptions, parsePositive } from './options';
import { UsageError } from '../core/errors';
import { requireRoot } from '../engine/session';
import { readKmsg } from '../procfs/kmsg';
import { freeFigures, readMeminfo } from '../procfs/meminfo';
import { listPids, parsePidStat, parseStatus } from '../procfs/pid';
import { readProc } from '../procfs/common';
import { readSwaps, SwapDevice } from '../procfs/swaps';
import { readVmstat, uptimeSeconds } from '../procfs/vmstat';
import { parseFolded, renderFlameGraph } from '../render/flamegraph';
import { escapeHtml, htmlPage, htmlTable, inlineSvg } from '../render/html';
import { printJson } from '../render/json';
import { formatTable } from '../render/table';
import { humanKb } from '../render/units';
import { OomEvent, parseOomEvents } from '../procfs/oom-report';
import { formatOomEvent } from '../render/oom-report';
import { examples, Tool } from './tool';

export type Severity = 'critical' | 'warning' | 'info' | 'ok';
const RANK: Record<Severity, number> = { critical: 3, warning: 2, info: 1, ok: 0 };

export interface Finding {
  step: string;
  severity: Severity;
  title: string;
  details: string[];
  /** memscope commands to dig deeper */
  dig: string[];
  /** orders findings of equal severity (bigger first) */
  weight?: number;
}

export interface StepResult {
  id: string;
  name: string;
  status: 'problem' | 'clean' | 'info' | 'not available';
  summary: string;
}

const STEPS: [string, string][] = [
  ['oom', 'OOM kills in the kernel log'],
  ['swap', 'swap configured, used and active'],
  ['memory', 'free vs available memory, cache and memory cgroups'],
  ['processes', 'largest processes by RSS'],
  ['faults', 'page-fault rate and the stacks behind faults'],
  ['files', 'files backing page faults'],
  ['growth', 'brk() and mmap() growth'],
  ['reclaim', 'reclaim time'],
  ['pmc', 'hardware cache misses (PMCs)'],
];

// ---------- thresholds (per second rates are over the traced window) ----------
const FAULTS_PER_S_WARN = 10_000; // one process faulting in > ~40 MB/s of new pages
const MAJFLT_PER_S_WARN = 100;
const SWAP_ACTIVE_PAGES = 256; // 1 MB swapped in or out during the window
const SWAP_CRIT_KB_S = 10 * 1024;
const AVAIL_WARN = 0.1;
const AVAIL_CRIT = 0.05;

// ---------- subprocess tools ----------

interface ToolRun {
  tool: string;
  args: string[];
  available: boolean;
  records: any[];
  code: number | null;
  /** why it gave nothing: missing tool, its one-line error */
  error?: string;
  pid?: number;
  seconds?: number;
}

function toolExists(name: string): boolean {
  return fs.existsSync(path.join(__dirname, `${name}.js`));
}

let verbose = false;

function runTool(tool: string, args: string[], hardStopAt: number, ownPids: Set<number>): Promise<ToolRun> {
  if (verbose && toolExists(tool)) process.stderr.write(`memscope triage: running memscope ${tool} --json ${args.join(' ')}\n`);
  if (!toolExists(tool)) return Promise.resolve({ tool, args, available: false, records: [], code: null, error: `memscope ${tool} is not installed` });
  const began = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'cli.js'), tool, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid) ownPids.add(child.pid);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const soft = setTimeout(() => child.kill('SIGINT'), Math.max(0, hardStopAt - Date.now()));
    const hard = setTimeout(() => child.kill('SIGKILL'), Math.max(0, hardStopAt - Date.now()) + 5000);
    child.on('close', (code) => {
      clearTimeout(soft);
      clearTimeout(hard);
      const records: any[] = [];
      for (const l of out.split('\n')) {
        if (!l.startsWith('{')) continue;
        try {
          records.push(JSON.parse(l));
        } catch {
          /* a line cut by a kill */
        }
      }
      const errLine = err
        .split('\n')
        .filter((l) => l.startsWith('memscope:'))
        .filter((l) => !/events were dropped/.test(l))[0];
      const why = code === null ? 'did not finish in time' : `exited with status ${code}`;
      resolve({ tool, args, available: true, records, code, pid: child.pid, seconds: (Date.now() - began) / 1000, error: code === 0 ? undefined : (errLine ?? why).replace(/^memscope: /, '') });
    });
  });
}

// ---------- /proc snapshots ----------

interface ProcSnap {
  pid: number;
  comm: string;
  faults: number;
  majflt: number;
  rssKb: number;
  swapKb: number;
}

function snapshotProcs(): Map<number, ProcSnap> {
  const out = new Map<number, ProcSnap>();
  for (const pid of listPids()) {
    const stText = readProc(`/proc/${pid}/stat`);
    const statusText = readProc(`/proc/${pid}/status`);
    if (!stText || !statusText) continue;
    const st = parsePidStat(stText);
    const status = parseStatus(statusText);
    if (!st || status.values.VmSize === undefined) continue; // kernel threads
    out.set(pid, { pid, comm: status.name, faults: st.minflt + st.majflt, majflt: st.majflt, rssKb: status.values.VmRSS ?? 0, swapKb: status.values.VmSwap ?? 0 });
  }
  return out;
}

interface CgroupSnap {
  path: string;
  usageKb: number;
  limitKb: number;
  /** v1 failcnt or v2 memory.events "max": times the limit was hit */
  hits: number;
  pids: number[];
}

const NO_LIMIT = 2 ** 60;

function snapshotCgroups(): Map<string, CgroupSnap> {
  const out = new Map<string, CgroupSnap>();
  const v1 = '/sys/fs/cgroup/memory';
  const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : fs.existsSync('/sys/fs/cgroup/unified/cgroup.controllers') ? '/sys/fs/cgroup/unified' : null;
  const walk = (root: string, dir: string, depth: number, read: (d: string) => Omit<CgroupSnap, 'path' | 'pids'> | null) => {
    if (depth > 4) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const d = path.join(dir, e.name);
      const s = read(d);
      if (s && s.limitKb < NO_LIMIT / 1024) {
        const pids = (readProc(`${d}/cgroup.procs`) ?? '').split('\n').filter(Boolean).map(Number);
        out.set('/' + path.relative(root, d), { path: '/' + path.relative(root, d), pids, ...s });
      }
      walk(root, d, depth + 1, read);
    }
  };
  if (fs.existsSync(`${v1}/memory.limit_in_bytes`)) {
    walk(v1, v1, 1, (d) => {
      const limit = Number(readProc(`${d}/memory.limit_in_bytes`));
      const usage = Number(readProc(`${d}/memory.usage_in_bytes`));
      const fail = Number(readProc(`${d}/memory.failcnt`));
      return Number.isFinite(limit) && Number.isFinite(usage) ? { usageKb: usage / 1024, limitKb: limit / 1024, hits: fail || 0 } : null;
    });
  } else if (v2) {
    walk(v2, v2, 1, (d) => {
      const max = readProc(`${d}/memory.max`)?.trim();
      if (!max || max === 'max') return null;
      const cur = Number(readProc(`${d}/memory.current`));
      const ev = /^max (\d+)/m.exec(readProc(`${d}/memory.events`) ?? '');
      return { usageKb: cur / 1024, limitKb: Number(max) / 1024, hits: ev ? Number(ev[1]) : 0 };
    });
  }
  return out;
}

// ---------- helpers ----------

const n0 = (n: number) => Math.round(n).toLocaleString('en-US');
const rateKb = (kbPerS: number) => `${humanKb(kbPerS)}/s`;
const pctOf = (a: number, b: number) => (b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '0%');

/** "touch_pages+0x3a [triage_hog]" → "touch_pages" */
function funcOf(frame: string): string {
  return frame.replace(/\+0x[0-9a-f]+/, '').replace(/ \[[^\]]*\]$/, '');
}

function namedFrames(ustack: string[]): string[] {
  return ustack.map(funcOf).filter((f) => f && f !== '[unknown]' && !f.startsWith('[unwind'));
}

function ago(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
}

function commsOf(pids: number[], procs: Map<number, ProcSnap>): string {
  const names = pids.slice(0, 3).map((p) => (procs.get(p) ? `${procs.get(p)!.comm} (PID ${p})` : `PID ${p}`));
  return names.join(', ') + (pids.length > 3 ? ` and ${pids.length - 3} more` : '');
}

// ---------- the report ----------

export interface TriageReport {
  host: string;
  kernel: string;
  cpus: number;
  memTotalKb: number;
  startedAt: string;
  durationSeconds: number;
  windowSeconds: number;
  findings: Finding[];
  steps: StepResult[];
  tools: Record<string, { available: boolean; args: string[]; exit: number | null; seconds?: number; error?: string }>;
  tables: {
    processes: { pid: number; comm: string; rssKb: number; rssGrowthKb: number; swapKb: number; faultsPerS: number }[];
    faultStacks: { pid: number; comm: string; count: number; ustack: string[] }[];
    files: { file: string; count: number }[];
    growth: { pid: number; comm: string; netBytes: number; brkBytes?: number; mmapBytes?: number }[];
    memory: Record<string, number>;
    swaps: SwapDevice[];
    cgroups: CgroupSnap[];
    oomKills: OomEvent[];
    reclaim: Record<string, number>;
  };
  /** the processes whose fault stacks were traced (the top faulters of the first second) */
  faultTargets: { pid: number; comm: string; rate: number }[];
  /** folded page-fault stacks for the flame graph */
  faultsFolded: string[];
}

interface TriageOptions extends CommonOptions {
  duration: number;
  html?: string;
  since: number;
}

function progress(msg: string): void {
  process.stderr.write(`memscope triage: ${msg}\n`);
}

export async function triage(opts: TriageOptions): Promise<TriageReport> {
  const startedAt = new Date();
  const t0 = Date.now();
  const duration = opts.duration;
  // tools need ~2-3 s to start, attach, detach and print: trace for the rest of the duration
  const window = Math.max(1, Math.round((duration - 3) * 10) / 10);
  const ownPids = new Set<number>([process.pid]);
  const meminfo0 = readMeminfo();
  const vm0 = readVmstat();
  const procs0 = snapshotProcs();
  const cg0 = snapshotCgroups();

  const W = String(window);
  const growthTool = toolExists('vmgrowth') ? { tool: 'vmgrowth', args: [W, '1'] } : { tool: 'brkstack', args: [W] };
  const plan: { step: string; tool: string; args: string[] }[] = [
    { step: 'oom', tool: 'oomkill', args: [W] },
    { step: 'swap', tool: 'swapin', args: [W, '1'] },
    { step: 'files', tool: 'ffaults', args: [W, '1'] },
    { step: 'growth', ...growthTool },
    { step: 'reclaim', tool: 'vmscan', args: [W, '1'] },
    { step: 'reclaim', tool: 'drsnoop', args: [W] },
    { step: 'pmc', tool: 'pmc', args: [W, '1'] },
  ];
  // a tool still running well after its window is stopped (SIGINT: it prints what it has), then killed
  const hardStopAt = t0 + (duration + 10) * 1000;
  const available = plan.filter((p) => toolExists(p.tool)).map((p) => p.tool);
  progress(`tracing for ${window} s with ${available.join(', ') || 'no BPF tools'} (checklist of BPF Performance Tools 7.1.3)`);
  const runs = plan.map((p) => runTool(p.tool, p.args, hardStopAt, ownPids));
  // Fault stacks of every process cost seconds to symbolize on a busy machine: find the process
  // faulting most over the first second (from /proc), then trace its fault stacks for the rest.
  const faultTargets: { pid: number; comm: string; rate: number }[] = [];
  if (toolExists('faults')) {
    await new Promise((r) => setTimeout(r, 1000));
    const probe = snapshotProcs();
    const secs = (Date.now() - t0) / 1000;
    const rates: { pid: number; comm: string; rate: number }[] = [];
    for (const p of probe.values()) {
      const before = procs0.get(p.pid);
      if (!before || ownPids.has(p.pid)) continue;
      rates.push({ pid: p.pid, comm: p.comm, rate: (p.faults - before.faults) / secs });
    }
    rates.sort((a, b) => b.rate - a.rate);
    // the top faulter if it faults at all, and a second one when it faults fast too
    if (rates[0] && rates[0].rate >= 50) faultTargets.push(rates[0]);
    if (rates[1] && rates[1].rate >= FAULTS_PER_S_WARN / 10) faultTargets.push(rates[1]);
    for (const t of faultTargets) {
      progress(`tracing the fault stacks of ${t.comm} (PID ${t.pid}), faulting ${n0(t.rate)}/s`);
      runs.push(runTool('faults', ['-p', String(t.pid), String(Math.max(1, window - 1))], hardStopAt, ownPids));
    }
  }
  let left = Math.ceil(window);
  const ticker = process.stderr.isTTY
    ? setInterval(() => {
        left--;
        if (left > 0) process.stderr.write(`memscope triage: ${left} s left\r`);
      }, 1000)
    : undefined;
  const results = await Promise.all(runs);
  if (ticker) clearInterval(ticker);
  const byTool = new Map<string, ToolRun>();
  for (const r of results) {
    const prev = byTool.get(r.tool);
    if (!prev) byTool.set(r.tool, r);
    else {
      prev.records.push(...r.records); // two fault-stack runs, one per process
      if (prev.error && !r.error) Object.assign(prev, { ...r, records: prev.records });
    }
  }
  const elapsed = (Date.now() - t0) / 1000;
  const meminfo1 = readMeminfo();
  const vm1 = readVmstat();
  const procs1 = snapshotProcs();
  const cg1 = snapshotCgroups();

  const findings: Finding[] = [];
  const steps: StepResult[] = [];
  const stepName = new Map(STEPS);
  const step = (id: string, status: StepResult['status'], summary: string) => {
    steps.push({ id, name: stepName.get(id)!, status, summary });
    progress(`${steps.length}/${STEPS.length} ${stepName.get(id)}: ${status === 'clean' ? 'nothing wrong found' : status}${summary ? ` (${summary})` : ''}`);
  };
  const usable = (t: string) => {
    const r = byTool.get(t);
    return r && r.available && !r.error ? r : undefined;
  };
  const unavailable = (t: string) => {
    const r = byTool.get(t);
    return !r || !r.available ? `memscope ${t} is not available` : `memscope ${t} failed: ${r.error}`;
  };
  const d = (k: string) => (vm1[k] ?? 0) - (vm0[k] ?? 0);
  const notOurs = (pid: number) => !ownPids.has(pid);
  const memTotal = meminfo1.MemTotal || 1;

  // per-process deltas over the whole window
  const procDelta = [...procs1.values()]
    .filter((p) => notOurs(p.pid))
    .map((p) => {
      const b = procs0.get(p.pid);
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
    });

  // 1. OOM kills
  let oomEvents: OomEvent[] = [];
  let kmsgError: string | undefined;
  try {
    oomEvents = parseOomEvents(readKmsg());
    const up = uptimeSeconds();
    for (const e of oomEvents) if (e.time !== undefined) e.ageSeconds = Math.max(0, Math.round((up - e.time) * 10) / 10);
  } catch (e) {
    kmsgError = (e as Error).message;
  }
  {
    const traced = usable('oomkill')?.records ?? [];
    const recent = oomEvents.filter((e) => (e.ageSeconds ?? Infinity) <= opts.since);
    // kills the kernel log did not show (it is rate-limited) but oomkill traced
    const logged = new Set(recent.map((e) => e.victim?.pid));
    for (const k of traced) {
      if (logged.has(k.victim?.pid)) continue;
      recent.push({
        ageSeconds: 0,
        invoker: { comm: k.trigger?.comm, pid: k.trigger?.pid },
        constraint: k.constraint,
        cgroup: k.oom_memcg ?? undefined,
        victim: { pid: k.victim?.pid, comm: k.victim?.comm, anonRssKb: k.anon_rss_kb, fileRssKb: k.file_rss_kb, totalVmKb: (k.pages ?? 0) * 4 },
      });
    }
    recent.sort((a, b) => (a.ageSeconds ?? 0) - (b.ageSeconds ?? 0));
    for (const e of recent.slice(0, 5)) {
      const v = e.victim;
      const where = e.constraint === 'CONSTRAINT_MEMCG' ? `memory cgroup ${e.cgroup ?? '?'} hit its limit` : `${e.constraint ?? 'system'} out of memory`;
      findings.push({
        step: 'oom',
        severity: 'critical',
        title: `OOM kill ${ago(e.ageSeconds ?? 0)}: ${v ? `${v.comm} (PID ${v.pid})` : 'a process'} was killed; ${where}`,
        details: [
          v ? `victim ${v.comm} (PID ${v.pid}): anon-rss ${v.anonRssKb !== undefined ? humanKb(v.anonRssKb) : '?'}, file-rss ${v.fileRssKb !== undefined ? humanKb(v.fileRssKb) : '?'}, total-vm ${v.totalVmKb !== undefined ? humanKb(v.totalVmKb) : '?'}` : 'no victim line in the log',
          `invoked by ${e.invoker.comm}${e.invoker.pid !== undefined ? ` (PID ${e.invoker.pid})` : ''}${e.invoker.gfpMask ? `, gfp_mask=${e.invoker.gfpMask}, order=${e.invoker.order}` : ''}`,
          ...(e.memcg ? [`cgroup usage ${humanKb(e.memcg.usageKb)} of limit ${humanKb(e.memcg.limitKb)}, limit hit ${n0(e.memcg.failcnt)} times`] : []),
        ],
        dig: ['memscope oomlog', 'memscope oomkill', ...(e.cgroup && e.cgroup !== '/' ? ['memscope ps -s rss'] : [])],
        weight: 1e9 - (e.ageSeconds ?? 0),
      });
    }
    if (recent.length > 5) findings.push({ step: 'oom', severity: 'critical', title: `${recent.length - 5} more OOM kills in the last ${ago(opts.since).replace(' ago', '')}`, details: [], dig: ['memscope oomlog'], weight: 0 });
    const older = oomEvents.filter((e) => (e.ageSeconds ?? Infinity) > opts.since);
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
    if (kmsgError && !traced.length) step('oom', 'not available', kmsgError);
    else if (recent.length) step('oom', 'problem', `${recent.length} OOM kill${recent.length > 1 ? 's' : ''} in the last ${ago(opts.since).replace(' ago', '')}`);
    else step('oom', older.length ? 'info' : 'clean', older.length ? `no OOM kill in the last ${ago(opts.since).replace(' ago', '')}; ${older.length} earlier` : 'no OOM kills in the kernel log');
  }

  // 2. swap
  const swaps = readSwaps();
  {
    const inPages = d('pswpin');
    const outPages = d('pswpout');
    const inKbS = (inPages * 4) / elapsed;
    const outKbS = (outPages * 4) / elapsed;
    const swapinRecs = (usable('swapin')?.records ?? []).filter((r) => notOurs(r.pid));
    const byPid = new Map<number, { comm: string; pid: number; pages: number }>();
    for (const r of swapinRecs) {
      const row = byPid.get(r.pid) ?? { comm: r.comm, pid: r.pid, pages: 0 };
      row.pages += r.pages;
      byPid.set(r.pid, row);
    }
    const swappersIn = [...byPid.values()].sort((a, b) => b.pages - a.pages);
    const swappersOut = procDelta.filter((p) => p.swapGrowthKb > 0).sort((a, b) => b.swapGrowthKb - a.swapGrowthKb);
    const holders = procDelta.filter((p) => p.swapKb > 0).sort((a, b) => b.swapKb - a.swapKb);
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
      findings.push({
        step: 'swap',
        severity: inKbS + outKbS >= SWAP_CRIT_KB_S ? 'critical' : 'warning',
        title: `Active swapping: ${rateKb(inKbS)} in, ${rateKb(outKbS)} out; ${who}`,
        details: [
          `pswpin ${n0(inPages)} pages, pswpout ${n0(outPages)} pages in ${elapsed.toFixed(1)} s (/proc/vmstat)`,
          ...(swappersIn.length ? [`swapped in (memscope swapin): ${swappersIn.slice(0, 5).map((s) => `${s.comm} (PID ${s.pid}) ${n0(s.pages)} pages`).join(', ')}`] : []),
          ...(swappersOut.length ? [`swapped out more: ${swappersOut.slice(0, 5).map((s) => `${s.comm} (PID ${s.pid}) +${humanKb(s.swapGrowthKb)}`).join(', ')}`] : []),
          `swap used ${humanKb(usedKb)} of ${humanKb(totalKb)}`,
        ],
        dig: ['memscope vmstat 1', 'memscope swapin', ...(swappersIn[0] ? [`memscope faults -p ${swappersIn[0].pid} 10`] : []), 'memscope swapthrash'].filter((c) => toolExists(c.split(' ')[1])),
        weight: inKbS + outKbS,
      });
      step('swap', 'problem', `${rateKb(inKbS)} in, ${rateKb(outKbS)} out`);
    } else if (swaps.length === 0) {
      step('swap', 'clean', 'no swap configured');
    } else if (usedKb > 0) {
      findings.push({
        step: 'swap',
        severity: 'info',
        title: `Swap in use but not active: ${humanKb(usedKb)} of ${humanKb(totalKb)}${holders[0] ? `; most by ${holders[0].comm} (PID ${holders[0].pid}) ${humanKb(holders[0].swapKb)}` : ''}`,
        details: [],
        dig: ['memscope swap', 'memscope ps -s swap -n 10'],
      });
      step('swap', 'info', `${humanKb(usedKb)} used, no swapping during the window`);
    } else {
      step('swap', 'clean', `${swaps.length} device${swaps.length > 1 ? 's' : ''}, ${humanKb(totalKb)}, none used`);
    }
  }

  // 3. free vs available, cgroups
  const free = freeFigures(meminfo1);
  const cgroups: CgroupSnap[] = [];
  {
    const avail = free.available / memTotal;
    const base = `${humanKb(free.available)} available of ${humanKb(free.total)} (${(avail * 100).toFixed(1)}%), free ${humanKb(free.free)}, buff/cache ${humanKb(free.buffCache)}`;
    let problem = false;
    if (avail < AVAIL_WARN) {
      problem = true;
      const top = procDelta.sort((a, b) => b.rssKb - a.rssKb)[0];
      findings.push({
        step: 'memory',
        severity: avail < AVAIL_CRIT ? 'critical' : 'warning',
        title: `Low available memory: ${base}`,
        details: [`largest process: ${top ? `${top.comm} (PID ${top.pid}) RSS ${humanKb(top.rssKb)}` : '?'}`, `anon ${humanKb(meminfo1.AnonPages ?? 0)}, shmem ${humanKb(meminfo1.Shmem ?? 0)}, slab ${humanKb(meminfo1.Slab ?? 0)}`],
        dig: ['memscope free -w -h', 'memscope ps -n 10', 'memscope vmscan'],
        weight: 1 - avail,
      });
    }
    for (const [p, c1] of cg1) {
      const c0 = cg0.get(p);
      const hits = c1.hits - (c0?.hits ?? c1.hits);
      const full = c1.usageKb / c1.limitKb;
      cgroups.push(c1);
      if (hits <= 0 && full < 0.9) continue;
      problem = true;
      findings.push({
        step: 'memory',
        severity: 'warning',
        title: `Memory cgroup ${p} ${hits > 0 ? 'is hitting its limit' : 'is near its limit'}: ${humanKb(c1.usageKb)} of ${humanKb(c1.limitKb)}${hits > 0 ? `, limit hit ${n0(hits)} times in ${elapsed.toFixed(1)} s` : ''}`,
        details: [c1.pids.length ? `processes: ${commsOf(c1.pids, procs1)}` : 'no processes left in it'],
        dig: ['memscope drsnoop', 'memscope vmscan', ...(c1.pids[0] ? [`memscope pmap -x ${c1.pids[0]}`] : [])].filter((c) => toolExists(c.split(' ')[1])),
        weight: hits + full,
      });
    }
    step('memory', problem ? 'problem' : 'clean', base);
  }

  // 4. largest processes
  const largest = [...procDelta].sort((a, b) => b.rssKb - a.rssKb);
  {
    const top = largest[0];
    const grower = [...procDelta].sort((a, b) => b.rssGrowthKb - a.rssGrowthKb)[0];
    let problem = false;
    if (top && top.rssKb > memTotal * 0.5) {
      problem = true;
      findings.push({
        step: 'processes',
        severity: 'warning',
        title: `${top.comm} (PID ${top.pid}) holds ${pctOf(top.rssKb, memTotal)} of memory: RSS ${humanKb(top.rssKb)}`,
        details: largest.slice(1, 4).map((p) => `next: ${p.comm} (PID ${p.pid}) ${humanKb(p.rssKb)}`),
        dig: [`memscope pmap -x ${top.pid}`, `memscope faults -p ${top.pid} 10`].filter((c) => toolExists(c.split(' ')[1])),
        weight: top.rssKb,
      });
    }
    if (grower && grower.rssGrowthKb > memTotal * 0.05) {
      problem = true;
      findings.push({
        step: 'processes',
        severity: 'warning',
        title: `${grower.comm} (PID ${grower.pid}) grew by ${humanKb(grower.rssGrowthKb)} RSS in ${elapsed.toFixed(1)} s (now ${humanKb(grower.rssKb)})`,
        details: [],
        dig: [`memscope faults -p ${grower.pid} 10`, `memscope vmgrowth -p ${grower.pid} -s 5`].filter((c) => toolExists(c.split(' ')[1])),
        weight: grower.rssGrowthKb,
      });
    }
    step('processes', problem ? 'problem' : 'clean', top ? `largest: ${top.comm} (PID ${top.pid}) RSS ${humanKb(top.rssKb)}, ${pctOf(top.rssKb, memTotal)} of memory` : 'no processes');
  }

  // 5. page faults
  const faultRecs = (usable('faults')?.records ?? []).filter((r) => notOurs(r.pid) && typeof r.count === 'number');
  const faultsFolded: string[] = [];
  {
    const sysRate = d('pgfault') / elapsed;
    const majRate = d('pgmajfault') / elapsed;
    // the stack with the most faults per process (preferring stacks that name functions)
    const topStack = new Map<number, any>();
    for (const r of faultRecs) {
      const prev = topStack.get(r.pid);
      const score = (x: any) => (namedFrames(x.ustack ?? []).length ? 1e15 : 0) + x.count;
      if (!prev || score(r) > score(prev)) topStack.set(r.pid, r);
      const frames = [r.comm, ...[...(r.ustack ?? [])].reverse().map(funcOf)].map((f) => f.replace(/;/g, ':').replace(/\s+/g, '_'));
      faultsFolded.push(`${frames.join(';')} ${r.count}`);
    }
    const viaBpf = faultRecs.length > 0;
    // rates per process from /proc/PID/stat (minflt + majflt) over the whole window
    const ranked = procDelta
      .filter((p) => p.faults > 0)
      .map((p) => ({ pid: p.pid, comm: p.comm, count: p.faults, rate: p.faults / elapsed, top: topStack.get(p.pid) }));
    // a traced process that exited before the end has no /proc entry left: count its traced faults
    const seen = new Set(ranked.map((p) => p.pid));
    const traced = new Map<number, { comm: string; count: number }>();
    for (const r of faultRecs) if (!seen.has(r.pid)) traced.set(r.pid, { comm: r.comm, count: (traced.get(r.pid)?.count ?? 0) + r.count });
    for (const [pid, t] of traced) ranked.push({ pid, comm: t.comm, count: t.count, rate: t.count / Math.max(1, window - 1), top: topStack.get(pid) });
    ranked.sort((a, b) => b.rate - a.rate);
    let problem = false;
    const total = ranked.reduce((s, p) => s + p.count, 0);
    for (const [i, top] of ranked.slice(0, 3).entries()) {
      if (top.rate < FAULTS_PER_S_WARN) break;
      problem = true;
      const fr = top.top ? namedFrames(top.top.ustack ?? []) : [];
      const inFn = fr.length ? `, in ${fr.slice(0, 3).join(' ← ')}` : '';
      findings.push({
        step: 'faults',
        severity: 'warning',
        title: `High page-fault rate: ${top.comm} (PID ${top.pid}) ${n0(top.rate)} faults/s (${pctOf(top.count, total)} of all process faults)${inFn}`,
        details: [
          `system-wide ${n0(sysRate)} faults/s, ${n0(majRate)} major faults/s (/proc/vmstat)`,
          ...(top.top?.ustack?.length
            ? [`top stack of ${top.comm} (${n0(top.top.count)} faults in ${Math.max(1, window - 1)} s, memscope faults): ${top.top.ustack.slice(0, 6).join(' ← ')}`]
            : [`no fault stacks for it: ${viaBpf ? 'it was not the process faulting most in the first second' : unavailable('faults')}`]),
          ...(i === 0 ? ranked.slice(1, 4).map((p) => `next: ${p.comm} (PID ${p.pid}) ${n0(p.rate)} faults/s`) : []),
        ],
        dig: [`memscope faults -p ${top.pid} 10`, `memscope faults --svg faults.svg 10`, `memscope ffaults -p ${top.pid} 5 1`].filter((c) => toolExists(c.split(' ')[1])),
        weight: top.rate,
      });
    }
    if (majRate >= MAJFLT_PER_S_WARN) {
      problem = true;
      const majTop = [...procDelta].sort((a, b) => b.majflt - a.majflt)[0];
      findings.push({
        step: 'faults',
        severity: 'warning',
        title: `Major faults at ${n0(majRate)}/s (pages read from disk or swap)${majTop && majTop.majflt > 0 ? `; most by ${majTop.comm} (PID ${majTop.pid}) ${n0(majTop.majflt / elapsed)}/s` : ''}`,
        details: [],
        dig: ['memscope ffaults 1', 'memscope swapin'].filter((c) => toolExists(c.split(' ')[1])),
        weight: majRate,
      });
    }
    const noStacks = !toolExists('faults') ? unavailable('faults') : !faultTargets.length ? 'no process faulted notably' : unavailable('faults');
    const top = ranked[0];
    const summary = `${n0(sysRate)} faults/s system-wide${top ? `; most: ${top.comm} (PID ${top.pid}) ${n0(top.rate)}/s` : ''}${viaBpf ? '' : ` (no stacks: ${noStacks})`}`;
    step('faults', problem ? 'problem' : 'clean', summary);
  }

  // 6. files backing faults
  const files: { file: string; count: number }[] = [];
  {
    const r = usable('ffaults');
    if (!r) step('files', 'not available', unavailable('ffaults'));
    else {
      const byFile = new Map<string, number>();
      for (const x of r.records) if (x.file !== undefined) byFile.set(x.file, (byFile.get(x.file) ?? 0) + (x.count ?? 0));
      files.push(...[...byFile.entries()].map(([file, count]) => ({ file, count })).sort((a, b) => b.count - a.count));
      const total = files.reduce((s, f) => s + f.count, 0);
      step('files', 'clean', files.length ? files.slice(0, 3).map((f) => `${f.file} ${pctOf(f.count, total)}`).join(', ') : 'no page faults traced');
    }
  }

  // 7. brk and mmap growth
  const growth: TriageReport['tables']['growth'] = [];
  {
    const r = usable(growthTool.tool);
    if (!r) step('growth', 'not available', unavailable(growthTool.tool));
    else {
      if (growthTool.tool === 'vmgrowth') {
        for (const x of r.records) if (notOurs(x.pid) && typeof x.net_bytes === 'number') growth.push({ pid: x.pid, comm: x.comm, netBytes: x.net_bytes, brkBytes: x.brk_bytes, mmapBytes: x.mmap_bytes });
      } else {
        const by = new Map<number, { pid: number; comm: string; netBytes: number }>();
        for (const x of r.records) if (notOurs(x.pid)) by.set(x.pid, { pid: x.pid, comm: x.comm, netBytes: (by.get(x.pid)?.netBytes ?? 0) + x.count });
        growth.push(...by.values());
      }
      growth.sort((a, b) => b.netBytes - a.netBytes);
      const g = growth[0];
      step(
        'growth',
        'clean',
        g ? (growthTool.tool === 'vmgrowth' ? `largest net virtual growth: ${g.comm} (PID ${g.pid}) ${humanKb(g.netBytes / 1024)}` : `most brk() calls: ${g.comm} (PID ${g.pid}) ${g.netBytes}`) : 'no growth traced',
      );
    }
  }

  // 8. reclaim
  const reclaim: Record<string, number> = {
    pgscan: d('pgscan_anon') + d('pgscan_file'),
    pgsteal: d('pgsteal_anon') + d('pgsteal_file'),
    allocstall: Object.keys(vm1).filter((k) => k.startsWith('allocstall')).reduce((s, k) => s + d(k), 0),
  };
  {
    const vs = usable('vmscan')?.records.find((x) => x.d_reclaim_ms !== undefined);
    const dr = (usable('drsnoop')?.records ?? []).filter((x) => notOurs(x.pid));
    if (vs) Object.assign(reclaim, { directMs: vs.d_reclaim_ms, memcgMs: vs.m_reclaim_ms, slabMs: vs.s_slab_ms, kswapdWakeups: vs.kswapd, writepage: vs.writepage });
    const byProc = new Map<string, { comm: string; pid: number; ms: number; n: number; kind: string }>();
    for (const x of dr) {
      const k = `${x.pid}/${x.kind}`;
      const row = byProc.get(k) ?? { comm: x.comm, pid: x.pid, ms: 0, n: 0, kind: x.kind };
      row.ms += x.lat_ms ?? 0;
      row.n++;
      byProc.set(k, row);
    }
    const stalled = [...byProc.values()].sort((a, b) => b.ms - a.ms);
    const directMs = reclaim.directMs ?? stalled.filter((s) => s.kind === 'direct').reduce((s, x) => s + x.ms, 0);
    const memcgMs = reclaim.memcgMs ?? stalled.filter((s) => s.kind === 'memcg').reduce((s, x) => s + x.ms, 0);
    let problem = false;
    for (const [kind, ms, what] of [
      ['direct', directMs, 'Direct reclaim (the system is short of free memory)'],
      ['memcg', memcgMs, 'Memory cgroup limit reclaim'],
    ] as [string, number, string][]) {
      const who = stalled.filter((s) => s.kind === kind);
      if (ms <= 0 && !who.length) continue;
      problem = true;
      findings.push({
        step: 'reclaim',
        severity: 'warning',
        title: `${what} stalled processes for ${ms.toFixed(1)} ms in ${window} s${who[0] ? `; most: ${who[0].comm} (PID ${who[0].pid}) ${who[0].ms.toFixed(1)} ms in ${n0(who[0].n)} reclaims` : ''}`,
        details: [
          ...who.slice(1, 4).map((s) => `also ${s.comm} (PID ${s.pid}) ${s.ms.toFixed(1)} ms`),
          `pages scanned ${n0(reclaim.pgscan)}, stolen ${n0(reclaim.pgsteal)}${reclaim.pgscan ? ` (%vmeff ${((100 * reclaim.pgsteal) / reclaim.pgscan).toFixed(1)})` : ''}`,
        ],
        dig: ['memscope drsnoop', 'memscope vmscan 1', 'memscope paging 1'].filter((c) => toolExists(c.split(' ')[1])),
        weight: ms,
      });
    }
    if (!vs && !usable('drsnoop') && reclaim.allocstall > 0) {
      problem = true;
      findings.push({ step: 'reclaim', severity: 'warning', title: `Direct reclaim stalls: ${n0(reclaim.allocstall)} (allocstall, /proc/vmstat)`, details: [], dig: ['memscope paging 1'] });
    }
    const sum = vs || usable('drsnoop') ? `direct ${directMs.toFixed(1)} ms, memcg ${memcgMs.toFixed(1)} ms, shrink_slab ${(reclaim.slabMs ?? 0).toFixed(1)} ms` : `${unavailable('vmscan')}; pgscan ${n0(reclaim.pgscan)}`;
    step('reclaim', problem ? 'problem' : 'clean', sum);
  }

  // 9. PMCs
  {
    const r = usable('pmc');
    const head = r?.records.find((x) => x.pmu !== undefined);
    const line = r?.records.find((x) => x.seconds !== undefined);
    if (!r || !head) step('pmc', 'not available', unavailable('pmc'));
    else if (!head.pmu) step('pmc', 'not available', `no hardware PMU on this machine; software page-faults ${line ? n0(line['page-faults'] / line.seconds) : '?'}/s`);
    else step('pmc', 'info', `LLC loads ${n0(line?.['LLC-loads'] ?? 0)}, misses ${n0(line?.['LLC-load-misses'] ?? 0)} (${line?.['miss%'] ?? 0}%)`);
  }

  findings.sort((a, b) => RANK[b.severity] - RANK[a.severity] || (b.weight ?? 0) - (a.weight ?? 0));
  const tools: TriageReport['tools'] = {};
  for (const r of results) tools[r.tool] = { available: r.available, args: r.args, exit: r.code, ...(r.seconds !== undefined ? { seconds: Math.round(r.seconds * 10) / 10 } : {}), ...(r.error ? { error: r.error } : {}) };
  return {
    host: os.hostname(),
    kernel: os.release(),
    cpus: os.cpus().length,
    memTotalKb: memTotal,
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round(elapsed * 10) / 10,
    windowSeconds: window,
    findings,
    steps,
    tools,
    tables: {
      processes: largest.slice(0, 10).map((p) => ({ pid: p.pid, comm: p.comm, rssKb: p.rssKb, rssGrowthKb: p.rssGrowthKb, swapKb: p.swapKb, faultsPerS: Math.round(p.faults / elapsed) })),
      faultStacks: [...faultRecs].sort((a, b) => b.count - a.count).slice(0, 20),
      files: files.slice(0, 10),
      growth: growth.slice(0, 10),
      memory: { ...free, memTotalKb: memTotal } as unknown as Record<string, number>,
      swaps,
      cgroups,
      oomKills: oomEvents.slice(-10),
      reclaim,
    },
    faultTargets: faultTargets.map((t) => ({ ...t, rate: Math.round(t.rate) })),
    faultsFolded,
  };
}

// ---------- rendering ----------

const SEV_LABEL: Record<Severity, string> = { critical: 'CRITICAL', warning: 'WARNING', info: 'INFO', ok: 'OK' };

export function formatTriage(r: TriageReport): string[] {
  const out = [`memscope triage: ${r.durationSeconds} s on ${r.host} (kernel ${r.kernel}, ${r.cpus} CPUs, ${humanKb(r.memTotalKb)})`, ''];
  const problems = r.findings.filter((f) => RANK[f.severity] >= RANK.warning);
  if (problems.length === 0) out.push('No problem found.', '');
  else out.push(`Findings, most severe first:`);
  r.findings.forEach((f, i) => {
    const lead = `${String(i + 1).padStart(2)}. ${SEV_LABEL[f.severity].padEnd(9)} `;
    out.push(lead + f.title);
    for (const dline of f.details) out.push(' '.repeat(lead.length) + dline);
    if (f.dig.length) out.push(' '.repeat(lead.length) + 'dig deeper: ' + f.dig.join('; '));
  });
  if (r.findings.length) out.push('');
  out.push('Checklist (BPF Performance Tools 7.1.3):');
  const w = Math.max(...r.steps.map((s) => s.name.length));
  r.steps.forEach((s, i) => {
    const status = s.status === 'clean' ? `nothing wrong found in ${s.id}` : s.status;
    out.push(`  ${i + 1}. ${s.name.padEnd(w)}  ${status}: ${s.summary}`);
  });
  out.push('', 'Largest processes by RSS:');
  out.push(
    ...formatTable(
      ['PID', 'COMM', 'RSS', 'GROWTH', 'SWAP', 'FAULTS/s'],
      r.tables.processes.slice(0, 5).map((p) => [p.pid, p.comm, humanKb(p.rssKb), humanKb(p.rssGrowthKb), humanKb(p.swapKb), n0(p.faultsPerS)]),
      [true, false, true, true, true, true],
    ).map((l) => '  ' + l),
  );
  return out;
}

export function triageHtml(r: TriageReport): string {
  const sections = [];
  const findingHtml = r.findings.length
    ? r.findings
        .map(
          (f) =>
            `<div class="finding ${f.severity}" data-severity="${f.severity}" data-step="${f.step}"><span class="sev">${f.severity}</span><strong>${escapeHtml(f.title)}</strong>` +
            (f.details.length ? `<ul>${f.details.map((x) => `<li>${escapeHtml(x)}</li>`).join('')}</ul>` : '') +
            (f.dig.length ? `<div>dig deeper: ${f.dig.map((c) => `<code>${escapeHtml(c)}</code>`).join(' ')}</div>` : '') +
            '</div>',
        )
        .join('\n')
    : '<div class="finding ok" data-severity="ok"><span class="sev">ok</span><strong>No problem found.</strong></div>';
  sections.push({ id: 'findings', title: 'Findings', html: findingHtml });
  sections.push({
    id: 'checklist',
    title: 'Checklist (BPF Performance Tools 7.1.3)',
    html: htmlTable(['#', 'step', 'result', 'summary'], r.steps.map((s, i) => [i + 1, s.name, s.status === 'clean' ? 'nothing wrong found' : s.status, s.summary])),
  });
  const folded = r.faultsFolded.join('\n');
  sections.push({
    id: 'flamegraph',
    title: `Page-fault flame graph${r.faultTargets.length ? ` of ${r.faultTargets.map((t) => `${t.comm} (PID ${t.pid})`).join(' and ')}` : ''}, ${Math.max(1, r.windowSeconds - 1)} s`,
    html: folded
      ? `<div class="flame" id="flame">${inlineSvg(renderFlameGraph(parseFolded(folded), { title: 'Page Fault Flame Graph', unit: 'page faults', palette: 'mem' }))}</div>`
      : `<p>No page-fault stacks (${escapeHtml(r.tools.faults?.error ?? (r.tools.faults ? 'no faults traced' : 'memscope faults is not available'))}).</p>`,
  });
  sections.push({
    id: 'processes',
    title: 'Largest processes by RSS',
    html: htmlTable(
      ['PID', 'COMM', 'RSS', 'RSS growth', 'swap', 'faults/s'],
      r.tables.processes.map((p) => [p.pid, p.comm, humanKb(p.rssKb), humanKb(p.rssGrowthKb), humanKb(p.swapKb), n0(p.faultsPerS)]),
      [true, false, true, true, true, true],
    ),
  });
  if (r.tables.faultStacks.length) {
    sections.push({
      id: 'faultstacks',
      title: 'Page faults by stack',
      html: htmlTable(['PID', 'COMM', 'faults', 'stack (innermost first)'], r.tables.faultStacks.map((s) => [s.pid, s.comm, n0(s.count), s.ustack.slice(0, 8).join(' ← ') || '[no user stack]']), [true, false, true, false]),
    });
  }
  if (r.tables.files.length) sections.push({ id: 'files', title: 'Files backing page faults', html: htmlTable(['file', 'faults'], r.tables.files.map((f) => [f.file, n0(f.count)]), [false, true]) });
  if (r.tables.growth.length) {
    sections.push({
      id: 'growth',
      title: 'brk() and mmap() growth',
      html: htmlTable(['PID', 'COMM', 'net', 'brk', 'mmap'], r.tables.growth.map((g) => [g.pid, g.comm, humanKb(g.netBytes / 1024), g.brkBytes !== undefined ? humanKb(g.brkBytes / 1024) : '', g.mmapBytes !== undefined ? humanKb(g.mmapBytes / 1024) : '']), [true, false, true, true, true]),
    });
  }
  const m = r.tables.memory;
  sections.push({
    id: 'memory',
    title: 'Memory (free)',
    html:
      htmlTable(['total', 'used', 'free', 'shared', 'buff/cache', 'available'], [[m.total, m.used, m.free, m.shared, m.buffCache, m.available].map(humanKb)], [true, true, true, true, true, true]) +
      (r.tables.swaps.length ? htmlTable(['swap device', 'type', 'size', 'used', 'prio'], r.tables.swaps.map((s) => [s.name, s.type, humanKb(s.sizeKb), humanKb(s.usedKb), s.priority]), [false, false, true, true, true]) : '<p>No swap configured.</p>') +
      (r.tables.cgroups.length ? htmlTable(['memory cgroup', 'usage', 'limit'], r.tables.cgroups.map((c) => [c.path, humanKb(c.usageKb), humanKb(c.limitKb)]), [false, true, true]) : ''),
  });
  sections.push({ id: 'reclaim', title: 'Reclaim', html: htmlTable(Object.keys(r.tables.reclaim), [Object.values(r.tables.reclaim).map((v) => (Number.isInteger(v) ? n0(v) : v.toFixed(2)))], Object.keys(r.tables.reclaim).map(() => true)) });
  if (r.tables.oomKills.length) sections.push({ id: 'oomkills', title: 'OOM kills in the kernel log', html: `<pre>${escapeHtml(r.tables.oomKills.map((e) => formatOomEvent(e).join('\n')).join('\n\n'))}</pre>` });
  sections.push({
    id: 'tools',
    title: 'Tools run',
    html: htmlTable(['tool', 'result'], Object.entries(r.tools).map(([t, x]) => [`memscope ${t}`, !x.available ? 'not available' : x.error ? `failed: ${x.error}` : 'ok'])),
  });
  return htmlPage(`memscope triage: ${r.host}`, `${r.startedAt}, ${r.durationSeconds} s, kernel ${r.kernel}, ${r.cpus} CPUs, ${humanKb(r.memTotalKb)}`, sections);
}

export const tool: Tool<TriageOptions> = {
  name: 'triage',
  summary: "the chapter's checklist in one command: OOM kills, swap, free memory, processes, faults, reclaim; ranked findings",
  configure(cmd) {
    cmd.option('-d, --duration <S>', 'seconds in all, BPF tools tracing for most of them', parsePositive, 10);
    cmd.option('--html <FILE>', 'also write one self-contained HTML page with findings, tables and the page-fault flame graph');
    cmd.option('--since <S>', 'OOM kills in the last S seconds are problems; earlier ones are listed as history', parsePositive, 3600);
    addCommonOptions(cmd, ['json']);
    cmd.addHelpText(
      'after',
      '\nWalks BPF Performance Tools 7.1.3 in order: OOM kills in the kernel log; swap configured, used\n' +
        'and active; free vs available memory and memory cgroups at their limit; the largest processes;\n' +
        'the page-fault rate and the stacks behind faults; the files backing faults; brk/mmap growth;\n' +
        'reclaim time; hardware cache misses. BPF tools (faults, ffaults, vmgrowth, vmscan, drsnoop,\n' +
        'swapin, oomkill) run concurrently as `memscope TOOL --json` for the window; a tool that is\n' +
        'missing or fails makes its step "not available". Progress goes to stderr; findings are ranked\n' +
        'by severity, each with its numbers and the command to dig deeper. Exit status 0 when triage ran,\n' +
        'whatever it found.\n' +
        examples([
          ['memscope triage', 'ten seconds, then the findings'],
          ['memscope triage -d 30 --html triage.html', '30 seconds, and a page to open in a browser'],
          ['memscope triage --json', 'one JSON object with findings, steps and tables'],
        ]),
    );
  },
  async run(opts: TriageOptions) {
    requireRoot();
    if (opts.duration < 2) throw new UsageError('triage needs --duration of at least 2 seconds');
    if (opts.html && !fs.existsSync(path.dirname(path.resolve(opts.html)))) throw new UsageError(`cannot write ${opts.html}: ENOENT (no such directory)`);
    verbose = !!opts.verbose;
    const report = await triage(opts);
    if (opts.html) {
      try {
        fs.writeFileSync(opts.html, triageHtml(report));
      } catch (e) {
        throw new UsageError(`cannot write ${opts.html}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      progress(`wrote ${opts.html}`);
    }
    if (opts.json) {
      const { faultsFolded: _f, ...rest } = report;
      printJson(rest);
    } else {
      process.stdout.write(formatTriage(report).join('\n') + '\n');
    }
  },
};


