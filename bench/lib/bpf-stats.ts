// SPDX-License-Identifier: Apache-2.0
// What BPF programs cost while a bench's measured work runs: kernel.bpf_stats_enabled counts
// run_cnt and run_time_ns per program (no PMU here, so `bpftool prog profile` is unavailable).
// Programs are told apart by id: the ones a tool loaded are those absent before it started
// (another helper's tool may run a program of the same name at the same time).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

const STATS = '/proc/sys/kernel/bpf_stats_enabled';

export interface ProgRuns {
  name: string;
  runCnt: number;
  runTimeNs: number;
}

/** Every loaded program's counters, by id. */
export function progRuns(): Map<number, ProgRuns> {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as {
    id: number;
    name?: string;
    run_cnt?: number;
    run_time_ns?: number;
  }[];
  return new Map(progs.map((p) => [p.id, { name: p.name ?? '', runCnt: p.run_cnt ?? 0, runTimeNs: p.run_time_ns ?? 0 }]));
}

/** Runs fn with the kernel's BPF run-time statistics on, then puts the setting back as it was. */
export async function withBpfStats<T>(fn: () => Promise<T>): Promise<T> {
  const was = fs.readFileSync(STATS, 'utf8').trim();
  fs.writeFileSync(STATS, '1');
  try {
    return await fn();
  } finally {
    fs.writeFileSync(STATS, was);
  }
}

/** Runs and ns of the programs in `ids` named by `names`, between two readings, by name. */
export function runsBetween(before: Map<number, ProgRuns>, after: Map<number, ProgRuns>, ids: Set<number>, names: string[]): Map<string, ProgRuns> {
  const out = new Map<string, ProgRuns>(names.map((n) => [n, { name: n, runCnt: 0, runTimeNs: 0 }]));
  for (const id of ids) {
    const a = after.get(id);
    const s = a && out.get(a.name);
    if (!a || !s) continue;
    const b = before.get(id);
    s.runCnt += a.runCnt - (b?.runCnt ?? 0);
    s.runTimeNs += a.runTimeNs - (b?.runTimeNs ?? 0);
  }
  return out;
}
