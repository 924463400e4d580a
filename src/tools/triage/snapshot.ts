// SPDX-License-Identifier: Apache-2.0
// What triage reads of the system itself, before and after the window: per-process fault counts,
// RSS and swap from /proc, and the memory cgroups that have a limit (v1, else v2).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listPids, parsePidStat, parseStatus } from '../../procfs/pid';
import { readProc } from '../../procfs/common';
import type { CgroupRecord } from '../../core/records';

export interface ProcSnap {
  pid: number;
  comm: string;
  faults: number;
  majflt: number;
  rssKb: number;
  swapKb: number;
}

export function snapshotProcs(): Map<number, ProcSnap> {
  const out = new Map<number, ProcSnap>();
  for (const pid of listPids()) {
    const stText = readProc(`/proc/${pid}/stat`);
    const statusText = readProc(`/proc/${pid}/status`);
    if (!stText || !statusText) continue;
    const st = parsePidStat(stText);
    const status = parseStatus(statusText);
    if (!st || status.values.VmSize === undefined) continue; // kernel threads
    out.set(pid, { pid, comm: status.name, faults: st.minflt + st.majflt, majflt: st.majflt, rssKb: status.values.VmRSS ?? 0, swapKb: status.values.VmSwap ?? 0 });
  }
  return out;
}

export type CgroupSnap = CgroupRecord;

const NO_LIMIT = 2 ** 60;

export function snapshotCgroups(): Map<string, CgroupSnap> {
  const out = new Map<string, CgroupSnap>();
  const v1 = '/sys/fs/cgroup/memory';
  const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : fs.existsSync('/sys/fs/cgroup/unified/cgroup.controllers') ? '/sys/fs/cgroup/unified' : null;
  const walk = (root: string, dir: string, depth: number, read: (d: string) => Omit<CgroupSnap, 'path' | 'pids'> | null) => {
    if (depth > 4) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const d = path.join(dir, e.name);
      const s = read(d);
      if (s && s.limitKb < NO_LIMIT / 1024) {
        const pids = (readProc(`${d}/cgroup.procs`) ?? '').split('\n').filter(Boolean).map(Number);
        out.set('/' + path.relative(root, d), { path: '/' + path.relative(root, d), pids, ...s });
      }
      walk(root, d, depth + 1, read);
    }
  };
  if (fs.existsSync(`${v1}/memory.limit_in_bytes`)) {
    walk(v1, v1, 1, (d) => {
      const limit = Number(readProc(`${d}/memory.limit_in_bytes`));
      const usage = Number(readProc(`${d}/memory.usage_in_bytes`));
      const fail = Number(readProc(`${d}/memory.failcnt`));
      return Number.isFinite(limit) && Number.isFinite(usage) ? { usageKb: usage / 1024, limitKb: limit / 1024, hits: fail || 0 } : null;
    });
  } else if (v2) {
    walk(v2, v2, 1, (d) => {
      const max = readProc(`${d}/memory.max`)?.trim();
      if (!max || max === 'max') return null;
      const cur = Number(readProc(`${d}/memory.current`));
      const ev = /^max (\d+)/m.exec(readProc(`${d}/memory.events`) ?? '');
      return { usageKb: cur / 1024, limitKb: Number(max) / 1024, hits: ev ? Number(ev[1]) : 0 };
    });
  }
  return out;
}
