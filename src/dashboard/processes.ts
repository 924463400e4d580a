// SPDX-License-Identifier: Apache-2.0
// The containers-and-processes table: every process's RSS, swap, growth and fault rates (from two
// successive reads of /proc/PID/stat), its memory cgroup with usage against the limit and OOM
// history (v1 memory controller files, or v2's), and the process view's segments (pmap -x).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readProc } from '../procfs/common';
import { listPids, parsePidStat, parseStatus, readCmdline } from '../procfs/pid';
import { readSmaps, SmapsEntry } from '../procfs/smaps';
import { DashboardSources, ProcessRow, Segment } from './types';

const V1 = '/sys/fs/cgroup/memory';
const V2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
const UNLIMITED = 2 ** 60;
const PAGE_KB = 4;

interface Prev {
  t: number;
  rss: number;
  faults: number;
  swapins?: number;
  start: number;
}

/** The memory cgroup of a pid: v1's memory line, else the v2 line ("0::/path"). */
export function memoryCgroup(cgroupFile: string): { path: string; v1: boolean } {
  let v2: string | null = null;
  for (const line of cgroupFile.split('\n')) {
    const [, ctrls, p] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (ctrls === undefined) continue;
    if (ctrls.split(',').includes('memory')) return { path: p, v1: true };
    if (ctrls === '') v2 = p;
  }
  return { path: v2 ?? '/', v1: false };
}

function cgroupFigures(cg: { path: string; v1: boolean }): { usage?: number; limit?: number | null; ooms?: number } {
  const num = (f: string) => {
    const t = readProc(f)?.trim();
    return t === undefined || t === '' || t === 'max' ? undefined : Number(t);
  };
  if (cg.v1) {
    const d = path.join(V1, cg.path);
    const limit = num(`${d}/memory.limit_in_bytes`);
    const oom = /^oom_kill (\d+)/m.exec(readProc(`${d}/memory.oom_control`) ?? '');
    return {
      usage: num(`${d}/memory.usage_in_bytes`),
      limit: limit === undefined || limit >= UNLIMITED ? null : limit,
      ooms: oom ? Number(oom[1]) : undefined,
    };
  }
  const d = path.join(V2, cg.path);
  const oom = /^oom_kill (\d+)/m.exec(readProc(`${d}/memory.events`) ?? '');
  return { usage: num(`${d}/memory.current`), limit: num(`${d}/memory.max`) ?? null, ooms: oom ? Number(oom[1]) : undefined };
}

export class ProcessTable {
  private prev = new Map<number, Prev>();
  private cached: { t: number; rows: ProcessRow[] } | null = null;

  constructor(private readonly sources: DashboardSources) {}

  /** The table now; reads /proc at most once a second however many clients ask. */
  rows(): ProcessRow[] {
    const now = Date.now();
    if (this.cached && now - this.cached.t < 1000) return this.cached.rows;
    const swapins = this.sources.swapinsByPid?.();
    const cgCache = new Map<string, ReturnType<typeof cgroupFigures>>();
    const next = new Map<number, Prev>();
    const rows: ProcessRow[] = [];
    for (const pid of listPids()) {
      const statText = readProc(`/proc/${pid}/stat`);
      const statusText = readProc(`/proc/${pid}/status`);
      if (!statText || !statusText) continue;
      const st = parsePidStat(statText);
      if (!st) continue;
      const status = parseStatus(statusText);
      const rss = status.values.VmRSS ?? st.rss * PAGE_KB;
      if (status.values.VmRSS === undefined) continue; // kernel threads (and zombies) hold no user memory
      const faults = st.minflt + st.majflt;
      const cur: Prev = { t: now, rss, faults, swapins: swapins ? (swapins.get(pid) ?? 0) : undefined, start: st.starttime };
      const p = this.prev.get(pid);
      const same = p && p.start === st.starttime; // a reused pid is a new process
      const dt = same ? (now - p.t) / 1000 : 0;
      next.set(pid, same && dt < 1 ? p : cur); // rates over >= 1 s
      const cg = memoryCgroup(readProc(`/proc/${pid}/cgroup`) ?? '');
      let fig = cgCache.get(cg.path);
      if (!fig) cgCache.set(cg.path, (fig = cgroupFigures(cg)));
      const ctr = this.sources.container?.(cg.path) ?? null;
      rows.push({
        pid,
        comm: st.comm,
        cmdline: readCmdline(pid, st.comm).slice(0, 512),
        rss,
        swap: status.values.VmSwap ?? 0,
        growth: same && dt > 0 ? (rss - p.rss) / dt : 0,
        faultsPerSec: same && dt > 0 ? (faults - p.faults) / dt : 0,
        ...(swapins ? { swapins: cur.swapins, swapinsPerSec: same && dt > 0 && p.swapins !== undefined ? (cur.swapins! - p.swapins) / dt : 0 } : {}),
        cgroup: cg.path,
        container: ctr?.name ?? ctr?.id?.slice(0, 12) ?? '',
        cgUsage: fig.usage,
        cgLimit: fig.limit,
        cgOomKills: fig.ooms,
      });
    }
    this.prev = next; // processes that exited are forgotten: the map is bounded by the live ones
    this.cached = { t: now, rows };
    return rows;
  }

  row(pid: number): ProcessRow | undefined {
    return this.rows().find((r) => r.pid === pid);
  }
}

/** pmap -x's columns from smaps. */
export function segments(pid: number): Segment[] | null {
  const entries = readSmaps(pid);
  if (!entries) return null;
  return entries.map((e: SmapsEntry) => ({
    start: e.start.toString(16).padStart(16, '0'),
    kb: e.kb.Size ?? 0,
    rss: e.kb.Rss ?? 0,
    dirty: (e.kb.Private_Dirty ?? 0) + (e.kb.Shared_Dirty ?? 0),
    swap: e.kb.Swap ?? 0,
    mode: e.perms.slice(0, 3) + (e.perms[3] === 's' ? 's' : '-') + (e.flags.includes('nr') ? 'R' : '-'),
    mapping: e.path === '' ? '[ anon ]' : e.path,
  }));
}
