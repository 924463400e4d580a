// SPDX-License-Identifier: Apache-2.0
// DWARF unwinding end to end through brkstack: malloc-driven heap growth in programs built
// -O2 -fomit-frame-pointer, through Debian's libc (no frame pointers) and a shared library of the
// test's own, reaches main with the workload's functions in order.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, startMemscope, jsonLines, memscope } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { assertInOrder, frameName } from './lib/frames';
import { unwindWorkload } from './unwind-workloads';

interface Rec {
  pid: number;
  comm: string;
  count: number;
  ustack: string[];
}

/** Runs the workload under `memscope brkstack -p --json`; returns its records and the growths it counted. */
async function trace(bin: string, args: string[], unwind: string[]): Promise<{ recs: Rec[]; grew: number; pid: number; stderr: string }> {
  const w = start(bin, args);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['brkstack', '--json', '-v', '-p', String(w.pid), ...unwind]);
    w.send('go');
    await w.waitFor(/done \d/);
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const grew = Number(/grew (\d+)/.exec(w.stdout)![1]);
    return { recs: jsonLines(r.stdout), grew, pid: w.pid, stderr: r.stderr };
  } finally {
    w.kill();
  }
}

function through(recs: Rec[], pid: number, func: string): Rec[] {
  return recs.filter((r) => r.pid === pid && r.ustack.some((f) => frameName(f).startsWith(func + ' ')));
}

test('dwarf: brk() from malloc in a -fomit-frame-pointer program unwinds through libc to main, every growth counted', async () => {
  const { bin } = unwindWorkload('nofp');
  const { recs, grew, pid, stderr } = await trace(bin, ['app', '24'], ['--unwind', 'dwarf']);
  const mine = through(recs, pid, 'grow_by_malloc');
  assert.ok(grew > 10, `the workload grew its heap ${grew} times`);
  assert.equal(mine.reduce((s, r) => s + r.count, 0), grew, JSON.stringify(recs));
  for (const r of mine) {
    assertInOrder(r.ustack, [
      'brk [libc.so.6]',
      'sbrk [libc.so.6]',
      'malloc [libc.so.6]',
      'grow_by_malloc [unwind_malloc]',
      'middle_level [unwind_malloc]',
      'outer_level [unwind_malloc]',
      'main [unwind_malloc]',
    ]);
    assert.ok(!r.ustack.some((f) => f.startsWith('[unwind stopped')), r.ustack.join('\n'));
    // below main: libc's start code and _start, the outermost frame (no garbage after it)
    assert.match(r.ustack[r.ustack.length - 1], /^_start\+0x[0-9a-f]+ \[unwind_malloc\]$/);
  }
  assert.match(stderr, /user stacks: DWARF CFI unwinding of 8192 stack bytes per event/);
  assert.match(stderr, /user stacks: \d+ events unwound with DWARF CFI/);
});

test('fp on the same program stops in libc: the DWARF path is what reaches main', async () => {
  const { bin } = unwindWorkload('nofp');
  const { recs, grew, pid } = await trace(bin, ['app', '12'], ['--unwind', 'fp']);
  const all = recs.filter((r) => r.pid === pid);
  assert.ok(all.reduce((s, r) => s + r.count, 0) >= grew);
  assert.equal(through(recs, pid, 'main').length, 0, JSON.stringify(all));
});

test('dwarf on the frame-pointer twin gives the same chain', async () => {
  const { bin } = unwindWorkload('fp');
  const { recs, grew, pid } = await trace(bin, ['app', '16'], ['--unwind', 'dwarf']);
  const mine = through(recs, pid, 'grow_by_malloc');
  assert.equal(mine.reduce((s, r) => s + r.count, 0), grew);
  for (const r of mine) assertInOrder(r.ustack, ['malloc [libc.so.6]', 'grow_by_malloc [unwind_malloc]', 'middle_level [unwind_malloc]', 'outer_level [unwind_malloc]', 'main [unwind_malloc]']);
});

test('dwarf with CFI only in .debug_frame (built without unwind tables) still reaches main', async () => {
  const { bin } = unwindWorkload('debugframe');
  const { recs, grew, pid } = await trace(bin, ['app', '12'], ['--unwind', 'dwarf']);
  const mine = through(recs, pid, 'grow_by_malloc');
  assert.equal(mine.reduce((s, r) => s + r.count, 0), grew);
  for (const r of mine) assertInOrder(r.ustack, ['malloc [libc.so.6]', 'grow_by_malloc [unwind_malloc]', 'middle_level [unwind_malloc]', 'outer_level [unwind_malloc]', 'main [unwind_malloc]']);
});

test('auto (the default) unwinds through a shared library built without frame pointers', async () => {
  const { bin } = unwindWorkload('nofp');
  const { recs, grew, pid } = await trace(bin, ['lib', '20'], []);
  const mine = through(recs, pid, 'lib_grow');
  assert.equal(mine.reduce((s, r) => s + r.count, 0), grew);
  for (const r of mine) {
    assertInOrder(r.ustack, [
      'brk [libc.so.6]',
      'malloc [libc.so.6]',
      'lib_grow [libunwind_lib.so]',
      'lib_outer [libunwind_lib.so]',
      'outer_level [unwind_malloc]',
      'main [unwind_malloc]',
    ]);
  }
});

test('a recursion of known depth unwinds to that depth, and a small stack copy ends with a marker', async () => {
  const { bin } = unwindWorkload('nofp');
  const DEPTH = 60;
  const full = await trace(bin, ['deep', '6', String(DEPTH)], ['--unwind', 'dwarf']);
  const deep = through(full.recs, full.pid, 'grow_by_malloc');
  assert.equal(deep.reduce((s, r) => s + r.count, 0), full.grew);
  for (const r of deep) {
    assert.equal(r.ustack.filter((f) => frameName(f) === 'recurse [unwind_malloc]').length, DEPTH, r.ustack.join('\n'));
    assertInOrder(r.ustack, ['grow_by_malloc [unwind_malloc]', 'recurse [unwind_malloc]', 'outer_level [unwind_malloc]', 'main [unwind_malloc]']);
  }

  const cut = await trace(bin, ['deep', '6', String(DEPTH)], ['--unwind', 'dwarf', '--unwind-bytes', '1024']);
  const short = through(cut.recs, cut.pid, 'grow_by_malloc');
  assert.equal(short.reduce((s, r) => s + r.count, 0), cut.grew);
  for (const r of short) {
    const n = r.ustack.filter((f) => frameName(f) === 'recurse [unwind_malloc]').length;
    assert.ok(n > 0 && n < DEPTH, `${n} recurse frames in 1024 bytes`);
    assert.equal(r.ustack[r.ustack.length - 1], '[unwind stopped: end of the 1024-byte stack copy]');
    // every frame before the marker is a real one: libc's malloc path, then grow_by_malloc and recurse
    const frames = r.ustack.slice(0, -1).map(frameName);
    const first = frames.indexOf('grow_by_malloc [unwind_malloc]');
    assert.ok(first > 0);
    assert.ok(frames.slice(first + 1).every((f) => f === 'recurse [unwind_malloc]'), frames.join('\n'));
  }
});

test('faults --unwind dwarf: a fault stack in a recursion of known depth has that depth', async () => {
  const { bin } = unwindWorkload('nofp');
  const DEPTH = 45;
  const w = start(bin, ['deep', '8', String(DEPTH)]);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['faults', '--json', '-p', String(w.pid), '--unwind', 'dwarf']);
    w.send('go');
    await w.waitFor(/done \d/);
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const deep = through(jsonLines(r.stdout), w.pid, 'grow_by_malloc');
    assert.ok(deep.length > 0, r.stdout);
    for (const s of deep) {
      assert.equal(s.ustack.filter((f) => frameName(f) === 'recurse [unwind_malloc]').length, DEPTH, s.ustack.join('\n'));
      assertInOrder(s.ustack, ['grow_by_malloc [unwind_malloc]', 'recurse [unwind_malloc]', 'outer_level [unwind_malloc]', 'main [unwind_malloc]']);
      assert.ok(!s.ustack.some((f) => f.startsWith('[unwind stopped')), s.ustack.join('\n'));
    }
  } finally {
    w.kill();
  }
});

test('-c: a process that exits at once still unwinds (its executable mappings come from BPF, not /proc)', () => {
  const { bin } = unwindWorkload('nofp');
  const r = memscope(['brkstack', '--json', '-v', '--unwind', 'dwarf', '-c', `${bin} lib 9`], { input: 'go\n' });
  assert.equal(r.code, 0, r.stderr);
  const grew = Number(/grew (\d+)/.exec(r.stdout)![1]);
  const recs: Rec[] = jsonLines(r.stdout);
  const mine = recs.filter((x) => x.ustack.some((f) => frameName(f) === 'lib_grow [libunwind_lib.so]'));
  assert.equal(mine.reduce((s, x) => s + x.count, 0), grew, r.stdout);
  for (const x of mine) assertInOrder(x.ustack, ['malloc [libc.so.6]', 'lib_grow [libunwind_lib.so]', 'lib_outer [libunwind_lib.so]', 'main [unwind_malloc]']);
  // from its first instruction: ld.so's own brk() ends cleanly at ld.so's entry code, no marker
  assert.ok(recs.every((x) => !x.ustack.some((f) => f.startsWith('[unwind stopped'))), r.stdout);
  assert.doesNotMatch(r.stderr, /exited before their maps were read/);
});

test('mmapsnoop -U --unwind dwarf: each mmap() of a -fomit-frame-pointer program has its full stack', async () => {
  const { bin } = unwindWorkload('nofp');
  const w = start(bin, ['app', '40']);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['mmapsnoop', '--json', '-U', '-p', String(w.pid), '--unwind', 'dwarf']);
    w.send('go');
    await w.waitFor(/done \d/);
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    // allocations above malloc's mmap threshold (128 KiB) are mmap()s from sysmalloc
    const big = jsonLines(r.stdout).filter((x) => x.file === '[anon]' && x.size >= 128 * 1024);
    assert.ok(big.length >= 10, r.stdout);
    for (const e of big) {
      assertInOrder(e.ustack, ['malloc [libc.so.6]', 'grow_by_malloc [unwind_malloc]', 'middle_level [unwind_malloc]', 'outer_level [unwind_malloc]', 'main [unwind_malloc]']);
      assert.match(e.ustack[0], /mmap/);
    }
  } finally {
    w.kill();
  }
});

test('dwarf through a signal frame: a handler that mallocs unwinds through __restore_rt to the interrupted code and main', async () => {
  const { bin } = unwindWorkload('nofp');
  const { recs, grew, pid } = await trace(bin, ['signal', '10'], ['--unwind', 'dwarf']);
  const mine = through(recs, pid, 'on_signal');
  assert.equal(mine.reduce((s, r) => s + r.count, 0), grew);
  for (const r of mine) {
    // libc's __restore_rt has CFI made of DWARF expressions over the signal frame's ucontext
    assertInOrder(r.ustack, [
      'malloc [libc.so.6]',
      'grow_by_malloc [unwind_malloc]',
      'on_signal [unwind_malloc]',
      '__restore_rt [libc.so.6]',
      'raise [libc.so.6]',
      'send_signal [unwind_malloc]',
      'outer_level [unwind_malloc]',
      'main [unwind_malloc]',
    ]);
    assert.ok(!r.ustack.some((f) => f.startsWith('[unwind stopped')), r.ustack.join('\n'));
  }
});

test('auto over its rate uses frame pointers for the rest, says so under -v, and every event is still counted', async () => {
  const { bin } = unwindWorkload('nofp');
  const { recs, grew, pid, stderr } = await trace(bin, ['app', '30'], ['--unwind', 'auto', '--unwind-rate', '4']);
  assert.match(stderr, /user stacks: DWARF CFI unwinding of 8192 stack bytes per event, frame pointers above 4 events\/s per CPU/);
  const over = Number(/user stacks: (\d+) events over 4\/s per CPU used frame pointers instead/.exec(stderr)?.[1] ?? 0);
  const dwarf = through(recs, pid, 'grow_by_malloc').reduce((s, r) => s + r.count, 0);
  // the frame-pointer stacks stop in libc: they are the brk() calls of this process without main
  const fp = recs.filter((r) => r.pid === pid && !r.ustack.some((f) => frameName(f) === 'main [unwind_malloc]')).reduce((s, r) => s + r.count, 0);
  assert.ok(over > 0 && dwarf > 0, stderr);
  assert.ok(dwarf <= 8, `${dwarf} DWARF stacks through grow_by_malloc at 4/s per CPU`);
  assert.equal(dwarf + fp, grew, JSON.stringify(recs));
});

test("faults --unwind dwarf: a fault in the vDSO is named from memscope's copy of it and unwinds with its CFI to main", async () => {
  const { bin } = unwindWorkload('nofp');
  const w = start(bin, ['clock', '1']);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['faults', '--json', '-p', String(w.pid), '--unwind', 'dwarf']);
    w.send('go');
    await w.waitFor(/done \d/);
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    // the first clock_gettime() runs vDSO code for the first time: its page faults in
    const inVdso = jsonLines(r.stdout).filter((x) => x.ustack[0]?.endsWith(' [vdso]'));
    assert.ok(inVdso.length > 0, r.stdout);
    for (const s of inVdso) {
      // the vDSO's own symbols (its .dynsym) name clock_gettime or __vdso_clock_gettime. Under
      // kvm-clock the fault is taken in a static helper (vread_pvclock) that the .dynsym does not
      // list: it may stand above clock_gettime as [unknown] [vdso], never as a made-up name
      const vdsoFrames = s.ustack.slice(0, s.ustack.findIndex((f: string) => !f.endsWith(' [vdso]')));
      const named = vdsoFrames.filter((f: string) => f !== '[unknown] [vdso]');
      assert.ok(named.length > 0, s.ustack.join('\n'));
      for (const f of named) assert.match(f, /^(__vdso_)?clock_gettime\+0x[0-9a-f]+ \[vdso\]$/, s.ustack.join('\n'));
      assert.ok(vdsoFrames.indexOf(named[0]) <= 1, s.ustack.join('\n'));
      assertInOrder(s.ustack, ['read_clock [unwind_malloc]', 'outer_level [unwind_malloc]', 'main [unwind_malloc]']);
      assert.ok(!s.ustack.some((f: string) => f.startsWith('[unwind stopped')), s.ustack.join('\n'));
    }
  } finally {
    w.kill();
  }
});

test("faults --unwind dwarf in a thread: the stack ends cleanly at clone3, the thread's outermost frame", async () => {
  const { bin } = unwindWorkload('nofp');
  const w = start(bin, ['thread', '64']);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['faults', '--json', '-p', String(w.pid), '--unwind', 'dwarf']);
    w.send('go');
    await w.waitFor(/done \d/);
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const inWorker = jsonLines(r.stdout).filter((x) => x.ustack.length && frameName(x.ustack[0]) === 'thread_worker [unwind_malloc]');
    // one of the 64 pages may fault inside malloc (its chunk header), every other in thread_worker
    assert.ok(inWorker.reduce((s, x) => s + x.count, 0) >= 63, r.stdout);
    for (const s of inWorker) {
      assert.deepEqual(s.ustack.map(frameName), ['thread_worker [unwind_malloc]', 'start_thread [libc.so.6]', 'clone3 [libc.so.6]']);
    }
  } finally {
    w.kill();
  }
});

after(() => assertNothingLoaded());
