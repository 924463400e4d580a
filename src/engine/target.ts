// SPDX-License-Identifier: Apache-2.0
// The target of a trace (-p PID or -c CMD), checked before anything is loaded.
import * as fs from 'node:fs';
import { UsageError } from '../core/errors';
import type { CommonOptions } from '../core/options';
import { checkOutputPath } from '../core/output-file';
import { cgroupFilterOf, CgroupFilter } from '../containers/filter';

/** PF_KTHREAD (include/linux/sched.h), in /proc/PID/stat field 9 (flags). */
const PF_KTHREAD = 0x00200000;

export interface TargetRules {
  /** The tool traces kernel events, which kernel threads cause too (trace, count, stackcount,
   * drsnoop...): a kernel thread is a target. Otherwise it has no user memory and -p of it
   * could only ever trace nothing. */
  kernelThreads?: boolean;
}

/** What /proc says of a pid, or why it cannot be read. */
function readTask(pid: number): { tgid: number; name: string; kthread: boolean } {
  let status: string;
  let stat: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') throw new UsageError(`no process with PID ${pid} (is it still running?)`);
    if (code === 'EACCES' || code === 'EPERM') throw new UsageError(`PID ${pid}: permission denied reading /proc/${pid} (${code})`);
    throw new UsageError(`PID ${pid}: cannot read /proc/${pid}: ${code ?? (e as Error).message}`);
  }
  const tgid = Number(/^Tgid:\s+(\d+)/m.exec(status)?.[1] ?? pid);
  const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?';
  // comm may hold spaces and parentheses: fields start after the last ")"; flags is field 9
  const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
  return { tgid, name, kthread: (flags & PF_KTHREAD) !== 0 };
}

/**
 * Validates -p before anything is loaded: a clear line now beats a silent empty trace. -p of a
 * thread becomes its process (the BPF filters match the process id, the tgid, as BCC's -p does),
 * said on stderr.
 */
export function checkTarget(opts: CommonOptions, rules: TargetRules = {}): CgroupFilter | undefined {
  // output paths first: a trace whose result cannot be written is refused before it starts
  checkOutputPath(opts.svg, '--svg');
  checkOutputPath(opts.pprof, '--pprof');
  // an unknown cgroup or container is refused here, before anything is loaded
  const cgroup = cgroupFilterOf(opts);
  checkPid(opts, rules);
  return cgroup;
}

function checkPid(opts: CommonOptions, rules: TargetRules): void {
  if (opts.pid !== undefined && opts.command !== undefined) {
    throw new UsageError('-p and -c exclude each other: trace a running process or start one');
  }
  if (opts.pid === undefined) return;
  const task = readTask(opts.pid);
  if (task.kthread && !rules.kernelThreads) {
    throw new UsageError(`PID ${opts.pid} (${task.name.replace(/[^\x20-\x7e]/g, '?')}) is a kernel thread: it has no user memory to trace`);
  }
  if (task.tgid !== opts.pid) {
    process.stderr.write(`memscope: PID ${opts.pid} is a thread of process ${task.tgid}: tracing the process\n`);
    opts.pid = task.tgid;
  }
}
