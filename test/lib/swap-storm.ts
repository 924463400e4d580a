// SPDX-License-Identifier: Apache-2.0
// Memory-cgroup reclaim and swap on demand: a workload in a memory cgroup with a small limit, with a
// swapfile on, writes four times its limit twice (the second pass reads every page back from swap).
// Memscope runs given by the caller are attached before the workload starts and interrupted after
// it has exited. Everything is removed afterwards, also when something fails.
import assert from 'node:assert/strict';
import { workload } from './workloads';
import { Result, Running, start, startMemscope } from './run';
import { MemoryCgroup, Swapfile, vmstat } from './scenario';

/** The run's result once it ends by itself; Ctrl-C if it has not after ms. */
async function endsBy(t: Running, ms: number): Promise<Result> {
  const timer = setTimeout(() => t.child.kill('SIGINT'), ms);
  const r = await t.exited;
  clearTimeout(timer);
  return r;
}

export const STORM_LIMIT_MIB = 32;
export const STORM_TOUCH_MIB = 4 * STORM_LIMIT_MIB;

export interface Storm {
  /** The workload's pid (and comm "mem_hog"). */
  pid: number;
  /** The cgroup path as the kernel prints it ("/name"). */
  cgroup: string;
  /** /proc/vmstat growth between the workload's release and its exit. */
  pswpin: number;
  pswpout: number;
  /** zswpin growth (pages brought back from zswap; 0 when zswap is off) */
  zswpin: number;
  /** Output of each memscope run, in the order given. */
  results: Result[];
}

/**
 * Runs the storm under the given memscope command lines. A run whose arguments include "-p PID"
 * (the literal string "PID") is pointed at the workload and ends by itself when it exits; the
 * others are interrupted (Ctrl-C) once it has exited.
 */
export async function swapStorm(name: string, runs: string[][]): Promise<Storm> {
  const swap = new Swapfile(2 * STORM_TOUCH_MIB, `/var/tmp/${name}.swap`);
  const cg = new MemoryCgroup(name, STORM_LIMIT_MIB << 20, { swappiness: 100 });
  const hog = start('/bin/sh', cg.wrap([workload('mem_hog'), String(STORM_TOUCH_MIB), '2']).slice(1));
  const tracers: Running[] = [];
  try {
    await hog.waitFor('ready');
    for (const args of runs) tracers.push(await startMemscope(args.map((a) => (a === 'PID' ? String(hog.pid) : a))));
    const before = vmstat();
    hog.send('go');
    const h = await hog.exited;
    const after = vmstat();
    assert.equal(h.code, 0, `the workload failed: ${h.stdout} ${h.stderr}`);
    assert.match(h.stdout, /pass 2\ndone\n/);
    const results: Result[] = [];
    for (let i = 0; i < tracers.length; i++) {
      const t = tracers[i];
      // a run on the workload's pid ends by itself (Ctrl-C only if it has not after 20 s)
      results.push(runs[i].includes('PID') ? await endsBy(t, 20_000) : await t.interrupt());
    }
    return { pid: hog.pid, cgroup: cg.name, pswpin: after.pswpin - before.pswpin, pswpout: after.pswpout - before.pswpout, zswpin: (after.zswpin ?? 0) - (before.zswpin ?? 0), results };
  } finally {
    hog.kill();
    tracers.forEach((t) => t.kill());
    cg.dispose();
    swap.dispose();
  }
}
