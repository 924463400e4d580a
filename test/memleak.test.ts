// SPDX-License-Identifier: Apache-2.0
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { workload, ROOT } from './lib/workloads';
import { start, startMemscope, jsonLines, memscope, Running } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const SITES = 'memleak_sites';
const FRAME = (fn: string) => new RegExp(`^${fn}\\+0x[0-9a-f]+ \\[${SITES}\\]$`);

/** Records of the last report for one allocation site (its function as frame 0). */
function site(recs: any[], fn: string): any[] {
  return recs.filter((r) => r.ustack.length && FRAME(fn).test(r.ustack[0]));
}

function lastReport(recs: any[]): any[] {
  const n = Math.max(...recs.map((r) => r.report));
  return recs.filter((r) => r.report === n);
}

function total(recs: any[], field: 'bytes' | 'allocations'): number {
  return recs.reduce((s, r) => s + r[field], 0);
}

/** Starts the sites workload and memscope -p on it; returns both once memscope is attached. */
async function traced(args: string[]): Promise<{ w: Running; ms: Running }> {
  const w = start(workload(SITES));
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['memleak', '--json', '-p', String(w.pid), ...args]);
    return { w, ms };
  } catch (e) {
    w.kill(); // nothing may be left waiting on its stdin
    throw e;
  }
}

test('memleak -p: exact bytes and counts per site, the caller of malloc as frame 0, churn absent, threads in the process', async () => {
  const { w, ms } = await traced(['60']);
  try {
    w.send('go');
    await w.waitFor('done');
    w.send('exit'); // the target exits: memscope prints its final report and exits
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    assert.ok(recs.length > 0, r.stdout + r.stderr);
    assert.ok(
      recs.every((x) => x.pid === w.pid && x.comm === SITES && x.estimated === false),
      r.stdout,
    );

    const a = site(recs, 'leak_a');
    assert.equal(a.length, 1, r.stdout);
    assert.equal(a[0].bytes, 100 * 1000);
    assert.equal(a[0].allocations, 100);
    assert.match(a[0].ustack[1], FRAME('main'));

    const b = site(recs, 'leak_b');
    assert.deepEqual([b.length, b[0]?.bytes, b[0]?.allocations], [1, 50 * 64, 50], r.stdout);

    // realloc moved the block 10 times: only the final 1 MiB block is outstanding, once
    const c = site(recs, 'grow_c');
    assert.deepEqual([c.length, c[0]?.bytes, c[0]?.allocations], [1, 1 << 20, 1], r.stdout);

    // allocated in a second thread: attributed to the process, with the thread's own stack
    const t = site(recs, 'leak_thread_allocs');
    assert.deepEqual([t.length, t[0]?.bytes, t[0]?.allocations], [1, 10 * 4096, 10], r.stdout);
    assert.match(t[0].ustack[1], FRAME('leak_thread'));

    assert.equal(recs.filter((x) => x.ustack.some((f: string) => FRAME('churn_d').test(f))).length, 0, 'churn_d freed everything');
    // allocated by the constructor before memscope attached: never seen, not counted
    assert.equal(site(recs, 'early_alloc').length, 0);
  } finally {
    w.kill();
    ms.kill();
  }
});

test('memleak -p: direct mmap calls counted exactly (the probe sits past mmap\'s first instructions), munmap\'d ones absent', async () => {
  const w = start(workload('memleak_mmap'));
  let ms: Running | undefined;
  try {
    await w.waitFor(/ready page \d+\n/);
    const page = Number(/ready page (\d+)/.exec(w.stdout)?.[1]);
    assert.ok(page > 0, w.stdout);
    ms = await startMemscope(['memleak', '--json', '-p', String(w.pid), '60']);
    w.send('go');
    await w.waitFor('done');
    w.send('exit');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const recs = lastReport(jsonLines(r.stdout));
    const frame = (fn: string) => new RegExp(`^${fn}\\+0x[0-9a-f]+ \\[memleak_mmap\\]$`);
    const kept = recs.filter((x) => frame('map_kept').test(x.ustack[0] ?? ''));
    assert.deepEqual([kept.length, kept[0]?.bytes, kept[0]?.allocations], [1, 40 * 3 * page, 40], r.stdout);
    assert.equal(recs.filter((x) => x.ustack.some((f: string) => frame('map_churn').test(f))).length, 0, r.stdout);
  } finally {
    w.kill();
    ms?.kill();
  }
});

test('memleak -c: sees allocations made before main (a constructor), text report like the chapter', () => {
  const bin = workload(SITES);
  const r = memscope(['memleak', '-c', bin, '60'], { input: 'go\nexit\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\[\d\d:\d\d:\d\d\] Top 10 stacks with outstanding allocations:$/m);
  const early = /^\t2331 bytes in 7 allocations from stack\n\t\tearly_alloc\+0x[0-9a-f]+ \[memleak_sites\]\n\t\tbefore_main\+0x[0-9a-f]+ \[memleak_sites\]$/m;
  assert.match(r.stdout, early, r.stdout);
  assert.match(r.stdout, /^\t100000 bytes in 100 allocations from stack\n\t\tleak_a\+0x[0-9a-f]+ \[memleak_sites\]\n\t\tmain\+/m);
  assert.match(r.stdout, /^\t1048576 bytes in 1 allocations from stack\n\t\tgrow_c\+0x[0-9a-f]+ \[memleak_sites\]\n/m);
  assert.doesNotMatch(r.stdout, /churn_d/);
  // the shell that held the command at the gate allocated too: none of that is reported
  assert.doesNotMatch(r.stdout, /\[(dash|sh)\]/);
});

test('memleak -c --folded --svg: outstanding bytes as folded stacks and a flame graph', () => {
  const bin = workload(SITES);
  const svg = path.join(os.tmpdir(), `memscope-memleak-${process.pid}.svg`);
  try {
    const r = memscope(['memleak', '-c', bin, '--folded', '--svg', svg, '60'], { input: 'go\nexit\n' });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.ok(
      lines.some((l) => /^memleak_sites;.*;main;leak_a 100000$/.test(l)),
      r.stdout,
    );
    assert.ok(
      lines.some((l) => /^memleak_sites;.*;main;leak_b 3200$/.test(l)),
      r.stdout,
    );
    const doc = fs.readFileSync(svg, 'utf8');
    assert.match(doc, /<svg/);
    assert.match(doc, /leak_a \(100,000 bytes/);
  } finally {
    fs.rmSync(svg, { force: true });
  }
});

test('memleak -o hides young allocations; -a lists each outstanding address and size', async () => {
  // leak_a is aged 4 s before leak_e is made and the report asked for: -o 3000 keeps leak_a and
  // hides leak_e if the report comes within 3 s of it. How long the report takes is the machine's
  // business, so leak_e's age at the report is bounded from the test's clock and leak_a's age as
  // reported (the report's moment is leak_a's making plus that age), and asserted only where the
  // bounds decide it
  const { w, ms } = await traced(['-o', '3000', '-a', '60']);
  try {
    const goSent = Date.now();
    w.send('go');
    await w.waitFor('done');
    const doneSeen = Date.now();
    await new Promise((res) => setTimeout(res, 4000));
    const youngSent = Date.now();
    w.send('young');
    await w.waitFor('young done');
    const youngSeen = Date.now();
    const r = await ms.interrupt();
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    const a = site(recs, 'leak_a');
    assert.equal(a.length, 1, r.stdout);
    assert.equal(a[0].bytes, 100000);
    assert.equal(a[0].allocs.length, 100);
    assert.ok(a[0].allocs.every((x: any) => x.size === 1000 && x.age_ms >= 3000 && /^0x[0-9a-f]+$/.test(x.addr)));
    assert.equal(new Set(a[0].allocs.map((x: any) => x.addr)).size, 100);
    // leak_a made in [goSent, doneSeen], leak_e in [youngSent, youngSeen], the report at leak_a's
    // making plus its reported age
    const ageA = Math.max(...a[0].allocs.map((x: any) => x.age_ms));
    const ageEAtMost = doneSeen + ageA - youngSent;
    const ageEAtLeast = goSent + ageA - youngSeen;
    if (ageEAtMost < 3000) assert.equal(site(recs, 'leak_e').length, 0, `leak_e (at most ${ageEAtMost} ms old) is younger than -o`);
    else if (ageEAtLeast >= 3000) assert.equal(site(recs, 'leak_e').length, 1, `leak_e (at least ${ageEAtLeast} ms old) is older than -o`);
    else console.log(`# leak_e's age at the report ${ageEAtLeast}-${ageEAtMost} ms: -o 3000 undecided, not asserted`);
  } finally {
    w.kill();
    ms.kill();
  }
});

test('memleak growth view: a stack that keeps leaking reads "growing", a long-lived one "flat"', async () => {
  // growth is followed per row: with --unwind auto a site can be two rows (DWARF-unwound within
  // the rate, frame pointers above it, after churn_d's 100,000 calls); fp keeps one row per site
  const { w, ms } = await traced(['--unwind', 'fp', '1']);
  try {
    w.send('go');
    await w.waitFor('done');
    const reportsSeen = () => Math.max(0, ...jsonLines(ms.stdout).map((x) => x.report));
    const nextReport = async () => {
      const n = reportsSeen();
      while (reportsSeen() <= n) await new Promise((res) => setTimeout(res, 50));
    };
    for (let i = 1; i <= 3; i++) {
      await nextReport();
      w.send('young');
      await w.waitFor(new RegExp(`(young done[^]*){${i}}`));
    }
    await nextReport();
    const r = await ms.interrupt();
    assert.equal(r.code, 0, r.stderr);
    const last = lastReport(jsonLines(r.stdout));
    const e = site(last, 'leak_e');
    assert.equal(e.length, 1, r.stdout);
    assert.equal(e[0].bytes, 3 * 20 * 500);
    assert.equal(e[0].growth, 'growing');
    assert.ok(e[0].growth_bytes_per_sec > 0);
    const a = site(last, 'leak_a');
    assert.equal(a[0].growth, 'flat');
    assert.equal(a[0].growth_bytes_per_sec, 0);
  } finally {
    w.kill();
    ms.kill();
  }
});

test('memleak -z/-Z bound the sizes recorded; --sort count -T 2 orders and cuts the report', async () => {
  const { w, ms } = await traced(['-z', '64', '-Z', '1000', '--sort', 'count', '-T', '2', '60']);
  try {
    w.send('go');
    await w.waitFor('done');
    w.send('exit');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    // leak_a (100 x 1000 B) and leak_b (50 x 64 B) are within the bounds; the thread's 4096-byte
    // blocks and grow_c's 1 KiB..1 MiB blocks are not
    assert.equal(recs.length, 2, r.stdout);
    assert.match(recs[0].ustack[0], FRAME('leak_a'));
    assert.equal(recs[0].allocations, 100);
    assert.match(recs[1].ustack[0], FRAME('leak_b'));
    assert.equal(recs[1].allocations, 50);
  } finally {
    w.kill();
    ms.kill();
  }
});

test('memleak: a full table is said once and tracing goes on', async () => {
  const { w, ms } = await traced(['--max-allocs', '50', '60']);
  try {
    w.send('go');
    await w.waitFor('done');
    w.send('exit');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const full = r.stderr.split('\n').filter((l) => /table of outstanding allocations is full.*continuing/.test(l));
    assert.equal(full.length, 1, r.stderr);
    assert.match(full[0], /^memscope: memleak: /);
    // what fitted is still reported: at most 50 allocations in all
    const recs = jsonLines(r.stdout);
    assert.ok(recs.length > 0);
    assert.ok(total(recs, 'allocations') <= 50, r.stdout);
  } finally {
    w.kill();
    ms.kill();
  }
});

test('memleak -s 10: totals scaled and marked as estimates, within the stated error', async () => {
  const { w, ms } = await traced(['-s', '10', '60']);
  try {
    w.send('go');
    await w.waitFor('done');
    w.send('exit');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    assert.ok(recs.every((x) => x.estimated === true));
    // gaps between recorded calls are uniform in [5, 15]: a run of n calls yields n/10 samples
    // with a standard deviation of about sqrt(n/1000) samples (1 for leak_a's 100 calls: 10%);
    // the bound here is 4 standard deviations
    const a = site(recs, 'leak_a');
    assert.ok(Math.abs(total(a, 'allocations') - 100) <= 40, r.stdout);
    assert.ok(Math.abs(total(a, 'bytes') - 100000) <= 40000, r.stdout);
    assert.equal(total(a, 'bytes'), total(a, 'allocations') * 1000, 'scaled counts and bytes agree');
    const b = site(recs, 'leak_b');
    assert.ok(Math.abs(total(b, 'allocations') - 50) <= 30, r.stdout);
    assert.equal(recs.filter((x) => x.ustack.some((f: string) => FRAME('churn_d').test(f))).length, 0);
  } finally {
    w.kill();
    ms.kill();
  }
});

test('memleak -c --sample-bytes 1: the preloaded sampler reports every byte exactly, from the calling function', () => {
  execFileSync('make', ['-s', '-C', path.join(ROOT, 'shim')], { stdio: 'inherit' });
  const bin = workload(SITES);
  const r = memscope(['memleak', '--json', '-c', bin, '--sample-bytes', '1', '60'], { input: 'go\nexit\n' });
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  // every allocation at its own size: an exact trace, not marked as estimates
  assert.ok(recs.length > 0 && recs.every((x) => x.estimated === false), r.stdout);
  assert.doesNotMatch(r.stderr, /estimate/);
  const a = site(recs, 'leak_a');
  assert.deepEqual([a.length, a[0]?.bytes, a[0]?.allocations], [1, 100000, 100], r.stdout);
  assert.match(a[0].ustack[1], FRAME('main'));
  const t = site(recs, 'leak_thread_allocs');
  assert.deepEqual([t.length, t[0]?.bytes, t[0]?.allocations], [1, 40960, 10], r.stdout);
  const c = site(recs, 'grow_c');
  assert.deepEqual([c.length, c[0]?.bytes], [1, 1 << 20], r.stdout);
  assert.deepEqual([site(recs, 'early_alloc')[0]?.bytes], [2331]);
  assert.equal(recs.filter((x) => x.ustack.some((f: string) => FRAME('churn_d').test(f))).length, 0);
});

test('memleak -O: the allocator inside a static binary', () => {
  const bin = workload(SITES, { cflags: ['-O0', '-g', '-fno-omit-frame-pointer', '-static'], variant: 'static' });
  const r = memscope(['memleak', '--json', '-O', bin, '-c', bin, '60'], { input: 'go\nexit\n' });
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  const frame = (fn: string) => new RegExp(`^${fn}\\+0x[0-9a-f]+ \\[${SITES}-static\\]$`);
  const a = recs.filter((x) => frame('leak_a').test(x.ustack[0] ?? ''));
  assert.deepEqual([a.length, a[0]?.bytes, a[0]?.allocations], [1, 100000, 100], r.stdout);
  const c = recs.filter((x) => frame('grow_c').test(x.ustack[0] ?? ''));
  assert.deepEqual([c.length, c[0]?.bytes], [1, 1 << 20], r.stdout);
  assert.equal(recs.filter((x) => x.ustack.some((f: string) => frame('churn_d').test(f))).length, 0);
});

test('memleak -O: an allocator built with -fcf-protection is probed past its endbr64, every call counted', () => {
  const bin = workload('memleak_endbr', { cflags: ['-O0', '-g', '-fno-omit-frame-pointer', '-fcf-protection=full'] });
  const r = memscope(['memleak', '--json', '-v', '-O', bin, '--symbols-prefix', 'toy_', '-c', bin, '60'], { input: 'go\nexit\n' });
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  // the probes sit on the push after endbr64 (emulated), not on the endbr64 (stepped: 35x the cost here)
  assert.match(r.stderr, /^memscope: uprobe toy_malloc\+4 in /m);
  assert.match(r.stderr, /^memscope: uprobe toy_free\+4 in /m);
  const recs = lastReport(jsonLines(r.stdout));
  const frame = (fn: string) => new RegExp(`^${fn}\\+0x[0-9a-f]+ \\[memleak_endbr\\]$`);
  const kept = recs.filter((x) => frame('leak_toy').test(x.ustack[0] ?? ''));
  assert.deepEqual([kept.length, kept[0]?.bytes, kept[0]?.allocations], [1, 100 * 1000, 100], r.stdout);
  assert.equal(recs.filter((x) => x.ustack.some((f: string) => frame('churn_toy').test(f))).length, 0, r.stdout);
});

test('memleak (kernel mode): N pipes held open appear under alloc_pipe_info with their process', async () => {
  const N = 150;
  const w = start(workload('memleak_pipes'), [String(N)]);
  try {
    await w.waitFor('ready');
    // -o 0: the pipes are made just before the report, younger than BCC's default 500 ms
    const ms = await startMemscope(['memleak', '--json', '-o', '0', '-T', '100000', '60']);
    w.send('go');
    await w.waitFor('done');
    const r = await ms.interrupt(); // the pipes are still open
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout).filter((x) => x.pid === w.pid);
    // each pipe(): kzalloc of its pipe_inode_info and kcalloc of its buffer array, both called
    // from alloc_pipe_info
    const pipes = recs.filter((x) => x.kstack && /^alloc_pipe_info\+0x[0-9a-f]+ \[kernel\]$/.test(x.kstack[1]));
    assert.equal(total(pipes, 'allocations'), 2 * N, JSON.stringify(pipes) + r.stderr);
    assert.equal(pipes.length, 2);
    assert.ok(pipes.every((x) => x.kstack.some((f: string) => f.startsWith('do_pipe2+')) && x.comm === 'memleak_pipes'));
    assert.ok(pipes.every((x) => x.ustack.length === 0));
  } finally {
    w.kill();
  }
});

test('memleak: bad input is one line and a non-zero exit', () => {
  const r1 = memscope(['memleak', '--sample-bytes', '4096', '1', '1']);
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /^memscope: --sample-bytes works with -c/);
  const r2 = memscope(['memleak', '-p', '1', '--combined-only', '-o', '10', '1', '1']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /^memscope: -o and -a need each allocation/);
  const r3 = memscope(['memleak', '-O', '/nonexistent/lib.so', '-p', String(process.pid), '1', '1']);
  assert.notEqual(r3.code, 0);
  assert.equal(r3.stderr.trim().split('\n').length, 1, r3.stderr);
  assert.match(r3.stderr, /^memscope: -O \/nonexistent\/lib\.so: no such file/);
});

after(() => assertNothingLoaded());
