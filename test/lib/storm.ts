// SPDX-License-Identifier: Apache-2.0
// Running memscope under a fault storm inside a 1 GiB memory cgroup (a regression fails the test
// instead of taking the machine down), and reading its end-of-run accounting.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { MEMSCOPE, Running, start } from './run';
import { MemoryCgroup } from './scenario';
import type { EventAccounting } from '../../src/unwind/dwarf-stacks';

export function accountingOf(stderr: string): EventAccounting {
  const line = stderr.split('\n').find((l) => l.startsWith('{"accounting"'));
  assert.ok(line, `no accounting line on stderr: ${stderr}`);
  return JSON.parse(line!).accounting as EventAccounting;
}

/** VmHWM of pid in bytes (0 once it has gone). */
function vmHwm(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs memscope in a 1 GiB memory cgroup, sampling its VmHWM until it exits. */
export async function tracedInCgroup(name: string, args: string[], during: (ms: Running) => Promise<void>, env: Record<string, string> = {}) {
  const cg = new MemoryCgroup(name, 1 << 30);
  try {
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const [cmd, ...rest] = cg.wrap(vars.length ? ['/usr/bin/env', ...vars, MEMSCOPE, ...args] : [MEMSCOPE, ...args]);
    const ms = start(cmd, rest);
    let hwm = 0;
    const sampler = setInterval(() => (hwm = Math.max(hwm, vmHwm(ms.pid))), 100);
    try {
      await ms.waitFor('Hit Ctrl-C');
      await during(ms);
      const r = await ms.exited;
      const failcnt = Number(fs.readFileSync(`${cg.path}/memory.failcnt`, 'utf8'));
      return { r, hwm, failcnt, pid: ms.pid };
    } finally {
      clearInterval(sampler);
      ms.kill();
    }
  } finally {
    cg.dispose();
  }
}

