// SPDX-License-Identifier: Apache-2.0
// Timing a tracer's life from the outside: launch → attached, SIGINT → exit, peak RSS.
// "Attached" is proven by the kernel, not taken from the tool's word: build/bench/attach-wait polls
// the tool's fds with BPF_TASK_FD_QUERY until one carries a BPF program on the named tracepoint
// (tools print their ready line at different moments: bpftrace's "Attaching N probes..." comes
// before it attaches). The ready line is timed too. Each tool runs under build/bench/rusage-run
// (wait4 rusage: the true peak RSS, including the summary printed at exit) in a process group of
// its own, and SIGINT goes to that group, as a terminal's Ctrl-C does.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { helperBinary } from './install';

export interface LaunchSpec {
  cmd: string;
  args: string[];
  /** Added to the environment. */
  env?: NodeJS.ProcessEnv;
  /** What the tool prints (stdout or stderr) once it is attached and tracing. */
  ready: RegExp;
  /** What the tool attaches to, one of which proves it is tracing; launch waits for it as well as
   * for `ready`: tracepoint names ("sys_enter_brk"; a tp_btf/raw one by its name), a uprobe's file
   * path, or "perf_event" for a software perf event (see bench/lib/attach-wait.c). */
  attachedTo?: string[];
  /** Give up waiting for `ready` after this long (default 120 s: BCC compiles with clang first). */
  timeoutMs?: number;
}

export interface Stopped {
  /** SIGINT → the process (and its wrapper) exited, ms. */
  exitMs: number;
  code: number | null;
  /** Peak resident set size of the tool, KiB (wait4 rusage). */
  maxRssKb: number;
  /** CPU time (user + system) the tool used over its whole life, ms (wait4 rusage). */
  cpuMs: number;
  stdout: string;
  stderr: string;
}

export interface Launched {
  /** Launch → the ready line seen, ms. */
  readyMs: number;
  /** Launch → the kernel shows the program attached (NaN without `attachedTo`), ms. */
  attachedMs: number;
  /** CPU time (all threads) the tool had used when it was seen attached, ms: less sensitive than
   * wall time to what else the machine is running. */
  attachedCpuMs: number;
  /** The tool's process group (the wrapper's pid): groupCpuMs(pgid) reads its CPU while it runs. */
  pgid: number;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` to the tool's process group and waits for it to exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Stopped>;
}

const now = () => performance.now();

/** Starts a tool and resolves once its ready line appears; rejects if it exits or times out first. */
export function launch(spec: LaunchSpec): Promise<Launched> {
  const wrapper = helperBinary('rusage-run');
  const rusageFile = path.join(os.tmpdir(), `bench-rusage-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const t0 = now();
  const t0ns = process.hrtime.bigint(); // CLOCK_MONOTONIC, as attach-wait prints it
  const child = spawn(wrapper, [rusageFile, spec.cmd, ...spec.args], {
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, for the Ctrl-C-like SIGINT
  });
  let out = '';
  let err = '';
  let exitAt = 0;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      exitAt = now();
      resolve(code);
    }),
  );
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const timeoutMs = spec.timeoutMs ?? 120_000;
  let attachedMs = NaN;
  let attachedCpuMs = NaN;
  let attachSeen = !spec.attachedTo;
  let readyMs = NaN;
  if (spec.attachedTo) {
    const waiter = spawn(helperBinary('attach-wait'), [String(child.pid), String(timeoutMs), ...spec.attachedTo], { stdio: ['ignore', 'pipe', 'inherit'] });
    let line = '';
    waiter.stdout.setEncoding('utf8').on('data', (d: string) => (line += d));
    waiter.on('close', (code) => {
      if (code === 0) {
        const [at, , cpu] = line.trim().split(' ');
        attachedMs = Number(BigInt(at) - t0ns) / 1e6;
        attachedCpuMs = Number(cpu) / 1e6;
        attachSeen = true;
        check();
      } else fail(code === 2 ? 'exited before attaching' : `no BPF program on ${spec.attachedTo!.join(' or ')} within ${timeoutMs} ms`);
    });
  }

  let fail: (why: string) => void = () => {};
  let check: () => void = () => {};
  return new Promise<Launched>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => fail(`no ready line ${spec.ready} within ${timeoutMs} ms`), timeoutMs);
    fail = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      killGroup(child.pid!, 'SIGKILL');
      closed.then(() => fs.rmSync(rusageFile, { force: true }));
      const tail = (err || out).trim().split('\n').slice(-3).join(' | ');
      reject(new Error(`${spec.cmd}: ${why}${tail ? `: ${tail}` : ''}`));
    };
    check = (): void => {
      if (done) return;
      if (Number.isNaN(readyMs) && spec.ready.test(out + err)) readyMs = now() - t0;
      if (Number.isNaN(readyMs) || !attachSeen) return;
      done = true;
      clearTimeout(timer);
      resolve({
        readyMs,
        attachedMs,
        attachedCpuMs,
        pgid: child.pid!,
        stdout: () => out,
        stderr: () => err,
        async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 60_000): Promise<Stopped> {
          const ts = now();
          killGroup(child.pid!, signal);
          const hard = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), timeoutMs);
          const code = await exited;
          clearTimeout(hard);
          await closed;
          const exitMs = exitAt - ts;
          let maxRssKb = NaN;
          let cpuMs = NaN;
          try {
            const text = fs.readFileSync(rusageFile, 'utf8');
            maxRssKb = Number(/maxrss_kb (\d+)/.exec(text)?.[1] ?? NaN);
            cpuMs = Number(/cpu_us (\d+)/.exec(text)?.[1] ?? NaN) / 1000;
            fs.rmSync(rusageFile, { force: true });
          } catch {
            /* the wrapper was killed: no figure */
          }
          return { exitMs, code, maxRssKb, cpuMs, stdout: out, stderr: err };
        },
      });
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      check();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      check();
    });
    exited.then((code) => fail(`exited (code ${code}) before its ready line`));
  });
}

/** CPU time (user + system, in 10 ms ticks) of the live processes of a process group, ms. */
export function groupCpuMs(pgid: number): number {
  let ticks = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(f[2]) === pgid) ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks * 10;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

export interface RunResult {
  /** Launch → exit, ms. */
  wallMs: number;
  /** User + system CPU time, ms. */
  cpuMs: number;
  maxRssKb: number;
}

/** Runs a command to completion (throws on a non-zero exit): wall time, CPU time, peak RSS. */
export function runToExit(cmd: string, args: string[], env?: NodeJS.ProcessEnv): RunResult {
  const rusageFile = path.join(os.tmpdir(), `bench-rusage-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const t0 = now();
  const r = spawnSync(helperBinary('rusage-run'), [rusageFile, cmd, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const wallMs = now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-1)[0]}`);
  const text = fs.readFileSync(rusageFile, 'utf8');
  fs.rmSync(rusageFile, { force: true });
  return { wallMs, cpuMs: Number(/cpu_us (\d+)/.exec(text)?.[1] ?? NaN) / 1000, maxRssKb: Number(/maxrss_kb (\d+)/.exec(text)?.[1] ?? NaN) };
}

/** Peak RSS so far of a running process (VmHWM), KiB; NaN once it is gone. */
export function vmHwmKb(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}
