// SPDX-License-Identifier: Apache-2.0
// memleak with BCC's options and defaults: -o's 500 ms default, the grand total line, --no-mmap,
// -C, -S, -F, --percpu and --stack-storage-size, each against memleak_sites' known allocations.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { workload } from './lib/workloads';
import { start, startMemscope, jsonLines, memscope, Running } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const SITES = 'memleak_sites';

after(() => assertNothingLoaded());

async function traced(args: string[]): Promise<{ w: Running; ms: Running }> {
  const w = start(workload(SITES));
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['memleak', '-p', String(w.pid), ...args]);
    return { w, ms };
  } catch (e) {
    w.kill();
    throw e;
  }
}

/** Runs the sites (go, then young, then exit) under memleak -p ARGS; the final report's text. */
async function toExit(args: string[]): Promise<{ stdout: string; pid: number }> {
  const { w, ms } = await traced(args);
  try {
    w.send('go');
    await w.waitFor('done');
    w.send('young');
    await w.waitFor('young done');
    w.send('exit');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    return { stdout: r.stdout, pid: w.pid };
  } finally {
    w.kill();
    ms.kill();
  }
}

/** The per-stack "N bytes in M allocations from stack" lines and the grand total line. */
function parse(out: string): { stacks: [number, number, string][]; total: [number, number, string] } {
  const stacks = [...out.matchAll(/^\t(\d+) bytes in (\d+) allocations from stack.*\n\t\t(.*)$/gm)].map(
    (m) => [Number(m[1]), Number(m[2]), m[3]] as [number, number, string],
  );
  const t = /^(\d+) bytes in (\d+) allocations outstanding \((.*)\)$/m.exec(out);
  assert.ok(t, `no total line:\n${out}`);
  return { stacks, total: [Number(t[1]), Number(t[2]), t[3]] };
}

test("memleak without -o: BCC's 500 ms default — no allocation younger than 500 ms is reported while the target runs", async () => {
  const { w, ms } = await traced(['--json', '-a', '60']);
  try {
    w.send('go');
    await w.waitFor('done');
    // leak_e's 20 allocations are made just before the report (Ctrl-C): they may only appear once 500 ms old
    w.send('young');
    await w.waitFor('young done');
    const r = await ms.interrupt();
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    const allocs = recs.flatMap((x) => x.allocs ?? []);
    assert.ok(allocs.length >= 100, r.stdout);
    assert.ok(
      allocs.every((a: any) => a.age_ms >= 500),
      `an allocation younger than 500 ms was reported:\n${r.stdout}`,
    );
    // leak_a, made before, is there
    assert.ok(
      recs.some((x) => /^leak_a\+/.test(x.ustack[0]) && x.bytes === 100000),
      r.stdout,
    );
  } finally {
    w.kill();
    ms.kill();
  }
});

test("memleak: a grand total line sums every stack, says mmap'd regions are included; --no-mmap leaves out the thread stack pthread_create mapped", async () => {
  const withMmap = parse((await toExit(['-T', '100', '60'])).stdout);
  // after the target exited nothing is in flight: the default age does not apply, leak_e is counted
  assert.ok(
    withMmap.stacks.some(([b, n, f]) => b === 10000 && n === 20 && /^leak_e\+/.test(f)),
    JSON.stringify(withMmap),
  );
  const sum = (s: [number, number, string][]) => [s.reduce((t, x) => t + x[0], 0), s.reduce((t, x) => t + x[1], 0)];
  assert.deepEqual(withMmap.total.slice(0, 2), sum(withMmap.stacks));
  assert.match(withMmap.total[2], /^\d+ stacks; mmap'd regions included: --no-mmap leaves them out$/);
  // the second thread's stack: one mmap of at least 8 MiB, from pthread_create
  const threadStack = withMmap.stacks.find(([, n, f]) => n === 1 && /^pthread_create\b/.test(f));
  assert.ok(threadStack && threadStack[0] >= 8 << 20, JSON.stringify(withMmap));

  const noMmap = parse((await toExit(['--no-mmap', '-T', '100', '60'])).stdout);
  assert.deepEqual(noMmap.total.slice(0, 2), sum(noMmap.stacks));
  assert.match(noMmap.total[2], /mmap'd regions left out$/);
  assert.ok(!noMmap.stacks.some(([, , f]) => /^pthread_create\b/.test(f)), JSON.stringify(noMmap));
  // exactly the thread stack less: the malloc'd sites are the same
  assert.deepEqual(noMmap.total.slice(0, 2), [withMmap.total[0] - threadStack![0], withMmap.total[1] - 1]);
});

test('memleak -C (--combined-only), -F (--wa-missing-free) and -S (--symbols-prefix), as BCC spells them', async () => {
  const out = parse((await toExit(['-C', '-F', '-T', '100', '60'])).stdout);
  assert.ok(
    out.stacks.some(([b, n, f]) => b === 100000 && n === 100 && /^leak_a\+/.test(f)),
    JSON.stringify(out),
  );
  // -C keeps no ages: no default age is said
  assert.doesNotMatch(out.total[2], /older than/);
  // -S is the prefix of the allocator's names: libc has no je_malloc
  const w = start(workload(SITES));
  try {
    await w.waitFor('ready');
    const r = memscope(['memleak', '-p', String(w.pid), '-S', 'je_', '1', '1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^memscope: .*has no function je_malloc/m);
  } finally {
    w.kill();
  }
});

test('memleak --stack-storage-size 1: a frame-pointer stack table of one entry is full at once, and said so', async () => {
  const out = await (async () => {
    const { w, ms } = await traced(['--stack-storage-size', '1', '--unwind', 'fp', '-T', '100', '60']);
    try {
      w.send('go');
      await w.waitFor('done');
      w.send('exit');
      return await ms.exited;
    } finally {
      w.kill();
      ms.kill();
    }
  })();
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stderr, /some stacks could not be captured \(stack table full/);
  // one stack fits: every other stack keeps only its first frame (the caller of malloc, read at entry)
  const blocks = out.stdout.split(/^\t\d+ bytes in \d+ allocations from stack.*$/m).slice(1);
  const deep = blocks.filter((b) => b.split('\n').filter((l) => l.startsWith('\t\t') && !l.includes('unwind stopped')).length > 1);
  assert.ok(blocks.length >= 5 && deep.length <= 1, out.stdout);
});

test('memleak --percpu: kernel percpu allocations only (the other kmem events are not attached); with -p it is refused', () => {
  const r = memscope(['memleak', '--percpu', '-v', '1', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /percpu allocations: using /);
  assert.doesNotMatch(r.stderr, /kmalloc\/kfree: using /);
  const bad = memscope(['memleak', '--percpu', '-p', '1']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^memscope: --percpu traces kernel percpu allocations/);
});

test('memleak -t prints each recorded call as BCC --trace does: alloc entered and exited with the result, frees of recorded blocks; -z bounds them too', async () => {
  const { stdout, pid } = await toExit(['-t', '--json', '-z', '100']); // -z 100 leaves out churn_d's 100,000 blocks of 48 B
  const calls = jsonLines(stdout);
  assert.ok(calls.length > 0 && calls.every((c) => typeof c.call === 'string' && c.bytes === undefined), 'calls only, no report');
  const of = (call: string, size: number) => calls.filter((c) => c.pid === pid && c.call === call && c.size === size);
  assert.equal(of('alloc_enter', 1000).length, 100, 'leak_a');
  assert.equal(of('alloc_exit', 1000).length, 100);
  assert.ok(of('alloc_exit', 1000).every((c) => /^0x[0-9a-f]+$/.test(c.addr) && c.addr !== '0x0'));
  assert.equal(of('alloc_exit', 500).length, 20, 'leak_e');
  // leak_thread's ten, from its second thread (the main thread's stdio buffer is 4096 B too)
  assert.equal(of('alloc_exit', 4096).filter((c) => c.tid !== pid).length, 10, 'leak_thread');
  assert.equal(calls.filter((c) => c.size === 48 || c.size === 64).length, 0, 'below -z 100');
  assert.equal(calls.filter((c) => c.call === 'free' && c.size === 1000).length, 0, 'leak_a is kept');
});

test('memleak -t in text: the lines BCC prints, after the time, PID, TID and COMM', async () => {
  const { w, ms } = await traced(['-t', '-z', '900', '-Z', '1000']);
  try {
    w.send('go');
    await w.waitFor('done');
    w.send('exit');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter(Boolean);
    const entered = lines.filter((l) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${w.pid} +${w.pid} +${SITES} +alloc entered, size = 1000$`).test(l));
    const exited = lines.filter((l) => new RegExp(`^\\S+ ${w.pid} +${w.pid} +${SITES} +alloc exited, size = 1000, result = [0-9a-f]+$`).test(l));
    assert.deepEqual([entered.length, exited.length], [100, 100], r.stdout.slice(0, 2000));
    assert.ok(!/outstanding/.test(r.stdout), 'no report');
  } finally {
    w.kill();
    ms.kill();
  }
});
