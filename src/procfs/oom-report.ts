// SPDX-License-Identifier: Apache-2.0
// OOM kill reports in kernel log lines, parsed into records (oomlog prints them; oomkill and
// triage add them to what they saw).
import type { LogLine } from './kmsg';

// the record type is shared with the readers of oomlog --json and triage (core/records.ts)
import type { OomEvent } from '../core/records';
export type { OomEvent };

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
