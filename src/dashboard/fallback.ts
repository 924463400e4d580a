// SPDX-License-Identifier: Apache-2.0
// What the dashboard does when its host does not provide a source: traces on demand run the CLI
// tools as subprocesses (`memscope faults|memleak --json -p PID`, as triage does), and OOM kills
// come from the kernel log. The agent replaces these with its always-on collectors.
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { parseKernelLog, LogLine } from '../procfs/kmsg';
import { uptimeSeconds } from '../procfs/vmstat';
import { OomEvent, parseOomEvents } from '../procfs/oom-report';
import { JobKind, OomRecord, Profile, StackValue, TraceCallbacks, TraceHandle } from './types';

const CLI = path.join(__dirname, '..', 'cli.js');
/** a line of output longer than this is cut: a runaway subprocess cannot grow our memory */
const MAX_LINE = 1 << 20;
/** distinct stacks kept per report */
export const MAX_STACKS = 5000;

/** "touch_pages+0x2d [fault_touch]" → "touch_pages [fault_touch]": flame graphs merge by function */
export function frameName(f: string): string {
  return f.replace(/\+0x[0-9a-f]+(?= |$)/, '');
}

/** Tool records (innermost frame first) → root-first stacks summed by function. */
export function recordsToStacks(recs: { ustack?: string[]; kstack?: string[]; comm?: string; v: number; growth?: number }[]): StackValue[] {
  const byKey = new Map<string, StackValue>();
  for (const r of recs) {
    const frames = [...(r.kstack ?? []), ...(r.ustack ?? [])].map(frameName).reverse();
    if (r.comm) frames.unshift(r.comm);
    const key = frames.join('\0');
    const s = byKey.get(key);
    if (s) {
      s.value += r.v;
      if (r.growth !== undefined) s.growth = (s.growth ?? 0) + r.growth;
    } else if (byKey.size < MAX_STACKS) {
      byKey.set(key, { frames, value: r.v, ...(r.growth !== undefined ? { growth: r.growth } : {}) });
    }
  }
  return [...byKey.values()].sort((a, b) => b.value - a.value);
}

/** The fields of faults' and memleak's JSON records the dashboard reads. */
interface ToolRecord {
  report?: number;
  /** memleak: when the report was read (ms since the epoch), the time its growth is computed with */
  time_ms?: number;
  comm?: string;
  count?: number;
  bytes?: number;
  growth_bytes_per_sec?: number;
  ustack?: string[];
  kstack?: string[];
}

/** Runs `memscope faults|memleak --json -p PID` for `seconds`, reporting profiles as they come. */
export function subprocessTrace(kind: JobKind, pid: number, seconds: number, cb: TraceCallbacks): TraceHandle {
  const args =
    kind === 'faults'
      ? ['faults', '--json', '-p', String(pid), String(seconds)]
      : // -o 0: every outstanding byte, however young (the page shows exact outstanding bytes; BCC's
        // default -o 500 would hide the last half second's allocations). --combined-only keeps no
        // ages, so it never applied the default; said here so it stays so
        ['memleak', '--json', '--combined-only', '-o', '0', '-T', '1000', '-p', String(pid), '1', String(seconds)];
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let started = false;
  let report = 0;
  let batch: ToolRecord[] = [];
  const flush = () => {
    if (!batch.length) return;
    const unit: Profile['unit'] = kind === 'faults' ? 'faults' : 'bytes';
    const stacks = recordsToStacks(batch.map((r) => ({ ...r, v: (kind === 'faults' ? r.count : r.bytes) ?? 0, growth: r.growth_bytes_per_sec })));
    // memleak's own read time, so the page's report times are those its growth rates use
    cb.onProfile({ unit, stacks, t: batch[0].time_ms ?? Date.now() });
    batch = [];
  };
  const onLine = (l: string) => {
    if (!l.startsWith('{')) return;
    let r: ToolRecord;
    try {
      r = JSON.parse(l) as ToolRecord;
    } catch {
      return;
    }
    // memleak: one batch per report; a new report number closes the previous one
    if (r.report !== undefined && r.report !== report) {
      flush();
      report = r.report;
    }
    batch.push(r);
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      onLine(out.slice(0, nl));
      out = out.slice(nl + 1);
    }
    if (out.length > MAX_LINE) out = '';
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-4096);
    if (!started && /Hit Ctrl-C/.test(err)) {
      started = true;
      cb.onStart();
    }
  });
  child.on('close', (code) => {
    if (out) onLine(out);
    flush();
    const line = err.split('\n').find((l) => l.startsWith('memscope:') && !/events were dropped/.test(l));
    cb.onEnd(code === 0 ? undefined : (line ?? `exited with status ${code}`).replace(/^memscope: /, ''));
  });
  return {
    stop: () => {
      if (child.exitCode === null) child.kill('SIGINT');
    },
  };
}

/** OOM kills in the kernel log, as records; `boot` is the wall-clock ms of boot. */
export function oomFromKernelLog(lines: LogLine[], boot: number): OomRecord[] {
  return parseOomEvents(lines).map((e: OomEvent, i) => ({
    id: i + 1,
    t: e.time !== undefined ? Math.round(boot + e.time * 1000) : Date.now(),
    trigger: { comm: e.invoker.comm, pid: e.invoker.pid },
    victim: e.victim ? { pid: e.victim.pid, comm: e.victim.comm } : undefined,
    constraint: e.constraint,
    cgroup: e.cgroup ?? e.taskCgroup,
    limitKb: e.memcg?.limitKb,
    usageKb: e.memcg?.usageKb,
    rssKb: e.victim ? { anon: e.victim.anonRssKb, file: e.victim.fileRssKb, shmem: e.victim.shmemRssKb } : undefined,
  }));
}

export function bootTimeMs(): number {
  return Date.now() - uptimeSeconds() * 1000;
}

export { parseKernelLog };
