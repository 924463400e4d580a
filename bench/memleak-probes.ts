// SPDX-License-Identifier: Apache-2.0
// bench:memleak-probes — where memleak -p's added time goes (issue 16): the time the traced loop
// adds per malloc/free pair, and the part of it spent in BPF programs (kernel.bpf_stats_enabled,
// run_time_ns / run_cnt per program; no PMU here, so `bpftool prog profile` is unavailable), for
// memscope memleak -p and BCC's memleak-bpfcc -p in the same run. What is not BPF is the uprobe
// and uretprobe traps themselves, measured alone in the same rounds (a uprobe whose program only
// counts, on malloc and on free's first instruction). bpf_stats is switched on only while the loop
// runs (it adds two clock reads to every BPF program on the machine) and off again, whatever happens.
//
//   node dist/bench/memleak-probes.js    (BENCH_RUNS=N rounds, default 2; BENCH_TRAP_PAIRS pairs)
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBcc, memleakWorkload, summarize } from './lib';
import { ROOT } from '../test/lib/workloads';

delete process.env.NODE_EXTRA_CA_CERTS; // as bench:verbs: read at every Node start here, not by users
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 2));
const N = Number(process.env.BENCH_TRAP_PAIRS ?? 200_000);
const STATS = '/proc/sys/kernel/bpf_stats_enabled';

function waitFor(p: ChildProcess, re: RegExp, timeoutMs = 300_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${re}`)), timeoutMs);
    const on = (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) done(undefined, m);
    };
    const exit = () => done(new Error(`exited before ${re}: ${out.slice(-300)}`));
    const done = (e?: Error, m?: RegExpExecArray) => {
      clearTimeout(timer);
      p.stdout?.off('data', on);
      p.stderr?.off('data', on);
      p.off('exit', exit);
      if (e) reject(e);
      else resolve(m!);
    };
    p.stdout?.on('data', on);
    p.stderr?.on('data', on);
    p.on('exit', exit);
  });
}

interface Sample {
  perPairUs: number;
  bpfNs: Map<string, number>;
}

/** The loop's CPU per pair and BPF ns per run of each program that ran at least once per pair. */
async function one(tracer: ((pid: number) => ChildProcess) | undefined, ready: RegExp, names = /./): Promise<Sample> {
  const w = spawn(memleakWorkload(), [String(N)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let t: ChildProcess | undefined;
  try {
    await waitFor(w, /ready/);
    if (tracer) {
      t = tracer(w.pid!);
      await waitFor(t, ready);
      await new Promise((r) => setTimeout(r, 2000)); // BCC prints its line before its last uprobe
    }
    fs.writeFileSync(STATS, '1');
    let m: RegExpExecArray;
    let progs: { name?: string; run_cnt?: number; run_time_ns?: number }[] = [];
    try {
      w.stdin!.write('go\n');
      m = await waitFor(w, /loop_ms ([\d.]+) cpu_ms ([\d.]+)/);
      if (t) progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 }));
    } finally {
      fs.writeFileSync(STATS, '0');
    }
    const bpfNs = new Map<string, number>();
    // the tracer's programs (by name: another tool's may run about as often) run about once per pair
    for (const p of progs)
      if (p.name && names.test(p.name) && (p.run_cnt ?? 0) >= N * 0.9 && (p.run_cnt ?? 0) <= N * 1.1) bpfNs.set(p.name, p.run_time_ns! / p.run_cnt!);
    return { perPairUs: (Number(m[2]) * 1000) / N, bpfNs };
  } finally {
    if (t) {
      t.kill('SIGINT');
      await new Promise((r) => t!.once('close', r));
    }
    w.stdin!.end();
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('must run as root');
  const bcc = ensureBcc();
  const memscope = (pid: number) =>
    spawn(path.join(ROOT, 'bin', 'memscope'), ['memleak', '--json', '-o', '0', '-p', String(pid), '3600'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const bccTool = (pid: number) =>
    spawn('/usr/sbin/memleak-bpfcc', ['-p', String(pid), '3600'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...bcc.env } });
  // the traps alone: one uprobe whose program only counts (memscope count), on malloc (its first
  // instruction, a push, is emulated: memleak's kind of trap) and on free's first instruction (a
  // test, stepped out of line: BCC's free probe; memleak probes free past it)
  const trap = (fn: string) => (pid: number) =>
    spawn(path.join(ROOT, 'bin', 'memscope'), ['count', '-p', String(pid), `c:${fn}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const res: Record<string, Sample[]> = { alone: [], memscope: [], bcc: [], 'trap malloc': [], 'trap free+0': [] };
  for (let r = 0; r < RUNS; r++) {
    process.stderr.write(`bench: round ${r + 1}/${RUNS}\n`);
    res.alone.push(await one(undefined, /$/));
    res.memscope.push(await one(memscope, /Hit Ctrl-C/, /^(malloc_enter|alloc_return|free_enter)$/));
    if (bcc.ok) res.bcc.push(await one(bccTool, /Attaching to pid/, /^(malloc_enter|malloc_exit|free_enter)$/));
    res['trap malloc'].push(await one(trap('malloc'), /Hit Ctrl-C/, /^count_uprobe$/));
    res['trap free+0'].push(await one(trap('free'), /Hit Ctrl-C/, /^count_uprobe$/));
  }
  const alone = summarize(res.alone.map((s) => s.perPairUs)).median;
  const out = [`memleak -p per malloc/free pair — ${os.release()}, ${os.cpus().length} CPUs, ${N} pairs, ${RUNS} rounds (medians)`, ''];
  const added: Record<string, number> = {};
  for (const name of ['memscope', 'bcc', 'trap malloc', 'trap free+0']) {
    const runs = res[name];
    if (!runs.length) {
      out.push(`${name}: not run (${bcc.reason})`);
      continue;
    }
    added[name] = summarize(runs.map((s) => s.perPairUs)).median - alone;
    const progs = [...new Set(runs.flatMap((s) => [...s.bpfNs.keys()]))];
    const ns = progs.map((p) => [p, summarize(runs.map((s) => s.bpfNs.get(p) ?? NaN).filter(Number.isFinite)).median] as const);
    const bpf = ns.reduce((a, [, v]) => a + v, 0) / 1000;
    out.push(
      `${name}: ${added[name].toFixed(2)} us added per pair; in BPF ${bpf.toFixed(2)} us (${ns.map(([p, v]) => `${p} ${v.toFixed(0)} ns`).join(', ')}); traps and the rest ${(added[name] - bpf).toFixed(2)} us`,
    );
  }
  out.push('', `workload alone: ${alone.toFixed(2)} us per pair`);
  if (added.memscope !== undefined && added.bcc !== undefined)
    out.push(`memscope's added time: ${(added.memscope / added.bcc).toFixed(2)}x BCC's (target <= 0.25x)`);
  if (added.bcc !== undefined && added['trap malloc'] !== undefined) {
    // memleak traps twice per pair (malloc, free past its test; both emulated) and returns once
    // through the uretprobe trampoline: that much is added with no BPF at all
    const floor = 2 * added['trap malloc'];
    out.push(`two emulated traps with a trivial program (memleak's floor): ${floor.toFixed(2)} us, ${(floor / added.bcc).toFixed(2)}x BCC's`);
  }
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((e: unknown) => {
  try {
    fs.writeFileSync(STATS, '0');
  } catch {
    /* not root */
  }
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
