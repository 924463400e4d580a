// SPDX-License-Identifier: Apache-2.0
// The life of one tracing run, the same for every tool: check privileges, open the object, set
// its constants, choose event sources, load, attach, trace until Ctrl-C / SIGTERM / the duration /
// the target's exit, print the summary, and detach everything whatever happened.
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { BpfObject, ConstValue } from './bpf-object';
import { execLast } from './command-line';
import { MemscopeError } from '../core/errors';
import { native } from './native';
import { decodeProcNote } from './proc-note';
import { phaseTimer } from './timing';
import { escapeText } from '../core/escape';
import { LongTimer, setLongInterval, setLongTimeout } from './timers';
import type { ProbeGroup } from './sources';
import type { CommonOptions } from '../core/options';
import { checkTarget } from './target';
import type { Symbolizer } from '../symbols/symbolizer';

export type StopReason = 'signal' | 'duration' | 'target-exited' | 'count';

export interface TraceSpec {
  /** bpf/NAME.bpf.c */
  bpf: string;
  /** -p may name a kernel thread: the tool traces kernel events (engine/target.ts). */
  kernelThreads?: boolean;
  groups: ProbeGroup[];
  opts: CommonOptions;
  /** `const volatile` globals; targ_tgid is set from -p/-c automatically. */
  consts?: Record<string, ConstValue>;
  /** "Tracing brk() calls" — printed to stderr with "... Hit Ctrl-C to end." once attached. */
  banner?: string;
  duration?: number;
  interval?: number;
  count?: number;
  /** Records each newly seen process's mappings (announced by ms_note_process in BPF). */
  symbolizer?: Symbolizer;
  /** Before load: size maps, anything else libbpf allows only then. */
  configure?: (obj: BpfObject) => void;
  /** After load, before attach: open ring buffers, seed maps. */
  setup?: (obj: BpfObject) => void;
  /** After attach: extra attachments (uprobes) that need the loaded object. */
  attach?: (obj: BpfObject, pid: number | undefined) => unknown;
  /** -c: environment variables for the command only (not for the shell that holds it at the gate),
   * e.g. LD_PRELOAD of an in-process sampler. */
  commandEnv?: Record<string, string>;
  /** Every interval, when an interval is given. */
  tick?: (obj: BpfObject, n: number) => void | Promise<void>;
  /** The summary; runs once, before detach. */
  finish: (obj: BpfObject, reason: StopReason) => void | Promise<void>;
}

export function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new MemscopeError('must run as root (BPF tracing needs CAP_BPF and CAP_PERFMON): try sudo memscope ...');
  }
}

/**
 * Starts `command` held at a gate, so probes can be attached before its first instruction. The
 * command line is run by /bin/sh as a shell runs it, its last command with `exec` so the program
 * replaces the gate shell in the traced pid (command-line.ts).
 */
function spawnGated(command: string, env: Record<string, string> = {}): { child: ChildProcess; release: () => void } {
  const script = execLast(command);
  const exports = Object.entries(env)
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'; `)
    .join('');
  // the line is passed as $1 and run with eval: no quoting of it here can go wrong
  const child = spawn('/bin/sh', ['-c', `read _ <&3; exec 3<&-; ${exports}eval "$1"`, 'sh', script], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
  });
  const gate = child.stdio[3] as NodeJS.WritableStream;
  return { child, release: () => gate.end('go\n') };
}

/** Exit statuses of a shell whose command could not be run (POSIX: 127 not found, 126 not executable). */
const NOT_RUN = new Set([126, 127]);

function isAlive(pid: number): boolean {
  try {
    // a zombie still answers kill(0); its /proc stat state says Z
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/s.test(stat);
  } catch { // no /proc/PID: the process is gone
    return false;
  }
}

export async function runTrace(spec: TraceSpec): Promise<void> {
  const timing = phaseTimer(); // MEMSCOPE_TIMING=1: phase durations on stderr
  requireRoot();
  const cgroup = checkTarget(spec.opts, { kernelThreads: spec.kernelThreads });
  if (spec.opts.verbose) native().setVerbose(true);

  let gated: ReturnType<typeof spawnGated> | undefined;
  let targetPid = spec.opts.pid;
  const obj = BpfObject.open(spec.bpf);
  timing.mark('open');
  try {
    if (spec.opts.command !== undefined) {
      gated = spawnGated(spec.opts.command, spec.commandEnv);
      targetPid = gated.child.pid;
    }
    for (const [k, v] of Object.entries(spec.consts ?? {})) obj.setConst(k, v);
    if (targetPid !== undefined) obj.setConst('targ_tgid', targetPid);
    // --cgroup/--container: filtered in BPF on the current task's cgroup (memscope.h ms_cgroup_traced)
    if (cgroup) {
      obj.setConst('targ_cgid', cgroup.id);
      obj.setConst('targ_cg_level', cgroup.level);
      obj.setConst('targ_cg_v2', cgroup.v2);
    }
    obj.selectSources(spec.groups, spec.opts.source);
    if (spec.opts.verbose) {
      for (const c of obj.chosen) process.stderr.write(`memscope: ${c.group.what}: using ${c.source.name}\n`);
    }
    spec.configure?.(obj);
    timing.mark('prepare');
    obj.load();
    timing.mark('load');
    const symbolizer = spec.symbolizer;
    if (symbolizer) {
      obj.onRecords('ms_new_procs', (recs) => recs.forEach((r) => symbolizer.observe(...decodeProcNote(r))));
      if (targetPid !== undefined && spec.opts.pid !== undefined) symbolizer.observe(targetPid);
    }
    spec.setup?.(obj);
    obj.attachChosen();
    await spec.attach?.(obj, targetPid);
    timing.mark('attach');
    timing.print();

    let ticking: Promise<void> | undefined;
    const reason = await new Promise<StopReason>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      const longTimers: LongTimer[] = []; // durations and intervals of any length (timers.ts)
      let done = false;
      const stop = (r: StopReason) => {
        if (done) return;
        done = true;
        timers.forEach((t) => clearInterval(t));
        longTimers.forEach((t) => t.clear());
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        resolve(r);
      };
      const onSignal = () => stop('signal');
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      // signal handlers do not keep Node's event loop alive: a tool with no ring buffer, interval
      // or duration (ffaults, hfaults until Ctrl-C) would otherwise exit at once, summary unprinted
      timers.push(setInterval(() => {}, 1 << 30));
      if (spec.duration) longTimers.push(setLongTimeout(() => stop('duration'), spec.duration * 1000));
      if (spec.interval && spec.tick) {
        let n = 0;
        let busy = false;
        longTimers.push(
          setLongInterval(async () => {
            if (busy || done) return;
            busy = true;
            n++;
            ticking = Promise.resolve(spec.tick!(obj, n));
            await ticking;
            busy = false;
            if (spec.count && n >= spec.count) stop('count');
          }, spec.interval * 1000),
        );
      }
      if (gated) {
        gated.child.on('exit', () => setTimeout(() => stop('target-exited'), 50));
      } else if (targetPid !== undefined) {
        const pid = targetPid;
        timers.push(setInterval(() => !isAlive(pid) && stop('target-exited'), 200));
      }
      // always, on stderr: stdout carries only the report (tables, JSON, folded stacks) for pipes,
      // and tests and scripts wait for this line to know tracing has begun
      process.stderr.write(`${escapeText(spec.banner ?? 'Tracing')}${spec.duration ? ` for ${spec.duration} s` : ''}... Hit Ctrl-C to end.\n`);
      gated?.release();
    });

    // an interval's report still being built (it awaits: the sample ring's last deliveries, naming)
    // ends before the last one starts: the two would share the tool's readers, and the object
    // would be destroyed under it
    await ticking;
    timing.mark('trace');
    // -c: the shell could not run the command (it said why on stderr): no report, its status
    const status = gated?.child.exitCode;
    if (reason === 'target-exited' && status != null && NOT_RUN.has(status)) {
      obj.detach();
      throw new MemscopeError(`-c: the command could not be run (the shell's exit status ${status}): ${spec.opts.command}`, status);
    }
    // a second Ctrl-C during a long summary ends at once (the exit hook still detaches)
    process.once('SIGINT', () => process.exit(130));
    // stop events first and deliver the ring buffers' last records: the summary then covers
    // exactly the traced period
    obj.detach();
    // nothing more comes: the rings' pages (the sample ring: 64 MiB) and the C heap's free space
    // are given back before the report is built, so they do not add to its peak (ARCHITECTURE.md
    // "Memory bound")
    obj.closeRings();
    native().trimMemory();
    timing.mark('detach');
    await spec.finish(obj, reason);
    const lost = obj.readGlobalU64('lost_events');
    if (lost > 0n) process.stderr.write(`memscope: ${lost} events were dropped (a map or ring buffer was full)\n`);
    timing.mark('finish');
  } finally {
    obj.destroy();
    timing.mark('close');
    timing.print();
  }
}
