// SPDX-License-Identifier: Apache-2.0
// /proc/vmstat (event counters and page-state gauges) and /proc/stat (CPU time, interrupts,
// context switches, runnable and blocked tasks): what vmstat(1) and sar -B read.
import { parseSpaceValues, pickValues, readProc } from './common';

export type Vmstat = Record<string, number>;

export function parseVmstat(text: string): Vmstat {
  return parseSpaceValues(text);
}

/** Every counter, or only the names given (pickValues: 'allocstall*' sums the allocstall_* lines). */
export function readVmstat(names?: readonly string[]): Vmstat {
  const text = readProc('/proc/vmstat') ?? '';
  return names ? pickValues(text, names) : parseVmstat(text);
}

/** Sum of every counter whose name starts with a prefix (pgscan_kswapd + pgscan_kswapd_* ...). */
export function sumPrefix(v: Vmstat, prefix: string): number {
  let s = 0;
  for (const [k, n] of Object.entries(v)) if (k.startsWith(prefix)) s += n;
  return s;
}

export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

export interface Stat {
  cpu: CpuTimes;
  intr: number;
  ctxt: number;
  btime: number;
  processes: number;
  running: number;
  blocked: number;
}

export function parseStat(text: string): Stat {
  const st: Stat = {
    cpu: { user: 0, nice: 0, system: 0, idle: 0, iowait: 0, irq: 0, softirq: 0, steal: 0 },
    intr: 0,
    ctxt: 0,
    btime: 0,
    processes: 0,
    running: 0,
    blocked: 0,
  };
  for (const line of text.split('\n')) {
    const f = line.split(/\s+/);
    switch (f[0]) {
      case 'cpu': {
        const n = f.slice(1).map(Number);
        st.cpu = { user: n[0], nice: n[1], system: n[2], idle: n[3], iowait: n[4] ?? 0, irq: n[5] ?? 0, softirq: n[6] ?? 0, steal: n[7] ?? 0 };
        break;
      }
      case 'intr':
        st.intr = Number(f[1]);
        break;
      case 'ctxt':
        st.ctxt = Number(f[1]);
        break;
      case 'btime':
        st.btime = Number(f[1]);
        break;
      case 'processes':
        st.processes = Number(f[1]);
        break;
      case 'procs_running':
        st.running = Number(f[1]);
        break;
      case 'procs_blocked':
        st.blocked = Number(f[1]);
        break;
    }
  }
  return st;
}

export function readStat(): Stat {
  return parseStat(readProc('/proc/stat') ?? '');
}

/** Seconds since boot, from /proc/uptime. */
export function uptimeSeconds(): number {
  return Number((readProc('/proc/uptime') ?? '0').split(' ')[0]);
}
