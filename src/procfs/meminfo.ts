// SPDX-License-Identifier: Apache-2.0
// /proc/meminfo: system-wide memory in kB, and the derived figures free(1) prints.
import { parseKeyValues, pickValues, readProc } from './common';

export type Meminfo = Record<string, number>;

export function parseMeminfo(text: string): Meminfo {
  return parseKeyValues(text);
}

/** Every line, or only the names given (FREE_FIELDS: what freeFigures reads). */
export function readMeminfo(names?: readonly string[]): Meminfo {
  const text = readProc('/proc/meminfo') ?? '';
  return names ? pickValues(text, names) : parseMeminfo(text);
}

/** The lines freeFigures reads. */
export const FREE_FIELDS = ['MemTotal', 'MemFree', 'MemAvailable', 'Buffers', 'Cached', 'SReclaimable', 'Shmem', 'SwapTotal', 'SwapFree'] as const;

/** free(1)'s columns in kB, computed as procps 4 does from the same meminfo. */
export interface FreeFigures {
  total: number;
  used: number;
  free: number;
  shared: number;
  buffers: number;
  cache: number;
  buffCache: number;
  available: number;
  swapTotal: number;
  swapUsed: number;
  swapFree: number;
}

export function freeFigures(m: Meminfo): FreeFigures {
  const cache = (m.Cached ?? 0) + (m.SReclaimable ?? 0);
  const buffCache = (m.Buffers ?? 0) + cache;
  const total = m.MemTotal ?? 0;
  const free = m.MemFree ?? 0;
  // procps: used = total - available when MemAvailable exists (procps-ng >= 4), never negative
  const available = m.MemAvailable ?? Math.min(total, free + buffCache);
  const used = Math.max(0, total - available);
  return {
    total,
    used,
    free,
    shared: m.Shmem ?? 0,
    buffers: m.Buffers ?? 0,
    cache,
    buffCache,
    available,
    swapTotal: m.SwapTotal ?? 0,
    swapUsed: (m.SwapTotal ?? 0) - (m.SwapFree ?? 0),
    swapFree: m.SwapFree ?? 0,
  };
}
