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
}

export function parsePidStat(text: string): PidStat | null {
  // comm may hold spaces and parentheses: it runs from the first "(" to the last ")"
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < 0) return null;
  const f = text.slice(close + 2).trim().split(' ');
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

export function pageSizeKb(): number {
  return 4; // x86-64 and arm64 default; smaps reports KernelPageSize per mapping where it matters
}
