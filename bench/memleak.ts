// SPDX-License-Identifier: Apache-2.0
// bench:memleak — what tracing allocations costs the traced process (issue 3, Performance).
// One workload (bench/memleak_workload.c: N malloc/free pairs of mixed sizes, 1% retained by
// keep_block()) timed inside the process, alone and under each tracer, in the same run, rounds
// interleaved: BCC's `memleak-bpfcc -p`, a bare bpftrace uprobe that only counts malloc (the cost
// of the trap itself), and memscope memleak in each mode. Targets:
//   -p: memscope adds at most a quarter of the time BCC adds (issue 16);
//   -c --sample-bytes: adds < 5% (medians) and < 8% (fastest runs) (issue 16), and its estimate
//   of keep_block's outstanding bytes is within 10%.
//   -p --sample-bytes (issue 17: the sampler loaded into the running workload with ptrace before
//   its loop starts): adds < 10%, keep_block's estimate within 5%, and the pause of the thread
//   that loaded it (memscope's own figure, in ms).
// Tracers that trap on every call run the short loop (N_TRAP pairs, about 50 us a pair under BCC);
// the sampler runs the long one (N_FULL); each is compared with the workload alone at the same N.
//
//   node dist/bench/memleak.js     (npm run bench:memleak; BENCH_RUNS=N rounds, default 3)
// BENCH_BASELINE_MEMSCOPE=PATH adds -c --sample-bytes by another build of memscope (an older
// sampler: before/after in the same rounds, e.g. /work/main/bin/memscope while it still has it).
import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBcc, ensureBpftrace, launch, Launched, LaunchSpec, memleakWorkload, summarize, targetLines } from './lib';
import { formatTable } from '../src/render/table';
import { ROOT } from '../test/lib/workloads';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
/** The sampler's overhead is a few percent: more rounds for it and the workload alone. */
const FULL_RUNS = Math.max(RUNS, Number(process.env.BENCH_FULL_RUNS ?? 9));
const N_TRAP = Number(process.env.BENCH_TRAP_PAIRS ?? 200_000);
const N_FULL = Number(process.env.BENCH_PAIRS ?? 5_000_000);
const SAMPLE_BYTES = process.env.BENCH_SAMPLE_BYTES ?? '1m';
const MEMSCOPE = path.join(ROOT, 'bin', 'memscope');
const BASELINE = process.env.BENCH_BASELINE_MEMSCOPE;
const SETTLE_MS = 2000; // BCC and bpftrace print their line before the last uprobe is attached

function libc(): string {
  const maps = fs.readFileSync('/proc/self/maps', 'utf8');
  return /\s(\/\S*\/libc\.so\.6)$/m.exec(maps)?.[1] ?? '/lib/x86_64-linux-gnu/libc.so.6';
}

/** A child whose stdout is collected, with a wait for a pattern. */
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
  send(line: string): void {
    this.child.stdin!.write(line + '\n');
  }
}

const LOOP = /loop_ms ([\d.]+) cpu_ms ([\d.]+) retained_bytes (\d+)/;

interface Run {
  /** CPU time of the loop (user + system: the kernel's uprobe handling is the target's system time). */
  cpuMs: number;
  loopMs: number;
  retained: number;
  /** The tool's figure for keep_block's outstanding bytes, when it reports one. */
  estimate?: number;
  /** -p --sample-bytes: how long the thread that loaded the sampler was stopped, ms */
  pauseMs?: number;
}

/** The workload alone. */
async function alone(n: number): Promise<Run> {
  const w = new Proc(spawn(memleakWorkload(), [String(n)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  await w.waitFor(/ready/);
  w.send('go');
  const m = await w.waitFor(LOOP);
  w.child.stdin!.end();
  await w.exited;
  return { loopMs: Number(m[1]), cpuMs: Number(m[2]), retained: Number(m[3]) };
}

/** A tracer attached to the running workload (-p). */
async function attached(n: number, spec: (pid: number) => LaunchSpec, estimate?: (out: string) => number | undefined): Promise<Run> {
  const w = new Proc(spawn(memleakWorkload(), [String(n)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  let tool: Launched | undefined;
  try {
    await w.waitFor(/ready/);
    tool = await launch(spec(w.child.pid!));
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    w.send('go');
    const m = await w.waitFor(LOOP);
    const stopped = await tool.stop('SIGINT');
    tool = undefined;
    const pause = /thread \d+ stopped ([\d.]+) ms/.exec(stopped.stderr);
    return {
      loopMs: Number(m[1]),
      cpuMs: Number(m[2]),
      retained: Number(m[3]),
      estimate: estimate?.(stopped.stdout),
      pauseMs: pause ? Number(pause[1]) : undefined,
    };
  } finally {
    if (tool) await tool.stop('SIGKILL');
    w.child.stdin!.end();
    w.child.kill('SIGKILL');
    await w.exited;
  }
}

/** memscope starting the workload itself (-c): the workload's stdin is memscope's. */
async function started(n: number, args: string[], memscope = MEMSCOPE): Promise<Run> {
  const ms = new Proc(
    spawn(memscope, ['memleak', '--json', '-T', '20', ...args, '-c', `${memleakWorkload()} ${n}`, '3600'], { stdio: ['pipe', 'pipe', 'pipe'] }),
  );
  try {
    await ms.waitFor(/ready/);
    ms.send('go');
    const m = await ms.waitFor(LOOP);
    ms.child.stdin!.end(); // the workload exits; memscope prints its final report and exits
    await ms.exited;
    return { loopMs: Number(m[1]), cpuMs: Number(m[2]), retained: Number(m[3]), estimate: memscopeEstimate(ms.out) };
  } finally {
    ms.child.kill('SIGKILL');
  }
}

/** keep_block's outstanding bytes in memscope's JSON report (the last report), summed over its
 * rows: with --unwind auto the site can be two rows (a DWARF-unwound stack and a frame-pointer one). */
function memscopeEstimate(out: string): number | undefined {
  const recs = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((r) => r.ustack?.[0]?.startsWith('keep_block+'));
  if (!recs.length) return undefined;
  const last = Math.max(...recs.map((r) => r.report ?? 0));
  return recs.filter((r) => (r.report ?? 0) === last).reduce((s, r) => s + r.bytes, 0);
}

/** keep_block's outstanding bytes in BCC's text report. */
function bccEstimate(out: string): number | undefined {
  const m = /(\d+) bytes in \d+ allocations from stack\n\s+(?:0x[0-9a-f]+\s+)?keep_block\+/.exec(out);
  return m ? Number(m[1]) : undefined;
}

interface Contender {
  name: string;
  n: number;
  run?: () => Promise<Run>;
  missing?: string;
  runs: Run[];
}

async function main(): Promise<void> {
  memleakWorkload();
  execFileSync('make', ['-s', '-C', path.join(ROOT, 'shim')], { stdio: 'inherit' });
  // BENCH_ONLY: the reference tools are not installed for a quick run of the sampler's rows
  const skip = { ok: false, reason: `not run (BENCH_ONLY=${process.env.BENCH_ONLY})`, env: {} };
  const bcc = process.env.BENCH_ONLY ? skip : ensureBcc();
  const bt = process.env.BENCH_ONLY ? skip : ensureBpftrace();
  const lib = libc();
  const msReady = /Hit Ctrl-C/;
  const memscopeP =
    (extra: string[]) =>
    (pid: number): LaunchSpec => ({
      cmd: MEMSCOPE,
      // -o 0: the report at Ctrl-C comes while the workload still runs, where BCC's 500 ms default
      // age would leave out keep_block's last blocks (the -p estimate read 30-87% low for it)
      args: ['memleak', '--json', '-o', '0', '-T', '20', '-p', String(pid), ...extra, '3600'],
      ready: msReady,
    });
  const contenders: Contender[] = [
    { name: `alone (${N_TRAP} pairs)`, n: N_TRAP, run: () => alone(N_TRAP), runs: [] },
    {
      name: 'BCC memleak-bpfcc -p',
      n: N_TRAP,
      missing: bcc.ok ? undefined : bcc.reason,
      run: () =>
        attached(
          N_TRAP,
          (pid) => ({ cmd: '/usr/sbin/memleak-bpfcc', args: ['-p', String(pid), '3600'], env: bcc.env, ready: /Attaching to pid/ }),
          bccEstimate,
        ),
      runs: [],
    },
    {
      name: 'bpftrace uprobe malloc count',
      n: N_TRAP,
      missing: bt.ok ? undefined : bt.reason,
      run: () => attached(N_TRAP, (pid) => ({ cmd: 'bpftrace', args: ['-e', `uprobe:${lib}:malloc /pid == ${pid}/ { @ = count(); }`], ready: /Attaching/ })),
      runs: [],
    },
    { name: 'memscope memleak -p', n: N_TRAP, run: () => attached(N_TRAP, memscopeP([]), memscopeEstimate), runs: [] },
    { name: 'memscope memleak -p -s 10', n: N_TRAP, run: () => attached(N_TRAP, memscopeP(['-s', '10']), memscopeEstimate), runs: [] },
    { name: 'memscope memleak -c', n: N_TRAP, run: () => started(N_TRAP, []), runs: [] },
    { name: `alone (${N_FULL} pairs)`, n: N_FULL, run: () => alone(N_FULL), runs: [] },
    { name: `memscope memleak -c --sample-bytes ${SAMPLE_BYTES}`, n: N_FULL, run: () => started(N_FULL, ['--sample-bytes', SAMPLE_BYTES]), runs: [] },
    ...(BASELINE
      ? [
          {
            name: `baseline ${BASELINE} memleak -c --sample-bytes ${SAMPLE_BYTES}`,
            n: N_FULL,
            run: () => started(N_FULL, ['--sample-bytes', SAMPLE_BYTES], BASELINE),
            runs: [],
          },
        ]
      : []),
    {
      name: `memscope memleak -p --sample-bytes ${SAMPLE_BYTES}`,
      n: N_FULL,
      run: () => attached(N_FULL, memscopeP(['--sample-bytes', SAMPLE_BYTES]), memscopeEstimate),
      runs: [],
    },
  ];

  // BENCH_ONLY=sampler: the sampler and the workload alone only (a quick check of the shim)
  if (process.env.BENCH_ONLY === 'sampler') for (const c of contenders) if (c.n !== N_FULL) c.missing = 'not run (BENCH_ONLY=sampler)';
  // BENCH_ONLY=attach: the workload alone and the sampler loaded into it (-p --sample-bytes)
  if (process.env.BENCH_ONLY === 'attach')
    for (const c of contenders) if (c.n !== N_FULL || c.name.includes('-c --sample-bytes')) c.missing = 'not run (BENCH_ONLY=attach)';
  for (let round = 1; round <= FULL_RUNS; round++) {
    for (const c of contenders) {
      if (c.missing || !c.run || (round > RUNS && c.n !== N_FULL)) continue;
      process.stderr.write(`bench: round ${round}/${c.n === N_FULL ? FULL_RUNS : RUNS}: ${c.name}\n`);
      try {
        c.runs.push(await c.run());
      } catch (e) {
        c.missing = `failed: ${(e as Error).message.split('\n')[0]}`;
      }
    }
  }

  const base = new Map<number, number>();
  const baseMin = new Map<number, number>();
  for (const c of contenders) {
    if (!c.name.startsWith('alone')) continue;
    base.set(c.n, summarize(c.runs.map((r) => r.cpuMs)).median);
    baseMin.set(c.n, summarize(c.runs.map((r) => r.cpuMs)).min);
  }
  const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  // the median of each round's ratio to the workload alone in the same round: the runs of a round
  // follow each other within seconds, under much the same load from the rest of the machine
  const paired = (c: Contender) => {
    const a = contenders.find((x) => x.name.startsWith('alone') && x.n === c.n)!.runs;
    return a.length === c.runs.length ? summarize(c.runs.map((r, i) => r.cpuMs / a[i].cpuMs)).median : NaN;
  };
  const rows = contenders.map((c) => {
    if (c.missing) return [c.name, '-', '-', '-', '-', '-', '-', '-', '-', c.missing];
    const s = summarize(c.runs.map((r) => r.cpuMs));
    const b = base.get(c.n)!;
    const est = c.runs.map((r) => r.estimate).filter((x): x is number => x !== undefined);
    const withEst = c.runs.filter((r) => r.estimate !== undefined);
    const err = est.map((e, i) => (100 * (e - withEst[i].retained)) / withEst[i].retained);
    const errText = err.length ? err.map((e) => `${e >= 0 ? '+' : ''}${e.toFixed(1)}%`).join(' ') : '';
    const bm = baseMin.get(c.n)!;
    return [
      c.name,
      c.runs.length,
      fmt(s.median),
      fmt(s.min),
      fmt(s.max),
      `${(s.median / b).toFixed(2)}x`,
      `${(s.min / bm).toFixed(2)}x`,
      Number.isFinite(paired(c)) ? `${paired(c).toFixed(3)}x` : '-',
      fmt(s.median - b),
      errText,
    ];
  });
  const out: string[] = [
    `memleak overhead: CPU time of the workload's loop (N malloc/free pairs, 1% kept by keep_block), measured inside the process; ${RUNS} rounds (${FULL_RUNS} of the long loop), interleaved`,
    ...formatTable(
      ['', 'n', 'median cpu ms', 'min', 'max', 'x alone (medians)', 'x alone (mins)', 'x alone (rounds)', 'added ms', 'keep_block estimate error'],
      rows,
      [false, true, true, true, true, true, true, true, true, false],
    ).map((l) => `  ${l.trimEnd()}`),
    '',
  ];
  const wall = contenders.map((c) => {
    if (c.missing) return [c.name, '-', '-'];
    const s = summarize(c.runs.map((r) => r.loopMs));
    return [c.name, s.median.toFixed(0), s.min.toFixed(0)];
  });
  out.push(
    'wall-clock time of the same loops (includes waiting for a CPU on a busy machine)',
    ...formatTable(['', 'median ms', 'min ms'], wall, [false, true, true]).map((l) => `  ${l.trimEnd()}`),
    '',
  );
  const stat = (name: string, which: 'median' | 'min') => {
    const c = contenders.find((x) => x.name.startsWith(name));
    return c && !c.missing ? summarize(c.runs.map((r) => r.cpuMs))[which] : NaN;
  };
  const median = (name: string) => stat(name, 'median');
  const addedBcc = median('BCC memleak-bpfcc -p') - base.get(N_TRAP)!;
  const addedMs = median('memscope memleak -p') - base.get(N_TRAP)!;
  const worstError = (c: Contender | undefined) => {
    const e = (c?.runs ?? []).filter((r) => r.estimate !== undefined).map((r) => Math.abs((100 * (r.estimate! - r.retained)) / r.retained));
    return { n: e.length, worst: e.length ? Math.max(...e) : NaN };
  };
  const errs = worstError(contenders.find((c) => c.name.startsWith('memscope memleak -c --sample-bytes')));
  const injected = contenders.find((c) => c.name.startsWith('memscope memleak -p --sample-bytes'));
  const injErrs = worstError(injected);
  const pauses = (injected?.runs ?? []).map((r) => r.pauseMs).filter((x): x is number => x !== undefined);
  const pause = pauses.length ? summarize(pauses) : undefined;
  out.push(
    'Targets',
    ...targetLines([
      { what: 'memscope -p adds / BCC adds (time added to the loop)', value: addedMs / addedBcc, below: 0.25, unit: 'x' },
      {
        what: `memscope -c --sample-bytes ${SAMPLE_BYTES} adds (medians of ${FULL_RUNS})`,
        value: (100 * (median('memscope memleak -c --sample-bytes') - base.get(N_FULL)!)) / base.get(N_FULL)!,
        below: 5,
        unit: '%',
      },
      {
        what: `memscope -c --sample-bytes ${SAMPLE_BYTES} adds (minimums of ${FULL_RUNS}: least disturbed by other load)`,
        value: (100 * (stat('memscope memleak -c --sample-bytes', 'min') - baseMin.get(N_FULL)!)) / baseMin.get(N_FULL)!,
        below: 8,
        unit: '%',
      },
      { what: `its estimate of keep_block's bytes, worst error of ${errs.n} runs`, value: errs.worst, below: 10, unit: '%' },
      {
        what: `memscope -p --sample-bytes ${SAMPLE_BYTES} adds (medians of ${FULL_RUNS})`,
        value: (100 * (median('memscope memleak -p --sample-bytes') - base.get(N_FULL)!)) / base.get(N_FULL)!,
        below: 10,
        unit: '%',
      },
      {
        what: `memscope -p --sample-bytes ${SAMPLE_BYTES} adds (minimums of ${FULL_RUNS})`,
        value: (100 * (stat('memscope memleak -p --sample-bytes', 'min') - baseMin.get(N_FULL)!)) / baseMin.get(N_FULL)!,
        below: 10,
        unit: '%',
      },
      {
        what: `memscope -p --sample-bytes ${SAMPLE_BYTES} adds (median of the ${FULL_RUNS} rounds' ratios)`,
        value: injected && !injected.missing ? 100 * (paired(injected) - 1) : NaN,
        below: 10,
        unit: '%',
      },
      { what: `its estimate of keep_block's bytes, worst error of ${injErrs.n} runs`, value: injErrs.worst, below: 5, unit: '%' },
    ]),
    pause
      ? `  the pause of the thread that loaded the sampler (-p --sample-bytes): median ${pause.median.toFixed(1)} ms, min ${pause.min.toFixed(1)}, max ${pause.max.toFixed(1)} (${pauses.length} attaches; load average ${os.loadavg()[0].toFixed(1)})`
      : '  the pause at attach: not measured',
  );
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
