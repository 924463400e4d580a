// SPDX-License-Identifier: Apache-2.0
// /proc/PID/smaps (one block per mapping, sizes in kB) and /proc/PID/smaps_rollup (the sums).
import { Mapping, parseMaps } from './maps';
import { readProc } from './common';

export interface SmapsEntry extends Mapping {
  /** Size, Rss, Pss, Private_Dirty, Shared_Dirty, Swap, ... in kB */
  kb: Record<string, number>;
  flags: string[];
}

export function parseSmaps(text: string): SmapsEntry[] {
  const out: SmapsEntry[] = [];
  let cur: SmapsEntry | null = null;
  for (const line of text.split('\n')) {
    const kv = /^([A-Za-z_]+):\s+(\d+) kB$/.exec(line);
    if (kv && cur) {
      cur.kb[kv[1]] = Number(kv[2]);
      continue;
    }
    if (line.startsWith('VmFlags:')) {
      if (cur) cur.flags = line.slice(8).trim().split(/\s+/);
      continue;
    }
    if (/^[A-Za-z_]+:/.test(line)) continue; // THPeligible: 0, ProtectionKey, ...
    const [m] = parseMaps(line);
    if (m) {
      cur = { ...m, kb: {}, flags: [] };
      out.push(cur);
    }
  }
  return out;
}

export function readSmaps(pid: number): SmapsEntry[] | null {
  const t = readProc(`/proc/${pid}/smaps`);
  return t === null ? null : parseSmaps(t);
}

/** smaps_rollup: the same fields summed over all mappings, in kB. */
export function parseSmapsRollup(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_]+):\s+(\d+) kB$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

export function readSmapsRollup(pid: number): Record<string, number> | null {
  const t = readProc(`/proc/${pid}/smaps_rollup`);
  return t === null ? null : parseSmapsRollup(t);
}
