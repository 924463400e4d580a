// SPDX-License-Identifier: Apache-2.0
// triage's collection: snapshots of /proc before and after, and the BPF tools run as
// `memscope TOOL --json` subprocesses for one window, all stopped together at its end. Each child
// holds a lifeline (src/engine/lifeline.ts) so it ends with triage whatever kills triage; a
// SIGINT, SIGTERM or SIGHUP to triage also stops the children and waits for them before exiting.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withLifeline } from '../../engine/lifeline';
import { readKmsg } from '../../procfs/kmsg';
import { Meminfo, readMeminfo } from '../../procfs/meminfo';
import { readSwaps, SwapDevice } from '../../procfs/swaps';
import { readVmstat, uptimeSeconds } from '../../procfs/vmstat';
import { DrsnoopRecord, FfaultsRecord, OomEvent, OomkillRecord, parseRecords, PmcRecord, StackRecord, SwapinRecord, VmgrowthRecord, VmscanRecord } from '../../core/records';
import { parseOomEvents } from '../../procfs/oom-report';
import { chooseFaultTargets, FaultRate, faultsRun, PlannedRun, planRuns } from './plan';
import { CgroupSnap, ProcSnap, snapshotCgroups, snapshotProcs } from './snapshot';

/** The record type each tool prints with --json (src/records.ts). */
export interface RecordsOf {
  oomkill: OomkillRecord;
  swapin: SwapinRecord;
  ffaults: FfaultsRecord;
  vmgrowth: VmgrowthRecord;
  brkstack: StackRecord;
  vmscan: VmscanRecord;
  drsnoop: DrsnoopRecord;
  pmc: PmcRecord;
  faults: StackRecord;
}
export type ToolName = keyof RecordsOf;

export interface ToolRun<T = unknown> {
  tool: string;
  args: string[];
  available: boolean;
  records: T[];
  code: number | null;
  /** why it gave nothing: missing tool, its one-line error */
  error?: string;
  pid?: number;
  /** wall-clock seconds the subprocess ran */
  seconds?: number;
  /** seconds it traced: from its "Tracing..." line to being stopped (or ending) */
  traced?: number;
}

export type ToolRuns = { [K in ToolName]?: ToolRun<RecordsOf[K]> };

/** Everything the rules judge: read here, judged in rules.ts without touching the system. */
export interface Observations {
  elapsed: number;
  /** seconds the BPF tools traced (the longest of them); 0 when none ran */
  window: number;
  meminfo: Meminfo;
  vm0: Record<string, number>;
  vm1: Record<string, number>;
  procs0: Map<number, ProcSnap>;
  procs1: Map<number, ProcSnap>;
  cg0: Map<string, CgroupSnap>;
  cg1: Map<string, CgroupSnap>;
  swaps: SwapDevice[];
  /** this boot's kernel-log OOM reports, ageSeconds set; or why the log could not be read */
  oomLog: { events: OomEvent[] } | { error: string };
  runs: ToolRuns;
  /** which tool the growth step used */
  growthTool: 'vmgrowth' | 'brkstack';
  /** memscope's own processes (triage and its tools): never findings */
  ownPids: Set<number>;
  faultTargets: FaultRate[];
  /** why no fault stacks were traced, when none were */
  noFaultTargets?: string;
  installed: (tool: string) => boolean;
}

export function installed(tool: string): boolean {
  return fs.existsSync(path.join(__dirname, '..', `${tool}.js`));
}

/** Seconds the tools get after SIGINT before SIGKILL (the faults summary symbolizes). */
const HARD_STOP_MS = 10_000;
/** Before the end of -d: time for the tools to detach and print, and for the last snapshots. */
const STOP_MARGIN_MS = 700;
/** A fault-stack run needs this long before the deadline to attach and see anything. */
const FAULTS_MIN_LEFT_MS = 1500;
/** A tool that attaches late still traces this long before it is stopped, so its step says
 * something: eight Node processes starting at once take ~1 s on two idle cores, but 12 s were
 * measured at a load average of 19 (other test suites compiling and tracing). */
const MIN_TRACE_MS = 1000;
/** How long after the window a tool may still attach before it is killed. */
const ATTACH_GRACE_MS = 30_000;

interface Child {
  proc: ChildProcess;
  done: Promise<ToolRun>;
  stop(): void;
}

/** Starts one tool; it runs until stop() (SIGINT: it prints its summary), or ends by itself. */
function startTool(p: PlannedRun, verbose: boolean): Child | ToolRun {
  if (!installed(p.tool)) return { tool: p.tool, args: p.args, available: false, records: [], code: null, error: `memscope ${p.tool} is not installed` };
  if (verbose) process.stderr.write(`memscope triage: running memscope ${p.tool} --json ${p.args.join(' ')}\n`);
  const began = Date.now();
  const proc = spawn(process.execPath, [path.join(__dirname, '..', '..', 'cli.js'), p.tool, '--json', ...p.args], withLifeline(['ignore', 'pipe', 'pipe']));
  let out = '';
  let err = '';
  let attachedAt: number | undefined;
  let stoppedAt: number | undefined;
  let hard: NodeJS.Timeout | undefined;
  let killed = false;
  let stopWanted = false;
  // tracing has begun: runTrace's banner on stderr, or the first record (pmc has no banner)
  const attached = () => {
    if (attachedAt !== undefined) return;
    attachedAt = Date.now();
    if (verbose) process.stderr.write(`memscope triage: memscope ${p.tool} is tracing (started in ${((attachedAt - began) / 1000).toFixed(1)} s)\n`);
    if (stopWanted) setTimeout(signalStop, MIN_TRACE_MS);
  };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    attached();
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    if (/Hit Ctrl-C to end\./.test(err)) attached();
  });
  const done = new Promise<ToolRun>((resolve) => {
    proc.on('close', (code, signal) => {
      if (hard) clearTimeout(hard);
      const end = stoppedAt ?? Date.now(); // ended by itself: traced until now
      const errLine = err
        .split('\n')
        .filter((l) => l.startsWith('memscope:'))
        .filter((l) => !/events were dropped/.test(l))[0];
      const why = killed
        ? attachedAt === undefined
          ? `had not started tracing ${ATTACH_GRACE_MS / 1000} s after the window ended`
          : 'did not finish in time'
        : code === null
            ? `ended by ${signal}`
            : `exited with status ${code}`;
      resolve({
        tool: p.tool,
        args: p.args,
        available: true,
        records: parseRecords(out),
        code,
        pid: proc.pid,
        seconds: (Date.now() - began) / 1000,
        ...(attachedAt !== undefined ? { traced: Math.max(0, end - attachedAt) / 1000 } : {}),
        error: code === 0 ? undefined : (errLine ?? why).replace(/^memscope: /, ''),
      });
    });
  });
  const signalStop = () => {
    if (stoppedAt !== undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    stoppedAt = Date.now();
    proc.kill('SIGINT');
    if (hard) clearTimeout(hard);
    hard = setTimeout(() => {
      killed = true;
      proc.kill('SIGKILL');
    }, HARD_STOP_MS);
  };
  // at the deadline: stop now if it has traced long enough, else once it has (SIGINT before it
  // attached would end it with nothing); one that never attaches is killed
  const stop = () => {
    stopWanted = true;
    if (attachedAt === undefined) {
      hard = setTimeout(() => {
        killed = true;
        proc.kill('SIGKILL');
      }, ATTACH_GRACE_MS);
    } else setTimeout(signalStop, Math.max(0, attachedAt + MIN_TRACE_MS - Date.now()));
  };
  return { proc, done, stop };
}

const EXIT_BY_SIGNAL: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

export interface CollectOptions {
  duration: number;
  /** faults per second of one process that count as a high rate */
  faultRate?: number;
  verbose: boolean;
  progress(msg: string): void;
}

export async function collect(opts: CollectOptions): Promise<Observations> {
  const t0 = Date.now();
  const deadline = t0 + Math.max(1000, opts.duration * 1000 - STOP_MARGIN_MS);
  const ownPids = new Set<number>([process.pid]);
  const procs0 = snapshotProcs();
  const cg0 = snapshotCgroups();
  const vm0 = readVmstat();
  const children: Child[] = [];
  const runs: Promise<ToolRun>[] = [];
  let stopping = false;
  const launch = (p: PlannedRun) => {
    if (stopping) return;
    const c = startTool(p, opts.verbose);
    if ('done' in c) {
      children.push(c);
      if (c.proc.pid) ownPids.add(c.proc.pid);
      runs.push(c.done);
    } else runs.push(Promise.resolve(c));
  };

  // Killed before the report: stop the tools (they detach), wait for them, then exit as the
  // signal asked. SIGKILL cannot be caught: the lifeline covers it.
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    opts.progress(`${sig}: stopping the tools; no report`);
    for (const c of children) c.proc.kill('SIGTERM');
    const force = setTimeout(() => children.forEach((c) => c.proc.kill('SIGKILL')), HARD_STOP_MS);
    void Promise.all(children.map((c) => c.done)).then(() => {
      clearTimeout(force);
      process.exit(EXIT_BY_SIGNAL[sig] ?? 1);
    });
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    // a bound for every tool should both triage and its lifeline fail it
    const cap = opts.duration + (ATTACH_GRACE_MS + MIN_TRACE_MS + HARD_STOP_MS) / 1000 + 30;
    const plan = planRuns(installed, cap);
    const growthTool = plan.find((p) => p.step === 'growth')!.tool as 'vmgrowth' | 'brkstack';
    const available = plan.filter((p) => installed(p.tool)).map((p) => p.tool);
    opts.progress(`tracing for ${((deadline - t0) / 1000).toFixed(1)} s with ${available.join(', ') || 'no BPF tools'} (checklist of BPF Performance Tools 7.1.3)`);
    plan.forEach(launch);

    const faultTargets: FaultRate[] = [];
    let noFaultTargets: string | undefined;
    if (!installed('faults')) noFaultTargets = 'memscope faults is not installed';
    else {
      await new Promise((r) => setTimeout(r, 1000));
      if (deadline - Date.now() < FAULTS_MIN_LEFT_MS) noFaultTargets = 'the window was too short to trace fault stacks (use a longer -d)';
      else {
        faultTargets.push(...chooseFaultTargets(procs0, snapshotProcs().values(), (Date.now() - t0) / 1000, ownPids, opts.faultRate));
        if (!faultTargets.length) noFaultTargets = 'no process faulted notably in the first second';
        for (const t of faultTargets) {
          opts.progress(`tracing the fault stacks of ${t.comm} (PID ${t.pid}), faulting ${Math.round(t.rate).toLocaleString('en-US')}/s`);
          launch(faultsRun(t.pid, cap));
        }
      }
    }
    let left = Math.ceil((deadline - Date.now()) / 1000);
    const ticker = process.stderr.isTTY
      ? setInterval(() => {
          left--;
          if (left > 0) process.stderr.write(`memscope triage: ${left} s left\r`);
        }, 1000)
      : undefined;
    const stopper = setTimeout(() => children.forEach((c) => c.stop()), Math.max(0, deadline - Date.now()));
    const results = await Promise.all(runs);
    clearTimeout(stopper);
    if (ticker) clearInterval(ticker);

    const byTool: Record<string, ToolRun> = {};
    for (const r of results) {
      const prev = byTool[r.tool];
      if (!prev) byTool[r.tool] = r;
      else {
        prev.records.push(...r.records); // two fault-stack runs, one per process
        if (prev.error && !r.error) byTool[r.tool] = { ...r, records: prev.records };
      }
    }
    let oomLog: Observations['oomLog'];
    try {
      const events = parseOomEvents(readKmsg());
      const up = uptimeSeconds();
      for (const e of events) if (e.time !== undefined) e.ageSeconds = Math.max(0, Math.round((up - e.time) * 10) / 10);
      oomLog = { events };
    } catch (e) {
      oomLog = { error: (e as Error).message };
    }
    return {
      elapsed: (Date.now() - t0) / 1000,
      window: Math.max(0, ...results.map((r) => r.traced ?? 0)),
      meminfo: readMeminfo(),
      vm0,
      vm1: readVmstat(),
      procs0,
      procs1: snapshotProcs(),
      cg0,
      cg1: snapshotCgroups(),
      swaps: readSwaps(),
      oomLog,
      runs: byTool as ToolRuns,
      growthTool,
      ownPids,
      faultTargets,
      noFaultTargets,
      installed,
    };
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}
