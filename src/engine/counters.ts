// SPDX-License-Identifier: Apache-2.0
// Counting perf events without BPF (perf stat's way): one counter per online CPU for the whole
// system, read with read(2) and scaled when the kernel multiplexed them.
import * as fs from 'node:fs';
import { native } from './native';

export const PERF_TYPE_HARDWARE = 0;
export const PERF_TYPE_SOFTWARE = 1;
export const PERF_TYPE_HW_CACHE = 3;
/** perf's LLC-loads and LLC-load-misses: (cache LL) | (op READ << 8) | (result << 16). */
export const LLC_LOADS = 2 | (0 << 8) | (0 << 16);
export const LLC_LOAD_MISSES = 2 | (0 << 8) | (1 << 16);

function onlineCpus(): number[] {
  let spec = '0';
  try {
    spec = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  } catch { // no sysfs cpu list (containers): every possible CPU
    return [...Array(native().numCpus()).keys()];
  }
  const cpus: number[] = [];
  for (const part of spec.split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) cpus.push(c);
  }
  return cpus;
}

const errnoName: Record<number, string> = { 2: 'ENOENT', 1: 'EPERM', 13: 'EACCES', 19: 'ENODEV', 95: 'EOPNOTSUPP', 22: 'EINVAL' };

/** A system-wide counter (all CPUs); `open` throws with `errnoName` set when the kernel refuses it. */
export class SystemCounter {
  private readonly fds: number[] = [];
  private readonly buf = Buffer.alloc(24);

  private constructor(readonly type: number, readonly config: number) {}

  static open(type: number, config: number): SystemCounter {
    const c = new SystemCounter(type, config);
    try {
      for (const cpu of onlineCpus()) c.fds.push(native().perfCounterOpen(type, config, -1, cpu));
    } catch (e) {
      c.close();
      const err = e as Error & { errno?: number; errnoName?: string };
      err.errnoName = errnoName[err.errno ?? 0] ?? `errno ${err.errno}`;
      throw err;
    }
    return c;
  }

  /** The count so far over all CPUs, scaled by enabled/running time. */
  read(): number {
    let total = 0;
    for (const fd of this.fds) {
      fs.readSync(fd, this.buf, 0, 24, null);
      const value = Number(this.buf.readBigUInt64LE(0));
      const enabled = Number(this.buf.readBigUInt64LE(8));
      const running = Number(this.buf.readBigUInt64LE(16));
      total += running > 0 && running < enabled ? Math.round((value * enabled) / running) : value;
    }
    return total;
  }

  close(): void {
    for (const fd of this.fds.splice(0)) fs.closeSync(fd);
  }
}
