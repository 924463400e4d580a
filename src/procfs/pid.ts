// SPDX-License-Identifier: Apache-2.0
// Per-process files: /proc/PID/status (memory in kB), /proc/PID/stat (state, faults, sizes),
// /proc/PID/cmdline, and the list of processes.
import * as fs from 'node:fs';
import { parseKeyValues, readProc } from './common';

export interface PidStatus {
  name: string;
  state: string;
  pid: number;
  ppid: number;
  uid: number;
  /** Numeric fields in kB (VmSize, VmRSS, RssAnon, RssFile, RssShmem, VmSwap, ...) and counts (Threads). */
  values: Record<string, number>;
}

export function parseStatus(text: string): PidStatus {
  const str = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(text)?.[1] ?? '';
  const values = parseKeyValues(text);
  return {
    name: str('Name'),
    state: str('State').split(' ')[0],
    pid: Number(str('Pid')),
    ppid: Number(str('PPid')),
    uid: Number(str('Uid').split(/\s+/)[0]),
    values,
  };
}

export function readStatus(pid: number): PidStatus | null {
  const t = readProc(`/proc/${pid}/status`);
  return t === null ? null : parseStatus(t);
}

export interface PidStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  minflt: number;
  majflt: number;
  utime: number;
  stime: number;
  starttime: number;
  /** bytes */
  vsize: number;
  /** pages */
  rss: number;
  /** the main thread's stack start (mm->start_stack): placed anew at each exec (ASLR), so it tells
   * one program image of the process from the next; 0 where the kernel hides it */
  startstack: bigint;
}

export function parsePidStat(text: string): PidStat | null {
  // comm may hold spaces and parentheses: it runs from the first "(" to the last ")"
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < 0) return null;
  const f = text
    .slice(close + 2)
    .trim()
    .split(' ');
  // f[0] is field 3 (state)
  const n = (field: number) => Number(f[field - 3]);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: f[0],
    ppid: n(4),
    minflt: n(10),
    majflt: n(12),
    utime: n(14),
    stime: n(15),
    starttime: n(22),
    vsize: n(23),
    rss: n(24),
    startstack: /^\d+$/.test(f[28 - 3] ?? '') ? BigInt(f[28 - 3]) : 0n,
  };
}

export function readPidStat(pid: number): PidStat | null {
  const t = readProc(`/proc/${pid}/stat`);
  return t === null ? null : parsePidStat(t);
}

/** The command line with arguments, or "[comm]" for kernel threads (as ps shows them). */
export function readCmdline(pid: number, comm?: string): string {
  const raw = readProc(`/proc/${pid}/cmdline`);
  if (raw) return raw.replace(/\0+$/, '').split('\0').join(' ');
  return `[${comm ?? readPidStat(pid)?.comm ?? '?'}]`;
}

export function listPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .sort((a, b) => a - b);
}

const AT_NULL = 0n;
const AT_PAGESZ = 6n;

let pageKb: number | undefined;

/** The base page size in kB, as the kernel told this process (AT_PAGESZ in /proc/self/auxv):
 * 4 on x86-64, 4, 16 or 64 on arm64 and ppc64 kernels. */
export function pageSizeKb(): number {
  if (pageKb === undefined) pageKb = parseAuxvPageSize(fs.readFileSync('/proc/self/auxv')) / 1024;
  return pageKb;
}

/** AT_PAGESZ from an auxiliary vector (64-bit: pairs of u64 type, value, ended by AT_NULL). */
export function parseAuxvPageSize(auxv: Buffer): number {
  for (let o = 0; o + 16 <= auxv.length; o += 16) {
    const type = auxv.readBigUInt64LE(o);
    if (type === AT_PAGESZ) return Number(auxv.readBigUInt64LE(o + 8));
    if (type === AT_NULL) break;
  }
  throw new Error('no AT_PAGESZ in the auxiliary vector');
}
