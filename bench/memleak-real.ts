// SPDX-License-Identifier: Apache-2.0
// bench:memleak-real — memleak -p --sample-bytes on real programs (issue 17): the outstanding bytes
// at a leak site as the in-process sampler, attached to the running program, estimates them,
// against valgrind memcheck and heaptrack (and memscope's exact uprobe mode), and the CPU time each
// adds to the program's work, all in one run, rounds interleaved. Programs:
//   python3 (Debian's, PYTHONMALLOC=malloc): bench/memleak_real.py, keep_blocks() keeps 2000
//     bytearray(4096) amid churn that makes and frees bytearrays of the same size at the same C
//     site (PyByteArray_Resize), dicts and strings; its loop's CPU time measured inside it;
//   redis-server with glibc's malloc (built from Debian's source, bench/lib/redis-libc.ts): after
//     the attach, redis-cli --pipe SETs KEYS keys of 1000-byte values (kept) amid SET+DEL of other
//     keys; the site is the values' sds (_sdsnewlen under createRawStringObject); the server's CPU
//     time over the load read from /proc.
// Reference tools see the program from its start; memscope attaches before the measured work, so
// all of them see the same leak.
//
//   node dist/bench/memleak-real.js  (npm run bench:memleak-real; BENCH_RUNS=N rounds, default 5;
//   BENCH_REDIS_RUNS, default min(BENCH_RUNS, 3);
//   BENCH_SAMPLE_BYTES, default 64k, or a list (64k,1m: one sampler mode per rate, in the same
//   rounds); BENCH_ONLY=python|redis; BENCH_MODES=alone,sampler,... to run only some of the tools:
//   the untraced reference always runs)
// For each sampler rate it also says where the added CPU goes: the samples the program sent (runs
// of memleak's sampled_alloc and sampled_free programs, kernel.bpf_stats_enabled on during the
// work), the time BPF took for them, and memscope's own CPU over the work (its consumer, which on
// this 2-CPU machine competes with the program for the CPUs).
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { aptInstall, groupCpuMs, launch, Launched, progRuns, runsBetween, summarize, which, withBpfStats } from './lib';
import { redisLibc } from './lib/redis-libc';
import { formatTable } from '../src/render/table';
import { ROOT } from '../test/lib/workloads';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
/** redis rounds take longer (valgrind and uprobes on 140,000 commands): fewer by default */
const REDIS_RUNS = Math.max(1, Number(process.env.BENCH_REDIS_RUNS ?? Math.min(RUNS, 3)));
const SAMPLE_RATES = (process.env.BENCH_SAMPLE_BYTES ?? '64k').split(',').map((x) => x.trim());
const MEMSCOPE = path.join(ROOT, 'bin', 'memscope');
const PYTHON = '/usr/bin/python3';
const PY_ARGS = [path.join(ROOT, 'bench', 'memleak_real.py'), '4096', '2000', '20', '10'];
const KEYS = Number(process.env.BENCH_REDIS_KEYS ?? 20000);
const VALUE = 1000;
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-memleak-real-'));

/** 'sampler:RATE' is memleak -p --sample-bytes RATE */
type Mode = 'alone' | `sampler:${string}` | 'uprobes' | 'valgrind' | 'heaptrack';
const ALL_MODES: Mode[] = ['alone', ...SAMPLE_RATES.map((r): Mode => `sampler:${r}`), 'uprobes', 'valgrind', 'heaptrack'];
const ASKED = process.env.BENCH_MODES?.split(',').map((x) => x.trim());
const MODES = ALL_MODES.filter((m) => m === 'alone' || !ASKED || ASKED.includes(m.replace(/:.*/, '')));
const rateOf = (m: Mode): string | undefined => (m.startsWith('sampler:') ? m.slice('sampler:'.length) : undefined);
const LABELS: Record<string, string> = {
  alone: 'untraced',
  uprobes: 'memscope memleak -p (uprobes, exact)',
  valgrind: 'valgrind memcheck --leak-check=full',
  heaptrack: 'heaptrack (preloaded from the start)',
};
const label = (m: Mode): string => (rateOf(m) ? `memscope memleak -p --sample-bytes ${rateOf(m)}` : LABELS[m]);
/** memleak's programs on the sampler's two hooks */
const SAMPLER_PROGS = ['sampled_alloc', 'sampled_free'];
interface Result {
  cpuMs: number;
  /** outstanding bytes at the leak site, by this tool */
  site?: number;
  pauseMs?: number;
  /** sampler modes, over the measured work: runs of sampled_alloc and sampled_free, their BPF
   * time, and memscope's own CPU time */
  samples?: number;
  freeLists?: number;
  bpfMs?: number;
  toolCpuMs?: number;
}
/** A leak site: the function names of a stack, innermost first (allocator frames included or not). */
type Site = (fns: string[]) => boolean;
const pySite: Site = (f) => f.slice(0, 2).includes('PyByteArray_Resize');
const redisSite: Site = (f) => {
  // createRawStringObject is inlined into createStringObject: a frame-pointer walk sees the latter
  const i = f.slice(0, 8).findIndex((x) => /^create(Raw)?StringObject$/.test(x));
  return i > 0 && f.slice(0, i).some((x) => /sdsnewlen$/.test(x));
};

class Proc {
  out = '';
  readonly exited: Promise<void>;
  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    this.exited = new Promise((r) => child.on('close', () => r()));
  }
  async waitFor(re: RegExp, timeoutMs = 600_000): Promise<RegExpExecArray> {
    const t0 = Date.now();
    for (;;) {
      const m = re.exec(this.out);
      if (m) return m;
      if (this.child.exitCode !== null) throw new Error(`exited before ${re}: ${this.out.slice(-300)}`);
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${re}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** How a mode starts the program: [cmd, args] around the program's own command line. */
function wrap(mode: Mode, tag: string, cmd: string, args: string[]): [string, string[]] {
  if (mode === 'valgrind')
    return ['valgrind', ['--tool=memcheck', '--leak-check=full', '--show-leak-kinds=all', '--num-callers=10', `--log-file=${TMP}/${tag}.vg`, cmd, ...args]];
  if (mode === 'heaptrack') return ['heaptrack', ['-o', `${TMP}/${tag}.ht`, cmd, ...args]];
  return [cmd, args];
}

/** memscope attached to pid (sampler or uprobes), ready, with the ids of the programs it loaded. */
async function memscope(mode: Mode, pid: number): Promise<{ tool?: Launched; progs: Set<number> }> {
  const rate = rateOf(mode);
  if (!rate && mode !== 'uprobes') return { progs: new Set() };
  const extra = rate ? ['--sample-bytes', rate] : [];
  const before = new Set(progRuns().keys());
  const tool = await launch({ cmd: MEMSCOPE, args: ['memleak', '--json', '-o', '0', '-T', '1000', '-p', String(pid), ...extra, '3600'], ready: /Hit Ctrl-C/ });
  return { tool, progs: new Set([...progRuns().keys()].filter((id) => !before.has(id))) };
}

/** Runs the measured work; for a sampler mode, with BPF statistics on, and notes what it cost. */
async function measured<T>(mode: Mode, tool: Launched | undefined, progs: Set<number>, work: () => Promise<T>): Promise<[T, Partial<Result>]> {
  if (!rateOf(mode) || !tool) return [await work(), {}];
  return withBpfStats(async () => {
    const r0 = progRuns();
    const c0 = groupCpuMs(tool.pgid);
    const out = await work();
    const runs = runsBetween(r0, progRuns(), progs, SAMPLER_PROGS);
    const toolCpuMs = groupCpuMs(tool.pgid) - c0;
    const a = runs.get('sampled_alloc')!;
    const f = runs.get('sampled_free')!;
    return [out, { samples: a.runCnt, freeLists: f.runCnt, bpfMs: (a.runTimeNs + f.runTimeNs) / 1e6, toolCpuMs }];
  });
}

async function memscopeSite(tool: Launched, site: Site): Promise<{ site: number; pauseMs?: number }> {
  const r = await tool.stop('SIGINT');
  const recs = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { report: number; bytes: number; ustack: string[] });
  const last = Math.max(0, ...recs.map((x) => x.report));
  const fns = (x: { ustack: string[] }) => x.ustack.map((f) => f.replace(/\+0x[0-9a-f]+ .*$| \[.*$/, ''));
  const bytes = recs.filter((x) => x.report === last && site(fns(x))).reduce((s, x) => s + x.bytes, 0);
  const pause = /thread \d+ stopped ([\d.]+) ms/.exec(r.stderr);
  return { site: bytes, pauseMs: pause ? Number(pause[1]) : undefined };
}

/** Bytes outstanding at exit at the site, from valgrind's loss records (reachable ones included). */
function valgrindSite(log: string, site: Site): number {
  let total = 0;
  for (const rec of fs.readFileSync(log, 'utf8').split(/\n==\d+== \n/)) {
    const m = /([\d,]+) bytes in [\d,]+ blocks are [^\n]* in loss record/.exec(rec);
    if (!m) continue;
    const fns = [...rec.matchAll(/(?:at|by) 0x[0-9A-F]+: (\S+)/g)].map((x) => x[1]).filter((f) => !/^(malloc|calloc|realloc)$/.test(f));
    if (site(fns)) total += Number(m[1].replace(/,/g, ''));
  }
  return total;
}

/** Bytes heaptrack found never freed at the site (its flame-graph output of leaked bytes, exact). */
function heaptrackSite(file: string, site: Site): number {
  const folded = `${file}.folded`;
  spawnSync('heaptrack_print', ['-f', file, '-p', '0', '-a', '0', '-T', '0', '--flamegraph-cost-type', 'leaked', '-F', folded], { stdio: 'ignore' });
  let total = 0;
  for (const line of fs.readFileSync(folded, 'utf8').split('\n')) {
    const m = /^(.*) (\d+)$/.exec(line);
    if (!m) continue;
    const fns = m[1]
      .split(';')
      .filter(Boolean)
      .reverse()
      .map((f) => f.replace(/ \(.*\)$/, ''));
    if (site(fns)) total += Number(m[2]);
  }
  return total;
}

async function python(mode: Mode, round: number): Promise<Result> {
  const tag = `py-${mode}-${round}`;
  const [cmd, args] = wrap(mode, tag, PYTHON, PY_ARGS);
  const w = new Proc(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONMALLOC: 'malloc' } }));
  let tool: Launched | undefined;
  try {
    await w.waitFor(/^ready$/m);
    const ms = await memscope(mode, w.child.pid!);
    tool = ms.tool;
    const [m, cost] = await measured(mode, tool, ms.progs, () => {
      w.child.stdin!.write('go\n');
      return w.waitFor(/loop_ms [\d.]+ cpu_ms ([\d.]+)/);
    });
    const res: Result = { cpuMs: Number(m[1]), ...cost };
    if (tool) Object.assign(res, await memscopeSite(tool, pySite));
    tool = undefined;
    w.child.stdin!.end(); // it leaves with os._exit: the kept blocks stay outstanding at exit
    await w.exited;
    if (mode === 'valgrind') res.site = valgrindSite(`${TMP}/${tag}.vg`, pySite);
    if (mode === 'heaptrack') res.site = heaptrackSite(`${TMP}/${tag}.ht.zst`, pySite);
    return res;
  } finally {
    if (tool) await tool.stop('SIGKILL');
    w.child.kill('SIGKILL');
  }
}

/** The redis-cli --pipe input: per round of 1000 keys, 1000 kept SETs then 3000 SET+DEL of others. */
function redisLoad(): string {
  const file = path.join(TMP, 'redis-load.resp');
  const val = 'v'.repeat(VALUE);
  const cmd = (...a: string[]) => `*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`;
  const parts: string[] = [];
  for (let r = 0; r < KEYS / 1000; r++) {
    for (let i = 0; i < 1000; i++) parts.push(cmd('SET', `key:${r * 1000 + i}`, val));
    for (let i = 0; i < 3000; i++) parts.push(cmd('SET', `tmp:${i}`, val), cmd('DEL', `tmp:${i}`));
  }
  fs.writeFileSync(file, parts.join(''));
  return file;
}

function procCpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, clock ticks of 10 ms
}

function cli(port: number, args: string[], input?: string): string {
  const r = spawnSync('redis-cli', ['-p', String(port), ...args], {
    encoding: 'utf8',
    input: input !== undefined ? fs.readFileSync(input) : undefined,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

async function redis(bin: string, load: string, mode: Mode, round: number): Promise<Result> {
  const tag = `redis-${mode}-${round}`;
  const port = 20000 + Math.floor(Math.random() * 20000);
  const [cmd, args] = wrap(mode, tag, bin, ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1']);
  const w = new Proc(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: TMP }));
  let tool: Launched | undefined;
  try {
    await w.waitFor(/Ready to accept connections/);
    const pid = Number(/process_id:(\d+)/.exec(cli(port, ['info', 'server']))![1]);
    const ms = await memscope(mode, pid);
    tool = ms.tool;
    const [cpuMs, cost] = await measured(mode, tool, ms.progs, async () => {
      const c0 = procCpuMs(pid);
      cli(port, ['--pipe'], load);
      return procCpuMs(pid) - c0;
    });
    const res: Result = { cpuMs, ...cost };
    if (tool) Object.assign(res, await memscopeSite(tool, redisSite));
    tool = undefined;
    cli(port, ['shutdown', 'nosave']);
    await w.exited;
    if (mode === 'valgrind') res.site = valgrindSite(`${TMP}/${tag}.vg`, redisSite);
    if (mode === 'heaptrack') res.site = heaptrackSite(`${TMP}/${tag}.ht.zst`, redisSite);
    return res;
  } finally {
    if (tool) await tool.stop('SIGKILL');
    w.child.kill('SIGKILL');
  }
}

function report(name: string, truth: string, results: Map<Mode, Result[]>, missing: Map<Mode, string>, runs: number): string[] {
  const med = (m: Mode, f: (r: Result) => number | undefined) => {
    const xs = (results.get(m) ?? []).map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
    return xs.length ? summarize(xs).median : NaN;
  };
  const base = med('alone', (r) => r.cpuMs);
  // the least CPU time of each mode: a busy machine (other programs on the sibling CPU, cache
  // misses) only ever adds to a round's time, so the minimum is the steadier figure under load
  const least = (m: Mode) => Math.min(...(results.get(m) ?? []).map((r) => r.cpuMs));
  const baseMin = least('alone');
  const vg = med('valgrind', (r) => r.site);
  const exact = med('uprobes', (r) => r.site);
  const pct = (x: number, ref: number) => (Number.isFinite(x) && ref > 0 ? `${x >= ref ? '+' : ''}${((100 * (x - ref)) / ref).toFixed(1)}%` : '-');
  const rows = MODES.map((m) => {
    const rs = results.get(m) ?? [];
    if (missing.has(m) || !rs.length) return [label(m), '0', '-', '-', '-', '-', '-', '-', missing.get(m) ?? 'no runs'];
    const cpu = med(m, (r) => r.cpuMs);
    const site = med(m, (r) => r.site);
    const each = rs.map((r) => (r.site !== undefined ? pct(r.site, vg) : '')).filter(Boolean);
    return [
      label(m),
      String(rs.length),
      cpu.toFixed(0),
      `${(cpu / base).toFixed(2)}x`,
      `${(least(m) / baseMin).toFixed(2)}x`,
      Number.isFinite(site) ? String(Math.round(site)) : '-',
      pct(site, vg),
      pct(site, exact),
      rateOf(m) ? each.join(' ') : '',
    ];
  });
  const samplers = MODES.filter((m) => rateOf(m) && results.get(m)?.length);
  const pauses = samplers.flatMap((m) => results.get(m)!.map((r) => r.pauseMs)).filter((x): x is number => x !== undefined);
  // where the sampler's added CPU goes: its samples' BPF time, against the untraced work; the rest
  // is the trap of each sample (an optimized uprobe: a call and a syscall), the shim's own work
  // and what the machine's load adds to a round
  const costs = samplers.map((m) => {
    const samples = med(m, (r) => r.samples);
    const lists = med(m, (r) => r.freeLists);
    const bpf = med(m, (r) => r.bpfMs);
    const tool = med(m, (r) => r.toolCpuMs);
    const added = med(m, (r) => r.cpuMs) - base;
    return (
      `  ${label(m)}: ${Math.round(samples)} samples + ${Math.round(lists)} free lists over the work (medians), ` +
      `BPF ${bpf.toFixed(1)} ms (${((1000 * bpf) / Math.max(1, samples + lists)).toFixed(1)} us each, ${((100 * bpf) / base).toFixed(1)}% of the untraced CPU), ` +
      `of ${added.toFixed(0)} ms added (medians); memscope's own CPU over the work ${tool.toFixed(0)} ms`
    );
  });
  return [
    `${name}: ${truth}; CPU time of the measured work (medians of ${runs} interleaved rounds; min x min: the least over the least) and outstanding bytes at the site`,
    ...formatTable(['', 'n', 'cpu ms', 'x untraced', 'min x min', 'site bytes (median)', 'vs valgrind', 'vs uprobes', 'each sampler run vs valgrind'], rows, [
      false,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      false,
    ]).map((l) => `  ${l.trimEnd()}`),
    ...costs,
    pauses.length ? `  sampler attach pause: median ${summarize(pauses).median.toFixed(1)} ms (${pauses.length} attaches)` : '',
    '',
  ];
}

async function main(): Promise<void> {
  spawnSync('make', ['-s', '-C', path.join(ROOT, 'shim')], { stdio: 'inherit' });
  const missing = new Map<Mode, string>();
  for (const [m, pkg, c] of [
    ['valgrind', 'valgrind', 'valgrind'],
    ['heaptrack', 'heaptrack', 'heaptrack_print'],
  ] as const) {
    const err = which(c) ? null : aptInstall([pkg]);
    if (err) missing.set(m, err);
  }
  const only = process.env.BENCH_ONLY;
  // each program's table is printed as soon as it is done: a long run interrupted keeps what it measured
  const print = (lines: string[]) => process.stdout.write(lines.join('\n') + '\n');
  const load = () =>
    os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ');
  print([`bench:memleak-real, ${new Date().toISOString()}, load average ${load()}`, '']);
  if (!only || only === 'python') {
    const res = new Map<Mode, Result[]>();
    for (let round = 1; round <= RUNS; round++)
      for (const m of MODES) {
        if (missing.has(m)) continue;
        process.stderr.write(`bench: python round ${round}/${RUNS}: ${label(m)}\n`);
        const r = await python(m, round);
        process.stderr.write(`bench: python ${m}: cpu ${r.cpuMs.toFixed(1)} ms${r.samples !== undefined ? `, ${r.samples} samples, BPF ${r.bpfMs!.toFixed(1)} ms, memscope ${r.toolCpuMs} ms` : ''}\n`);
        (res.get(m) ?? res.set(m, []).get(m)!).push(r);
      }
    print(
      report(
        'python3 (PYTHONMALLOC=malloc)',
        'keep_blocks() keeps 2000 x bytearray(4096) = 2000 x malloc(4097) = 8,194,000 B at PyByteArray_Resize',
        res,
        missing,
        RUNS,
      ),
    );
  }
  if (!only || only === 'redis') {
    const r = redisLibc();
    const cliErr = which('redis-cli') ? null : aptInstall(['redis-tools']);
    if ('error' in r || cliErr) print([`redis: not run: ${'error' in r ? `cannot build redis-server with MALLOC=libc: ${r.error}` : cliErr}`, '']);
    else {
      const input = redisLoad();
      const res = new Map<Mode, Result[]>();
      for (let round = 1; round <= REDIS_RUNS; round++)
        for (const m of MODES) {
          if (missing.has(m)) continue;
          process.stderr.write(`bench: redis round ${round}/${REDIS_RUNS}: ${label(m)}\n`);
          const x = await redis(r.bin, input, m, round);
          process.stderr.write(`bench: redis ${m}: cpu ${x.cpuMs.toFixed(1)} ms${x.pauseMs !== undefined ? `, attach pause ${x.pauseMs} ms` : ''}${x.samples !== undefined ? `, ${x.samples} samples, BPF ${x.bpfMs!.toFixed(1)} ms, memscope ${x.toolCpuMs} ms` : ''}\n`);
          (res.get(m) ?? res.set(m, []).get(m)!).push(x);
        }
      print(
        report(
          `redis-server (MALLOC=libc)`,
          `${KEYS} SETs of ${VALUE}-byte values kept amid ${(3 * KEYS).toLocaleString('en')} SET+DEL of others; site: the values' sds`,
          res,
          missing,
          REDIS_RUNS,
        ),
      );
    }
  }
  print([
    `load average at the end ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  ]);
}

main()
  .catch((e) => {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(() => fs.rmSync(TMP, { recursive: true, force: true }));
