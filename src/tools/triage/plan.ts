// SPDX-License-Identifier: Apache-2.0
// triage's plan: the checklist's steps (BPF Performance Tools 7.1.3), the BPF tools run for them
// and how, the thresholds the rules judge by, and which processes get their fault stacks traced.
import type { StepResult } from '../../core/records';

export type StepId = StepResult['id'];

export const STEPS: [StepId, string][] = [
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

export const STEP_NAME = new Map<StepId, string>(STEPS);

// ---------- thresholds (per second rates are over the traced window) ----------
export const FAULTS_PER_S_WARN = 10_000; // one process faulting in > ~40 MB/s of new pages
export const MAJFLT_PER_S_WARN = 100;
export const SWAP_ACTIVE_PAGES = 256; // 1 MB swapped in or out during the window
export const SWAP_CRIT_KB_S = 10 * 1024;
export const AVAIL_WARN = 0.1;
export const AVAIL_CRIT = 0.05;
/** A process faulting at least this fast over the first second gets its fault stacks traced. */
export const FAULT_TARGET_MIN_RATE = 50;

/** One BPF tool run for a step: `memscope TOOL --json ARGS`, stopped (SIGINT) at the deadline. */
export interface PlannedRun {
  step: StepId;
  tool: string;
  args: string[];
}

/**
 * The tools, all started at once and all stopped together by SIGINT when the window ends: each
 * prints its summary then, so the window is the same for all and fills -d whatever the tools'
 * start-up costs. No tool is given a duration that ends it first; interval tools get one interval
 * longer than the whole run (swapin and vmscan print the rest of an interval on Ctrl-C). `cap` is
 * a bound in seconds each tool also gets where its arguments allow, should it outlive triage
 * without noticing (it also watches triage's lifeline: src/engine/lifeline.ts).
 */
export function planRuns(installed: (tool: string) => boolean, cap: number): PlannedRun[] {
  const C = String(Math.ceil(cap));
  return [
    { step: 'oom', tool: 'oomkill', args: [C] },
    { step: 'swap', tool: 'swapin', args: [C, '1'] },
    { step: 'files', tool: 'ffaults', args: [] },
    installed('vmgrowth') ? { step: 'growth', tool: 'vmgrowth', args: [] } : { step: 'growth', tool: 'brkstack', args: [C] },
    { step: 'reclaim', tool: 'vmscan', args: [C, '1'] },
    { step: 'reclaim', tool: 'drsnoop', args: [C] },
    { step: 'pmc', tool: 'pmc', args: [] },
  ];
}

/** The fault-stack run for one process. */
export function faultsRun(pid: number, cap: number): PlannedRun {
  return { step: 'faults', tool: 'faults', args: ['-p', String(pid), String(Math.ceil(cap))] };
}

export interface FaultRate {
  pid: number;
  comm: string;
  rate: number;
}

/**
 * Fault stacks of every process cost seconds to symbolize on a busy machine: the processes
 * faulting most over the first second (from /proc) get theirs traced for the rest of the window.
 * The top faulter if it faults at all, and a second one when it faults fast too.
 */
export function chooseFaultTargets(
  before: Map<number, { faults: number }>,
  now: Iterable<{ pid: number; comm: string; faults: number }>,
  seconds: number,
  ours: Set<number>,
  faultRate = FAULTS_PER_S_WARN,
): FaultRate[] {
  const rates: FaultRate[] = [];
  for (const p of now) {
    const b = before.get(p.pid);
    if (!b || ours.has(p.pid)) continue;
    rates.push({ pid: p.pid, comm: p.comm, rate: (p.faults - b.faults) / seconds });
  }
  rates.sort((a, b) => b.rate - a.rate);
  const out: FaultRate[] = [];
  if (rates[0] && rates[0].rate >= FAULT_TARGET_MIN_RATE) out.push(rates[0]);
  if (rates[1] && rates[1].rate >= faultRate / 10) out.push(rates[1]);
  return out;
}
