// SPDX-License-Identifier: Apache-2.0
// bench:faults — what tracing every page fault costs the faulting program (issue 4, Performance):
// a C workload touches 2 GiB of fresh pages (one fault per 4 KiB page) alone, under memscope faults,
// ffaults and hfaults, and under the chapter's bpftrace one-liners, in the same run, interleaved.
// Each tracer starts the workload itself (-c) and traces that process only (memscope: -c sets its
// pid filter; bpftrace: /pid == cpid/), so the comparison is per traced fault, the other processes
// of a busy machine do not fill the tools' maps, and tracer start-up is not in the figures.
// The workload times its touching loop itself, in wall time and in its own CPU time (user + kernel:
// the fault handler and the BPF program run on each fault are in it, waiting for a CPU on a busy
// machine is not). Per-fault cost = (traced − alone) / faults. Target: memscope's per-fault cost
// below bpftrace's.
//
// bpftrace has no kprobes here and no bpf_find_vma, so it cannot say which file a fault hit; the
// closest it gets to ffaults is counting faults by process name (@[comm]), which is reported as
// the reference for ffaults and hfaults: it is the least any bpftrace fault tool can cost.
//
// The kernel's own per-program statistics (kernel.bpf_stats_enabled, switched on for the run and
// restored) give a second, much less noisy figure: time in the tool's BPF programs per fault.
//
//   node dist/bench/faults.js   (BENCH_RUNS=N runs, default 3; BENCH_MIB=M MiB per pass, default 2048;
//                                BENCH_BPF_STATS=0: leave kernel.bpf_stats_enabled alone;
//                                BENCH_ONLY=REGEX: only the tracers whose names match)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BENCH_BUILD, ensureBpftrace, ratioTable, Series, summarize, targetLines } from './lib';
import { formatTable } from '../src/render/table';
import { ROOT } from '../test/lib/workloads';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const MIB = Math.max(16, Number(process.env.BENCH_MIB ?? 2048));
/** Passes over fresh memory per workload run (each maps, touches, unmaps). */
const PASSES = 2;
const MEMSCOPE = path.join(ROOT, 'bin', 'memscope');
const BASELINE = 'alone';

interface Contender {
  name: string;
  /** The tracer's command line running `workload` (a shell command line) under -c; none: alone. */
  argv?: (workload: string) => string[];
  env?: NodeJS.ProcessEnv;
  /** The tool's report shows the workload's faults (pages × passes); a line saying why not, or null. */
  proof?: (out: string, faults: number) => string | null;
  missing?: string;
}

interface Sample {
  wallNs: number;
  cpuNs: number;
}

function buildWorkload(): string {
  const src = path.join(ROOT, 'bench', 'faults_workload.c');
  const bin = path.join(BENCH_BUILD, 'faults_workload');
  fs.mkdirSync(BENCH_BUILD, { recursive: true });
  if (!fs.existsSync(bin) || fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs) {
    execFileSync('gcc', ['-O2', '-g', '-fno-omit-frame-pointer', '-o', bin, src], { stdio: 'inherit' });
  }
  return bin;
}

/** BPF programs a process holds (their ids, from its fds). */
function heldPrograms(pid: number): number[] {
  const ids = new Set<number>();
  let fds: string[] = [];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const m = /^prog_id:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      /* closed meanwhile */
    }
  }
  return [...ids];
}

/** Kernel-measured time in BPF programs (kernel.bpf_stats_enabled): total ns and runs. */
function programStats(ids: number[]): { ns: number; runs: number } {
  let ns = 0;
  let runs = 0;
  for (const id of ids) {
    const r = spawnSync('bpftool', ['-j', 'prog', 'show', 'id', String(id)], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const p = JSON.parse(r.stdout) as { run_time_ns?: number; run_cnt?: number };
    ns += p.run_time_ns ?? 0;
    runs += p.run_cnt ?? 0;
  }
  return { ns, runs };
}

interface Run {
  samples: Sample[];
  pages: number;
  out: string;
  err: string;
  /** Time the kernel counted in the tracer's BPF programs, and their runs, once the workload was done. */
  bpf?: { ns: number; runs: number };
}

/** Runs the workload, alone or under a tracer; one sample per pass, the tracer's output and, read
 * when the workload is done but before it exits (the tracer's programs still loaded), the time the
 * kernel counted in its BPF programs. */
async function runWorkload(bin: string, c: Contender, stats: boolean): Promise<Run> {
  const workload = `${bin} ${MIB} ${PASSES} wait`;
  const [cmd, ...args] = c.argv ? c.argv(workload) : [bin, String(MIB), String(PASSES)];
  // the workload inherits stdin from the tracer (-c): a line there lets it exit
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...c.env } });
  let out = '';
  let err = '';
  let bpf: Run['bpf'];
  let released = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (!released && /^done$/m.test(out)) {
      released = true;
      if (stats) bpf = programStats(heldPrograms(child.pid!));
      child.stdin.end('\n');
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  if (!c.argv) child.stdin.end();
  const kill = setTimeout(() => child.kill('SIGKILL'), 900_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(kill);
  if (code !== 0) throw new Error(`${c.name}: exit ${code ?? signal}: ${err.trim().split('\n').slice(-1)[0]}`);
  let pages = 0;
  const samples: Sample[] = [];
  for (const m of out.matchAll(/^pages=(\d+) ns=(\d+) cpu_ns=(\d+)$/gm)) {
    pages = Number(m[1]);
    samples.push({ wallNs: Number(m[2]), cpuNs: Number(m[3]) });
  }
  if (samples.length !== PASSES) throw new Error(`${c.name}: the workload printed ${samples.length} of ${PASSES} passes: ${err}`);
  return { samples, pages, out, err, bpf };
}

/** Sum of the counts of the workload's process name in a bpftrace map printed as `@[..., comm]: N`
 * or `@[comm]: N`. */
function bpftraceCommCount(out: string): number {
  let sum = 0;
  for (const m of out.matchAll(/faults_workload\]: (\d+)/g)) sum += Number(m[1]);
  return sum;
}

const atLeast = (what: string, got: number, want: number, slack = 0) =>
  got >= want - slack ? null : `${what}: ${got} faults attributed, expected at least ${want}${slack ? ` (less ${slack})` : ''}`;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: must run as root (it loads BPF programs)\n');
    process.exit(1);
  }
  const bin = buildWorkload();
  const bt = ensureBpftrace();
  const memscope = (tool: string, proof: Contender['proof']): Contender => ({
    name: `memscope ${tool}`,
    argv: (w) => [MEMSCOPE, tool, '-v', '-c', w],
    proof,
  });
  const contenders: Contender[] = [
    { name: BASELINE },
    memscope('faults', (out, n) => {
      // the text report: frames (2 spaces), "comm [pid]" and the count (4 spaces)
      let sum = 0;
      for (const m of out.matchAll(/^ {2}touch_pages\+0x[0-9a-f]+ \[faults_workload\]\n(?: {2}.*\n)*? {4}faults_workload \[\d+\]\n {4}(\d+)$/gm)) sum += Number(m[1]);
      // a fault or two of touch_pages' first page may come with another stack
      return atLeast('faults, touch_pages stacks', sum, n, 16);
    }),
    memscope('ffaults', (out, n) => {
      // [vma busy]: lookups another BPF user of the page-fault event made impossible at that instant
      const anon = Number(/^ *(\d+) \[anon\]$/m.exec(out)?.[1] ?? 0);
      const busy = Number(/^ *(\d+) \[vma busy\]$/m.exec(out)?.[1] ?? 0);
      return atLeast(`ffaults, [anon] (${anon}) and [vma busy] (${busy})`, anon + busy, n);
    }),
    memscope('hfaults', (out) => (/faults_workload/.test(out) ? 'hfaults counted ordinary pages as huge' : null)),
    ...(['@[ustack, comm]', '@[comm]'] as const).map((key): Contender => {
      const name = `bpftrace ${key}`;
      if (!bt.ok) return { name, missing: bt.reason };
      return {
        name,
        argv: (w) => ['bpftrace', '-c', w, '-e', `software:page-faults:1 /pid == cpid/ { ${key} = count(); }`],
        proof: (out, n) => atLeast(name, bpftraceCommCount(out), n),
      };
    }),
  ];
  // BENCH_ONLY=REGEX: only the contenders whose names match (and the workload alone)
  const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : null;
  const live = contenders.filter((c) => !c.missing && (!only || c.name === BASELINE || only.test(c.name)));

  // the kernel's per-program run time: enabled for this run (it is a system-wide switch: a few ns
  // more per BPF program run for everyone while on), restored after; BENCH_BPF_STATS=0 leaves it off
  const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';
  const statsBefore = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
  const stats = process.env.BENCH_BPF_STATS !== '0';
  const restoreStats = () => fs.writeFileSync(STATS_SYSCTL, statsBefore);
  if (stats) {
    fs.writeFileSync(STATS_SYSCTL, '1');
    process.on('exit', restoreStats);
  }
  const bpfNs = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const bpfAvg = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const loadBefore = os.loadavg()[0].toFixed(2);
  process.stderr.write(`bench: ${RUNS} runs × ${PASSES} passes of ${MIB} MiB under: ${live.map((c) => c.name).join(', ')}\n`);
  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
  const proofs = new Map<string, string[]>(contenders.map((c) => [c.name, []]));
  const sources = new Map<string, string>();
  let pages = 0;
  for (let run = 1; run <= RUNS; run++) {
    // rotated each run, so no tool always runs right after another (or first, on fresh memory)
    const order = live.map((_, i) => live[(i + run - 1) % live.length]);
    for (const c of order) {
      const w = await runWorkload(bin, c, stats);
      pages = w.pages;
      if (w.bpf && w.bpf.runs > 0) {
        bpfNs.get(c.name)!.push(w.bpf.ns / (w.pages * PASSES));
        bpfAvg.get(c.name)!.push(w.bpf.ns / w.bpf.runs);
      }
      samples.get(c.name)!.push(...w.samples);
      const bad = c.proof?.(w.out, w.pages * PASSES);
      if (bad) proofs.get(c.name)!.push(bad);
      for (const m of w.err.matchAll(/^memscope: (.*): using (.*)$/gm)) sources.set(c.name, `${m[1]}: ${m[2]}`);
    }
    process.stderr.write(`bench: run ${run}/${RUNS} done\n`);
  }
  if (stats) restoreStats();

  const med = (name: string, f: (s: Sample) => number) => summarize((samples.get(name) ?? []).map(f)).median;
  const series = (f: (s: Sample) => number): Series[] =>
    contenders.map((c) => ({ name: c.name, samples: (samples.get(c.name) ?? []).map(f), missing: c.missing }));
  const aloneCpu = med(BASELINE, (s) => s.cpuNs);
  const aloneWall = med(BASELINE, (s) => s.wallNs);
  /** Per-fault cost in ns: the traced median minus the alone median, per fault. */
  const perFault = (name: string, f: (s: Sample) => number, base: number) => (med(name, f) - base) / pages;

  const out: string[] = [];
  out.push(
    `page-fault tracing overhead — ${os.release()}, ${os.cpus().length} CPUs, load ${loadBefore} → ${os.loadavg()[0].toFixed(2)}; ` +
      `${RUNS} runs × ${PASSES} passes of ${MIB} MiB (${pages} faults per pass)`,
    `  ${bt.ok ? spawnSync('bpftrace', ['--version'], { encoding: 'utf8' }).stdout.trim() : `bpftrace: ${bt.reason}`}`,
    ...[...sources].map(([n, s]) => `  ${n}: ${s}`),
    '',
  );
  out.push(...ratioTable("workload CPU time per pass (its own thread: user + kernel, BPF included)", 'ms', BASELINE, series((s) => s.cpuNs / 1e6)), '');
  out.push(...ratioTable('workload wall time per pass', 'ms', BASELINE, series((s) => s.wallNs / 1e6)), '');
  const rows = contenders.filter((c) => c.name !== BASELINE).map((c) => {
    if (c.missing) return [c.name, '-', '-', c.missing];
    return [c.name, perFault(c.name, (s) => s.cpuNs, aloneCpu).toFixed(0), perFault(c.name, (s) => s.wallNs, aloneWall).toFixed(0), ''];
  });
  out.push('added cost per fault: (traced median − alone median) / faults; BPF ns: the kernel\'s own count of');
  out.push('time in the tool\'s programs per workload fault (includes the cheap runs for other processes\' faults');
  out.push('that the pid filter drops), and per program run');
  const medOf = (xs: number[] | undefined) => summarize(xs ?? []).median;
  rows.forEach((r) => {
    const name = String(r[0]);
    r.splice(3, 0, stats ? medOf(bpfNs.get(name)).toFixed(0) : '-', stats ? medOf(bpfAvg.get(name)).toFixed(0) : '-');
  });
  out.push(
    ...formatTable(['', 'CPU ns', 'wall ns', 'BPF ns/fault', 'BPF ns/run', ''], rows, [false, true, true, true, true, false]).map((l) => `  ${l.trimEnd()}`),
    '',
  );
  out.push(
    `proof: each report attributes the workload's ${pages * PASSES} faults (hfaults: none, they are not huge pages): ` +
      live
        .filter((c) => c.proof)
        .map((c) => `${c.name} ${RUNS - proofs.get(c.name)!.length}/${RUNS}`)
        .join(', '),
  );
  for (const [name, bad] of proofs) for (const b of new Set(bad)) out.push(`  ${name}: ${b}`);
  out.push('');

  // the kernel's measure where there is one (the workload's CPU time is noisy on a busy machine:
  // costs below its spread come out as ~0), else the workload's CPU time
  const cost = (name: string) => (stats ? medOf(bpfNs.get(name)) : perFault(name, (s) => s.cpuNs, aloneCpu));
  const ratio = (a: string, b: string) => cost(b) / Math.max(cost(a), 1);
  out.push(`targets (per-fault cost${stats ? ' in BPF programs' : ' in workload CPU time'}, ratio bpftrace / memscope; > 1 means memscope costs less):`);
  out.push(
    ...targetLines([
      { what: 'memscope faults vs bpftrace @[ustack, comm]', value: ratio('memscope faults', 'bpftrace @[ustack, comm]'), atLeast: 1, unit: 'x' },
      { what: 'memscope ffaults vs bpftrace @[comm] (bpftrace cannot name the file)', value: ratio('memscope ffaults', 'bpftrace @[comm]'), atLeast: 1, unit: 'x' },
      { what: 'memscope hfaults vs bpftrace @[comm]', value: ratio('memscope hfaults', 'bpftrace @[comm]'), atLeast: 1, unit: 'x' },
    ]),
  );
  if (!stats) out.push('  (a cost within the noise of the alone runs shows as ~0 ns: compare the min/max columns above)');
  else out.push('  (BPF ns leaves out what happens around the program: the perf event or tracepoint dispatch and, for');
  if (stats) out.push('   bpf_find_vma and build-id stacks, the irq_work interrupt each call queues: the CPU ns column has those)');
  for (const c of contenders.filter((c) => c.missing)) out.push(`  ${c.name} not measured: ${c.missing}`);
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
