// SPDX-License-Identifier: Apache-2.0
// bench:unwind — DWARF unwinding of user stacks (issue 5, Performance): memscope brkstack
// --unwind dwarf vs `perf record --call-graph dwarf` + `perf script`, tracing the same brk-heavy
// run of one workload at the same time (both copy 8 KiB of stack per event). Reports stacks per
// second (memscope unwinds online, perf script offline), peak memory, and how many of perf's
// stacks memscope has frame for frame. Target: memscope's rate >= perf script's.
//
//   node dist/bench/unwind.js          (BENCH_ITER=N: the workload's malloc/free rounds, default 10000)
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { aptInstall, helperBinary, launch, sleep, targetLines, which } from './lib';
import { ROOT } from '../test/lib/workloads';
import { unwindWorkload } from '../test/unwind-workloads';
import { ElfFile } from '../src/symbols/elf';
import { Symbolizer } from '../src/symbols/symbolizer';

const ITER = Math.max(100, Number(process.env.BENCH_ITER ?? 10000));
const MEMSCOPE = path.join(ROOT, 'bin', 'memscope');

function rusage(file: string): { maxRssKb: number; cpuMs: number } {
  const text = fs.readFileSync(file, 'utf8');
  fs.rmSync(file, { force: true });
  return { maxRssKb: Number(/maxrss_kb (\d+)/.exec(text)?.[1] ?? NaN), cpuMs: Number(/cpu_us (\d+)/.exec(text)?.[1] ?? NaN) / 1000 };
}

const symCache = new Map<string, ElfFile | null>();
const debugFiles = new Symbolizer();

/** perf script's frame (file vaddr as it prints it, return address - 1 above the first) in memscope's words. */
function perfFrame(addrHex: string, dso: string, first: boolean): string {
  if (!symCache.has(dso)) {
    // symbols as memscope finds them: the separate debug file's when the binary is stripped
    const elf = ElfFile.read(dso);
    const dbg = elf && !elf.hasSymtab() ? debugFiles.debugFile(elf) : null;
    symCache.set(dso, dbg && dbg.hasSymtab() ? dbg : elf);
  }
  const elf = symCache.get(dso);
  const vaddr = parseInt(addrHex, 16) + (first ? 0 : 1);
  const s = elf?.symbols().lookup(vaddr);
  return s ? `${s.name}+0x${s.offset.toString(16)} [${path.basename(dso)}]` : `[unknown] [${path.basename(dso)}]`;
}

/** perf script text → stacks (innermost first), inlined frames left out (memscope shows real frames). */
function perfStacks(text: string, comm: string): string[][] {
  const out: string[][] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter(Boolean);
    if (!lines.length || !lines[0].startsWith(comm + ' ')) continue;
    const frames: string[] = [];
    for (const l of lines.slice(1)) {
      const m = /^\s+([0-9a-f]+) .* \((.*)\)$/.exec(l);
      if (!m || m[2] === 'inlined' || m[2].startsWith('[kernel')) continue; // user frames only
      frames.push(perfFrame(m[1], m[2], frames.length === 0));
    }
    out.push(frames);
  }
  return out;
}

async function main(): Promise<void> {
  if (!which('perf')) {
    const err = aptInstall(['linux-perf']);
    if (err) {
      process.stdout.write(`perf is not available (${err}): nothing to compare with\n`);
      return;
    }
  }
  const { bin } = unwindWorkload('nofp');
  const comm = path.basename(bin).slice(0, 15);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-bench-unwind-'));
  const perfData = path.join(dir, 'perf.data');
  const w = spawn(bin, ['churn', String(ITER)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let wout = '';
  w.stdout.setEncoding('utf8').on('data', (d: string) => (wout += d));
  const workloadDone = new Promise<void>((r) => w.on('exit', () => r()));
  try {
    while (!wout.includes('ready')) await sleep(20);
    const ms = await launch({
      cmd: MEMSCOPE,
      // tp_btf, not the classic tracepoint: a BPF program returning 0 on a classic tracepoint
      // hides its events from every perf listener, perf record's included (and for the same
      // reason perf uses raw_syscalls:sys_enter filtered to brk: other memscope runs on this
      // machine may hold syscalls:sys_enter_brk)
      args: ['brkstack', '--unwind', 'dwarf', '--source', 'tp_btf', '--json', '-v', '-p', String(w.pid)],
      ready: /Hit Ctrl-C/,
      attachedTo: ['sys_enter'],
    });
    const perfRusage = path.join(dir, 'perf-record.rusage');
    const perf = spawn(helperBinary('rusage-run'), [perfRusage, 'perf', 'record', '-q', '--call-graph', 'dwarf,8192', '-e', 'raw_syscalls:sys_enter', '--filter', 'id == 12', '-p', String(w.pid), '-o', perfData], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let perfErr = '';
    perf.stderr.setEncoding('utf8').on('data', (d: string) => (perfErr += d));
    const perfExit = new Promise<void>((r) => perf.on('close', () => r()));
    await sleep(1500); // perf record has no ready line: give it time to open its events
    w.stdin.write('go\n');
    await workloadDone;
    const msDone = await ms.stop('SIGINT');
    await perfExit; // perf record -p ends when the process does
    const recordUsage = rusage(perfRusage);

    const scriptRusage = path.join(dir, 'perf-script.rusage');
    const t0 = performance.now();
    const script = spawnSync(helperBinary('rusage-run'), [scriptRusage, 'perf', 'script', '--no-inline', '-i', perfData, '-F', 'comm,pid,tid,time,event,ip,sym,symoff,dso'], {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    });
    const scriptMs = performance.now() - t0;
    const scriptUsage = rusage(scriptRusage);
    const pstacks = perfStacks(script.stdout, comm);

    // memscope: its stacks with counts
    const mstacks = new Map<string, number>();
    let msEvents = 0;
    for (const l of msDone.stdout.split('\n')) {
      if (!l.startsWith('{')) continue;
      const r = JSON.parse(l);
      if (r.pid !== w.pid) continue;
      msEvents += r.count;
      mstacks.set(r.ustack.join('\n'), (mstacks.get(r.ustack.join('\n')) ?? 0) + r.count);
    }
    const unwound = /user stacks: (\d+) events unwound with DWARF CFI \((\d+) frames, (\d+) stopped early, \d+ modules' CFI read, (\d+) ms\)/.exec(msDone.stderr);
    if (!unwound) throw new Error(`memscope did not report its unwinding (exit ${msDone.code}): ${msDone.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const msUnwindMs = unwound ? Number(unwound[4]) : NaN;
    const msUnwound = unwound ? Number(unwound[1]) : NaN;
    let agree = 0;
    for (const s of pstacks) if (mstacks.has(s.join('\n'))) agree++;
    const brks = 2 * ITER;

    const rate = (n: number, ms: number) => n / (ms / 1000);
    const msRateCpu = rate(msUnwound, msDone.cpuMs);
    const msRateUnwind = rate(msUnwound, msUnwindMs);
    const perfScriptCpu = rate(pstacks.length, scriptUsage.cpuMs);
    const perfScriptWall = rate(pstacks.length, scriptMs);
    const perfBothCpu = rate(pstacks.length, scriptUsage.cpuMs + recordUsage.cpuMs);
    const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
    const out: string[] = [];
    out.push(`workload: ${bin} churn ${ITER} (${brks} brk() calls through malloc/free, -O2 -fomit-frame-pointer, Debian libc); load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    out.push('both copy 8192 bytes of user stack per event and unwind it with .eh_frame CFI');
    out.push('');
    out.push('                                 stacks   time (ms)   stacks/s   peak RSS (MiB)');
    const row = (name: string, n: number, ms: number, r: number, rssKb: number, extra = '') =>
      out.push(`${name.padEnd(30)} ${String(n).padStart(7)}   ${f0(ms).padStart(9)}   ${f0(r).padStart(8)}   ${Number.isFinite(rssKb) ? (rssKb / 1024).toFixed(0).padStart(8) : '       -'}${extra}`);
    row('memscope unwinding (in-process)', msUnwound, msUnwindMs, msRateUnwind, NaN);
    row('memscope whole run, CPU', msUnwound, msDone.cpuMs, msRateCpu, msDone.maxRssKb);
    row('perf script, CPU', pstacks.length, scriptUsage.cpuMs, perfScriptCpu, scriptUsage.maxRssKb);
    row('perf script, wall', pstacks.length, scriptMs, perfScriptWall, NaN);
    row('perf record + script, CPU', pstacks.length, scriptUsage.cpuMs + recordUsage.cpuMs, perfBothCpu, recordUsage.maxRssKb, `  (record; perf.data ${(fs.statSync(perfData).size / 1048576).toFixed(0)} MiB)`);
    out.push('');
    out.push(`events: memscope counted ${msEvents} of ${brks} brk() calls (${msUnwound} DWARF-unwound, the rest by frame pointers when its ring buffer was full); perf recorded ${pstacks.length}${perfErr.trim() ? ` (${perfErr.trim().split('\n').slice(-1)[0]})` : ''}`);
    out.push(`agreement: ${agree} of perf's ${pstacks.length} stacks (${((100 * agree) / Math.max(1, pstacks.length)).toFixed(1)}%) are among memscope's, frame for frame`);
    if (agree < pstacks.length) {
      const miss = pstacks.find((s) => !mstacks.has(s.join('\n')));
      if (miss) out.push(`first stack of perf's that memscope lacks:\n    ${miss.join('\n    ')}`);
    }
    out.push('');
    out.push(
      ...targetLines([
        { what: "memscope's unwinding rate vs perf script's (CPU time, stacks/s)", value: msRateUnwind / perfScriptCpu, atLeast: 1, unit: 'x' },
        { what: "memscope's whole-run rate vs perf script's wall-clock rate", value: msRateCpu / perfScriptWall, atLeast: 1, unit: 'x' },
        { what: "memscope's whole-run rate vs perf record + script (CPU time)", value: msRateCpu / perfBothCpu, atLeast: 1, unit: 'x' },
        { what: "memscope's peak RSS / perf's (the larger of record and script)", value: msDone.maxRssKb / Math.max(recordUsage.maxRssKb, scriptUsage.maxRssKb), below: 1, unit: 'x' },
        { what: "perf's stacks that memscope has frame for frame", value: (100 * agree) / Math.max(1, pstacks.length), atLeast: 99, unit: '%' },
        { what: 'brk() events DWARF-unwound (the rest fell back to frame pointers)', value: (100 * msUnwound) / brks, atLeast: 95, unit: '%' },
      ]),
    );
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    w.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench:unwind: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
});
