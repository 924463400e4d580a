// SPDX-License-Identifier: Apache-2.0
// bench:memleak-insns — what the sampler costs the malloc/free loop of bench:memleak, counted in
// instructions by valgrind's cachegrind: a figure the machine's load does not move (there is no
// PMU here for perf's counters; CPU-time medians under load 6-15 moved by +-10% between runs).
// Three states of the same workload, each run once under cachegrind:
//   alone      the workload untraced
//   -c         the sampler preloaded (LD_PRELOAD, MEMSCOPE_SAMPLE_BYTES), as memleak -c does
//   -p         the sampler dlopen'd, started with memscope_attach_begin and every module's allocator
//              slots pointed at it, as memleak -p --sample-bytes leaves the process (made from inside
//              by bench/lib/attach-state.c: valgrind's client cannot be ptrace-injected)
// The uprobes on the sampler's hooks are not in these counts (no memscope runs: the hooks are nops):
// bench:memleak-real measures them, in BPF time per sample. The counts include start-up (-p: its
// dlopen): each state is also run with no pair at all, and the table shows the difference.
//   node dist/bench/memleak-insns.js     (npm run bench:memleak-insns; BENCH_PAIRS=N, default 1000000)
// BENCH_BASELINE_SHIM=PATH adds a row for another build of the sampler, preloaded as -c does (an
// older one: before/after in the same run).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BENCH_BUILD, memleakWorkload, targetLines } from './lib';
import { findSlots } from '../src/tools/memleak/got';
import { formatTable } from '../src/render/table';
import { ROOT } from '../test/lib/workloads';

const N = Number(process.env.BENCH_PAIRS ?? 1_000_000);
const SAMPLE_BYTES = Number(process.env.BENCH_SAMPLE_BYTES ?? 1 << 20);
const SHIM = path.join(ROOT, 'build', 'shim', 'libmemscope_sampler.so');

function attachState(): string {
  const src = path.join(ROOT, 'bench', 'lib', 'attach-state.c');
  const so = path.join(BENCH_BUILD, 'attach-state.so');
  fs.mkdirSync(BENCH_BUILD, { recursive: true });
  if (!fs.existsSync(so) || fs.statSync(so).mtimeMs < fs.statSync(src).mtimeMs) {
    execFileSync('gcc', ['-O2', '-Wall', '-fPIC', '-shared', '-o', so, src], { stdio: 'inherit' });
  }
  return so;
}

interface Counts {
  ir: number;
  d1: number;
  ll: number;
  retained: number;
  slots: string[];
}

/** One run of the workload under cachegrind with these variables (env(1) sets them for the workload only). */
function cachegrind(vars: string[], pairs: number): Counts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-insns-'));
  try {
    const r = spawnSync(
      'valgrind',
      ['--tool=cachegrind', '--cache-sim=yes', `--cachegrind-out-file=${dir}/cg.%p`, '--trace-children=yes', 'env', ...vars, memleakWorkload(), String(pairs)],
      { input: 'go\n\n', encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    const last = (re: RegExp) => {
      const all = [...r.stderr.matchAll(re)];
      if (!all.length) throw new Error(`cachegrind printed no ${re}: ${r.stderr.slice(-300)}`);
      return Number(all[all.length - 1][1].replace(/,/g, ''));
    };
    const retained = /retained_bytes (\d+)/.exec(r.stdout);
    if (!retained) throw new Error(`the workload did not finish: ${r.stdout.slice(-200)} ${r.stderr.slice(-300)}`);
    return {
      ir: last(/I\s+refs:\s+([\d,]+)/g),
      d1: last(/D1\s+misses:\s+([\d,]+)/g),
      ll: last(/LL misses:\s+([\d,]+)/g),
      retained: Number(retained[1]),
      slots: [...r.stderr.matchAll(/attach-state: (\S+) slot of (\S+)/g)].map((m) => `${m[1]} in ${path.basename(m[2])}`),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The slots memscope itself would redirect (got.ts) in the workload, running natively. */
async function memscopeSlots(): Promise<string[]> {
  const w = spawn(memleakWorkload(), [String(N)], { stdio: ['pipe', 'pipe', 'ignore'] });
  try {
    await new Promise<void>((res, rej) => {
      w.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && res());
      w.on('exit', () => rej(new Error('the workload exited')));
    });
    return findSlots(w.pid!, SHIM).map((s) => `${s.fn} in ${path.basename(s.module)}`);
  } finally {
    w.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('valgrind is not installed (apt-get install valgrind)');
  execFileSync('make', ['-s', '-C', path.join(ROOT, 'shim')], { stdio: 'inherit' });
  const so = attachState();
  const runs: [string, string[]][] = [
    ['alone', []],
    ['-c (preloaded)', [`LD_PRELOAD=${SHIM}`, `MEMSCOPE_SAMPLE_BYTES=${SAMPLE_BYTES}`]],
    [
      '-p (attached)',
      [`LD_PRELOAD=${so}`, `MEMSCOPE_ATTACH_SHIM=${SHIM}`, `MEMSCOPE_ATTACH_BYTES=${SAMPLE_BYTES}`, `MEMSCOPE_ATTACH_EXE=${memleakWorkload()}`],
    ],
  ];
  const baseline = process.env.BENCH_BASELINE_SHIM;
  if (baseline) runs.splice(2, 0, [`-c baseline ${baseline}`, [`LD_PRELOAD=${baseline}`, `MEMSCOPE_SAMPLE_BYTES=${SAMPLE_BYTES}`]]);
  // each state also with no pair at all: the difference is the loop's, without start-up (-p's dlopen)
  const counts = new Map<string, Counts>();
  for (const [name, vars] of runs) {
    process.stderr.write(`bench: cachegrind: ${name}\n`);
    const full = cachegrind(vars, N);
    const none = cachegrind(vars, 0);
    counts.set(name, { ...full, ir: full.ir - none.ir, d1: full.d1 - none.d1, ll: full.ll - none.ll });
  }
  const alone = counts.get('alone')!;
  const pct = (x: number, b: number) => `${x >= b ? '+' : ''}${((100 * (x - b)) / b).toFixed(2)}%`;
  const rows = [...counts].map(([name, c]) => [
    name,
    c.ir.toLocaleString('en'),
    (c.ir / N).toFixed(2),
    pct(c.ir, alone.ir),
    c.d1.toLocaleString('en'),
    c.ll.toLocaleString('en'),
  ]);
  const c = counts.get('-c (preloaded)')!;
  const p = counts.get('-p (attached)')!;
  const ours = [...new Set(await memscopeSlots())].sort();
  const theirs = [...new Set(p.slots.map((s) => s.replace(/ in the$/, ` in ${path.basename(memleakWorkload())}`)))].sort();
  const out = [
    `the malloc/free loop of bench:memleak (${N} pairs), instructions counted by cachegrind (a run of ${N} pairs less a run of none), sampler at 1 per ${SAMPLE_BYTES} bytes`,
    ...formatTable(['', 'instructions of the loop', 'a pair', 'x alone', 'D1 misses', 'LL misses'], rows, [false, true, true, true, true, true]).map(
      (l) => `  ${l.trimEnd()}`,
    ),
    `  -p against -c: ${pct(p.ir, c.ir)} instructions (${(p.ir - c.ir).toLocaleString('en')}), D1 misses ${pct(p.d1, c.d1)}`,
    `  slots redirected for -p: ${theirs.join(', ')}`,
    `  slots memscope's got.ts finds in the workload: ${ours.join(', ')}${ours.join() === theirs.join() ? ' (the same)' : ' (NOT the same)'}`,
    '',
    'Targets',
    ...targetLines([{ what: '-p adds to -c (instructions of the loop)', value: (100 * (p.ir - c.ir)) / c.ir, below: 1, unit: '%' }]),
  ];
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
