// oomlog: OOM kills found in the kernel log (dmesg's view, parsed): who invoked the OOM killer,
// the constraint and cgroup, the victim with its sizes, and the Mem-Info summary.
import * as fs from 'node:fs';
import { addCommonOptions, CommonOptions } from './options';
import { MemscopeError } from '../core/errors';
import { LogLine, parseKernelLog, readKmsg } from '../procfs/kmsg';
import { uptimeSeconds } from '../procfs/vmstat';
import { printJson } from '../render/json';
import { humanKb } from '../render/units';
import { examples, Tool } from './tool';

export interface OomEvent {
  /** Seconds since boot of the "invoked oom-killer" line. */
  time?: number;
  /** ISO wall-clock time, for events read from this boot's /dev/kmsg. */
  wallclock?: string;
  /** Seconds ago, for events read from this boot's /dev/kmsg. */
  ageSeconds?: number;
  invoker: { comm: string; pid?: number; gfpMask?: string; order?: number; oomScoreAdj?: number };
  constraint?: string;
  /** The memory cgroup whose limit was hit (CONSTRAINT_MEMCG), else the victim's cgroup. */
  cgroup?: string;
  taskCgroup?: string;
  victim?: {
    pid: number;
    comm: string;
    totalVmKb?: number;
    anonRssKb?: number;
    fileRssKb?: number;
    shmemRssKb?: number;
    score?: number;
    oomScoreAdj?: number;
  };
  /** "memory: usage 65536kB, limit 65536kB, failcnt 79" */
  memcg?: { usageKb: number; limitKb: number; failcnt: number };
  /** The Mem-Info block (global OOM), counts in pages. */
  memInfo?: Record<string, number>;
  /** Tasks in the report's table. */
  tasks?: number;
  /** The largest tasks of the table by rss (pages). */
  topTasks?: { pid: number; comm: string; rssPages: number; totalVmPages: number }[];
}

const kb = (s: string | undefined) => (s === undefined ? undefined : Number(s));

/** Finds every OOM kill report in kernel log lines; old (4.x "Kill process ... or sacrifice child") and current formats. */
export function parseOomEvents(lines: LogLine[]): OomEvent[] {
  const events: OomEvent[] = [];
  let ev: OomEvent | null = null;
  let inMemInfo = false;
  let taskCols: string[] | null = null;
  let taskRows: { pid: number; comm: string; rssPages: number; totalVmPages: number }[] = [];

  const closeTable = () => {
    if (ev && taskCols) {
      ev.tasks = taskRows.length;
      ev.topTasks = taskRows.sort((a, b) => b.rssPages - a.rssPages).slice(0, 5);
    }
    taskCols = null;
    taskRows = [];
  };

  for (const { time, text } of lines) {
    const inv = /^(.+?) invoked oom-killer: gfp_mask=(0x[0-9a-f]+(?:\([^)]*\))?),(?: nodemask=\S+,)? order=(-?\d+), oom_score_adj=(-?\d+)/.exec(text);
    if (inv) {
      closeTable();
      ev = { time, invoker: { comm: inv[1], gfpMask: inv[2], order: Number(inv[3]), oomScoreAdj: Number(inv[4]) } };
      events.push(ev);
      inMemInfo = false;
      continue;
    }
    if (!ev) continue;

    const cpu = /^CPU: \d+ (?:UID: \d+ )?PID: (\d+) Comm: (.+?) (?:Not tainted|Tainted)/.exec(text);
    if (cpu && ev.invoker.pid === undefined && cpu[2] === ev.invoker.comm) {
      ev.invoker.pid = Number(cpu[1]);
      continue;
    }
    if (text === 'Mem-Info:') {
      inMemInfo = true;
      ev.memInfo = {};
      continue;
    }
    if (inMemInfo) {
      const pairs = [...text.matchAll(/(\w+):(\d+)/g)];
      if (pairs.length && /^\s*(\w+:\d+\s*)+$/.test(text)) {
        for (const p of pairs) ev.memInfo![p[1]] = Number(p[2]);
        continue;
      }
      inMemInfo = false;
    }
    const mc = /^memory: usage (\d+)kB, limit (\d+)kB, failcnt (\d+)/.exec(text);
    if (mc) {
      ev.memcg = { usageKb: Number(mc[1]), limitKb: Number(mc[2]), failcnt: Number(mc[3]) };
      continue;
    }
    // 4.x: "Task in /a killed as a result of limit of /b"
    const task = /^Task in (\S+) killed as a result of limit of (\S+)/.exec(text);
    if (task) {
      ev.taskCgroup = task[1];
      ev.cgroup = task[2];
      ev.constraint ??= 'CONSTRAINT_MEMCG';
      continue;
    }
    const head = /^\[\s*pid\s*\]\s+(.*)$/.exec(text);
    if (head) {
      taskCols = head[1].trim().split(/\s+/);
      continue;
    }
    if (taskCols) {
      const row = /^\[\s*(\d+)\]\s+(.*)$/.exec(text);
      if (row) {
        const f = row[2].trim().split(/\s+/);
        const col = (n: string) => Number(f[taskCols!.indexOf(n)]);
        taskRows.push({ pid: Number(row[1]), comm: f.slice(taskCols.length - 1).join(' '), rssPages: col('rss'), totalVmPages: col('total_vm') });
        continue;
      }
      closeTable();
    }
    const ok = /^oom-kill:(.*)$/.exec(text);
    if (ok) {
      const kv = Object.fromEntries(ok[1].split(',').map((p) => p.split('=') as [string, string]));
      ev.constraint = kv.constraint;
      ev.cgroup = kv.oom_memcg ?? kv.task_memcg;
      ev.taskCgroup = kv.task_memcg;
      if (kv.pid) ev.victim = { ...(ev.victim ?? {}), pid: Number(kv.pid), comm: kv.task };
      continue;
    }
    const pick = /Kill process (\d+) \((.*)\) score (\d+) or sacrifice child/.exec(text);
    if (pick) {
      ev.victim = { ...(ev.victim ?? {}), pid: Number(pick[1]), comm: pick[2], score: Number(pick[3]) };
      continue;
    }
    const killed = /Killed process (\d+) \((.*?)\),? total-vm:(\d+)kB, anon-rss:(\d+)kB, file-rss:(\d+)kB(?:, shmem-rss:(\d+)kB)?(?:.*oom_score_adj:(-?\d+))?/.exec(text);
    if (killed) {
      closeTable();
      ev.victim = {
        ...(ev.victim ?? {}),
        pid: Number(killed[1]),
        comm: killed[2],
        totalVmKb: kb(killed[3]),
        anonRssKb: kb(killed[4]),
        fileRssKb: kb(killed[5]),
        shmemRssKb: kb(killed[6]),
        ...(killed[7] !== undefined ? { oomScoreAdj: Number(killed[7]) } : {}),
      };
      if (!ev.constraint && /^Memory cgroup out of memory/.test(text)) ev.constraint = 'CONSTRAINT_MEMCG';
      ev = null; // the report ends with the kill
      continue;
    }
  }
  closeTable();
  return events;
}

function mb(kbv: number | undefined): string {
  return kbv === undefined ? '?' : humanKb(kbv);
}

export function formatOomEvent(e: OomEvent): string[] {
  const when = [e.time !== undefined ? `[${e.time.toFixed(6)}]` : '', e.wallclock ? e.wallclock.replace('T', ' ').slice(0, 19) + ' UTC' : '']
    .filter(Boolean)
    .join(' ');
  const out = [`${when ? when + ' ' : ''}OOM kill${e.constraint ? ` (${e.constraint}${e.cgroup ? `, cgroup ${e.cgroup}` : ''})` : ''}`];
  const inv = e.invoker;
  out.push(
    `  invoked by:  ${inv.comm}${inv.pid !== undefined ? ` (PID ${inv.pid})` : ''}${inv.gfpMask ? `, gfp_mask=${inv.gfpMask}` : ''}${inv.order !== undefined ? `, order=${inv.order}` : ''}`,
  );
  if (e.victim) {
    const v = e.victim;
    out.push(
      `  killed:      ${v.comm} (PID ${v.pid}) total-vm ${mb(v.totalVmKb)}, anon-rss ${mb(v.anonRssKb)}, file-rss ${mb(v.fileRssKb)}` +
        (v.shmemRssKb !== undefined ? `, shmem-rss ${mb(v.shmemRssKb)}` : '') +
        (v.score !== undefined ? `, score ${v.score}` : ''),
    );
  } else {
    out.push('  killed:      (no victim line: the report is incomplete or nothing was killed)');
  }
  if (e.memcg) out.push(`  memcg:       usage ${mb(e.memcg.usageKb)} of limit ${mb(e.memcg.limitKb)}, failcnt ${e.memcg.failcnt}`);
  if (e.memInfo) {
    const m = e.memInfo;
    const pg = (k: string) => (m[k] === undefined ? '?' : mb(m[k] * 4));
    out.push(
      `  Mem-Info:    free ${pg('free')}, active_anon ${pg('active_anon')}, inactive_anon ${pg('inactive_anon')}, ` +
        `file ${mb(((m.active_file ?? 0) + (m.inactive_file ?? 0)) * 4)}, shmem ${pg('shmem')}, slab ${mb(((m.slab_reclaimable ?? 0) + (m.slab_unreclaimable ?? 0)) * 4)}`,
    );
  }
  if (e.topTasks?.length) {
    out.push(`  tasks:       ${e.tasks} in the report; largest by rss: ` + e.topTasks.slice(0, 3).map((t) => `${t.comm} (${t.pid}) ${mb(t.rssPages * 4)}`).join(', '));
  }
  return out;
}

export const tool: Tool = {
  name: 'oomlog',
  summary: 'OOM kills in the kernel log: invoker, constraint, cgroup, victim and sizes (dmesg)',
  configure(cmd) {
    cmd.option('-f, --file <FILE>', "read a saved kernel log (dmesg, journalctl -k or /dev/kmsg text; '-' for stdin) instead of /dev/kmsg");
    addCommonOptions(cmd, ['json']);
    cmd.addHelpText(
      'after',
      '\nReads every record still in the kernel log buffer without waiting for new ones.\n' +
        examples([
          ['memscope oomlog', 'OOM kills since boot (as far as the log buffer reaches)'],
          ['memscope oomlog -f /var/log/kern.log', 'from a saved log'],
          ['dmesg | memscope oomlog -f -', 'from stdin'],
          ['memscope oomlog --json', 'one JSON object per OOM kill'],
        ]),
    );
  },
  async run(opts: CommonOptions & { file?: string }) {
    let lines: LogLine[];
    let live = false;
    if (opts.file !== undefined) {
      let text: string;
      try {
        text = fs.readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
      } catch (e) {
        throw new MemscopeError(`cannot read ${opts.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      lines = parseKernelLog(text);
    } else {
      lines = readKmsg();
      live = true;
    }
    const events = parseOomEvents(lines);
    if (live) {
      const up = uptimeSeconds();
      const now = Date.now();
      for (const e of events) {
        if (e.time === undefined) continue;
        e.ageSeconds = Math.max(0, Math.round((up - e.time) * 10) / 10);
        e.wallclock = new Date(now - e.ageSeconds * 1000).toISOString();
      }
    }
    if (opts.json) {
      for (const e of events) printJson(e);
      return;
    }
    if (events.length === 0) {
      process.stdout.write(`No OOM kills in ${opts.file !== undefined ? (opts.file === '-' ? 'the input' : opts.file) : 'the kernel log'}.\n`);
      return;
    }
    const out: string[] = [];
    for (const e of events) out.push(...formatOomEvent(e), '');
    out.push(`${events.length} OOM kill${events.length === 1 ? '' : 's'} found.`);
    process.stdout.write(out.join('\n') + '\n');
  },
};
