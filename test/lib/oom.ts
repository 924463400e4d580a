// SPDX-License-Identifier: Apache-2.0
// One real OOM kill under a running memscope: a workload in a memory cgroup (swappiness 0, so swap
// another test turned on cannot save it) is told to fill it, is SIGKILLed by the kernel, and
// memscope is interrupted once it has printed the kill. The oomkill tests differ in the workload,
// the limit and memscope's arguments; the sequence and its cleanup live here.
import assert from 'node:assert/strict';
import { start, startMemscope, jsonLines, Result } from './run';
import { MemoryCgroup } from './scenario';

export interface OomUnderMemscope {
  /** the workload's pid: the victim (and, filling its own cgroup, the trigger) */
  pid: number;
  cgroup: MemoryCgroup;
  /** memscope's exit, after the interrupt */
  result: Result;
  /** with --json: the kill lines whose victim is the workload */
  kills: any[];
}

/**
 * Runs `argv` (which prints "ready", then fills memory on "go") in a fresh memory cgroup of
 * `limitBytes` while `memscope <args>` runs; `env` is set for memscope's start only. The cgroup is
 * removed and the workload killed before this returns, whatever happened.
 */
export async function oomKillUnderMemscope(
  cgroupName: string,
  limitBytes: number,
  argv: string[],
  args: string[],
  opts: { env?: Record<string, string> } = {},
): Promise<OomUnderMemscope> {
  const cgroup = new MemoryCgroup(cgroupName, limitBytes, { swappiness: 0 });
  const hog = start('/bin/sh', cgroup.wrap(argv).slice(1));
  const env = opts.env ?? {};
  try {
    await hog.waitFor('ready');
    Object.assign(process.env, env);
    const ms = await startMemscope(args);
    for (const k of Object.keys(env)) delete process.env[k];
    hog.send('go');
    const h = await hog.exited;
    assert.equal(h.signal, 'SIGKILL', `the workload was not OOM-killed: ${h.stdout} ${h.stderr}`);
    const json = args.includes('--json');
    await ms.waitFor(json ? new RegExp(`"victim":\\{"pid":${hog.pid},`) : `OOM kill of PID ${hog.pid} `);
    const result = await ms.interrupt();
    assert.equal(result.code, 0, result.stderr);
    const kills = json ? jsonLines(result.stdout).filter((k) => k.victim.pid === hog.pid) : [];
    return { pid: hog.pid, cgroup, result, kills };
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
    hog.kill();
    cgroup.dispose();
  }
}
