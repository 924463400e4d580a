// SPDX-License-Identifier: Apache-2.0
// ps: processes by memory, from /proc/PID/status (and smaps_rollup for PSS): PID USER %MEM VSZ RSS PSS SWAP COMMAND.
import * as fs from 'node:fs';
import { Option } from 'commander';
import { addCommonOptions, CommonOptions, parseCount } from './options';
import { readMeminfo } from '../procfs/meminfo';
import { listPids, readCmdline, readStatus } from '../procfs/pid';
import { readSmapsRollup } from '../procfs/smaps';
import { procpsArgs } from '../render/text';
import { printJson } from '../render/json';
import { formatTable } from '../render/table';
import { examples, Tool } from './tool';
import { cgroupFilterOf, containerLabel, containerOfPid, inCgroup, CgroupFilter } from '../containers/filter';

export interface ProcMem {
  pid: number;
  user: string;
  comm: string;
  /** % of MemTotal resident */
  mem: number;
  vszKb: number;
  rssKb: number;
  pssKb?: number;
  swapKb: number;
  anonKb: number;
  fileKb: number;
  shmemKb: number;
  command: string;
  /** the container's name (else its id's first 12 digits), '-' for a host process */
  container: string;
}

let users: Map<number, string> | undefined;
function userName(uid: number): string {
  if (!users) {
    users = new Map();
    try {
      for (const l of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const f = l.split(':');
        if (f.length > 2) users.set(Number(f[2]), f[0]);
      }
    } catch {
      /* numeric ids then */
    }
  }
  return users.get(uid) ?? String(uid);
}

/** Every user process (kernel threads have no memory of their own and are left out). */
export function processMemory(opts: { pss?: boolean; cgroup?: CgroupFilter } = {}): ProcMem[] {
  const total = readMeminfo().MemTotal || 1;
  const out: ProcMem[] = [];
  for (const pid of listPids()) {
    // --cgroup/--container: /proc/PID/cgroup, read before anything else of the process
    if (opts.cgroup && !inCgroup(pid, opts.cgroup)) continue;
    const st = readStatus(pid);
    if (!st || st.values.VmSize === undefined) continue;
    const v = st.values;
    const rss = v.VmRSS ?? 0;
    const p: ProcMem = {
      pid,
      user: userName(st.uid),
      comm: st.name,
      mem: (100 * rss) / total,
      vszKb: v.VmSize ?? 0,
      rssKb: rss,
      swapKb: v.VmSwap ?? 0,
      anonKb: v.RssAnon ?? 0,
      fileKb: v.RssFile ?? 0,
      shmemKb: v.RssShmem ?? 0,
      command: readCmdline(pid, st.name),
      container: containerLabel(containerOfPid(pid)),
    };
    if (opts.pss) {
      const r = readSmapsRollup(pid);
      if (r) p.pssKb = r.Pss;
    }
    out.push(p);
  }
  return out;
}

const SORT_KEYS = ['rss', 'vsz', 'mem', 'pss', 'swap'] as const;
type SortKey = (typeof SORT_KEYS)[number];

export function sortProcesses(ps: ProcMem[], key: SortKey): ProcMem[] {
  const val = (p: ProcMem) => (key === 'vsz' ? p.vszKb : key === 'pss' ? (p.pssKb ?? 0) : key === 'swap' ? p.swapKb : p.rssKb);
  return [...ps].sort((a, b) => val(b) - val(a) || a.pid - b.pid);
}

export function formatProcesses(ps: ProcMem[], width = 200): string[] {
  const pss = ps.some((p) => p.pssKb !== undefined);
  const heads = ['PID', 'USER', '%MEM', 'VSZ', 'RSS', ...(pss ? ['PSS'] : []), 'SWAP', 'CONTAINER', 'COMMAND'];
  const rows = ps.map((p) => [p.pid, p.user, p.mem.toFixed(1), p.vszKb, p.rssKb, ...(pss ? [p.pssKb ?? '-'] : []), p.swapKb, p.container, procpsArgs(p.command)]);
  const lines = formatTable(heads, rows, heads.map((h) => h !== 'USER' && h !== 'COMMAND' && h !== 'CONTAINER'));
  return lines.map((l) => (l.length > width ? l.slice(0, width - 3) + '...' : l));
}

export const tool: Tool<CommonOptions & { sort: SortKey; top?: number; pss: boolean }> = {
  name: 'ps',
  summary: 'processes by memory: %MEM, VSZ, RSS, PSS, swap (ps)',
  configure(cmd) {
    cmd.addOption(new Option('-s, --sort <KEY>', 'sort by rss, vsz, mem (%MEM), pss or swap, largest first').choices(SORT_KEYS as unknown as string[]).default('rss'));
    cmd.option('-n, --top <N>', 'only the N largest', parseCount);
    cmd.option('--no-pss', 'skip PSS (reading smaps_rollup costs a little per process)');
    addCommonOptions(cmd, ['json', 'cgroup']);
    cmd.addHelpText(
      'after',
      '\nSizes in kB. RSS counts shared pages in full for each process; PSS divides them among the\n' +
        'processes sharing them, so PSS sums to the memory really used. Kernel threads are not listed.\n' +
        examples([
          ['memscope ps -n 10', 'the 10 largest by RSS'],
          ['memscope ps -s swap -n 5', 'the 5 with the most swapped-out memory'],
          ['memscope ps --json', 'one JSON object per process'],
          ['memscope ps --container web', 'the processes of the container named web'],
        ]),
    );
  },
  async run(opts: CommonOptions & { sort: SortKey; top?: number; pss: boolean }) {
    const cgroup = cgroupFilterOf(opts);
    let ps = sortProcesses(processMemory({ pss: opts.pss || opts.sort === 'pss', cgroup }), opts.sort);
    if (opts.top) ps = ps.slice(0, opts.top);
    if (opts.json) {
      for (const p of ps) printJson({ ...p, mem: Math.round(p.mem * 100) / 100, container: p.container === '-' ? null : p.container });
      return;
    }
    process.stdout.write(formatProcesses(ps, process.stdout.isTTY ? process.stdout.columns || 200 : 400).join('\n') + '\n');
  },
};
