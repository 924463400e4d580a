// SPDX-License-Identifier: Apache-2.0
// stackcount --unwind: user stacks of a tracepoint (brk) in a program built -O2 -fomit-frame-pointer,
// DWARF-unwound through libc's malloc internals to main; the frame-pointer walk stops in libc.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, startMemscope, jsonLines } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { assertInOrder, frameName } from './lib/frames';
import { unwindWorkload } from './unwind-workloads';

interface Rec {
  pid: number;
  comm: string;
  count: number;
  ustack: string[];
  kstack?: string[];
}

/** Runs `unwind_malloc app N` under `memscope stackcount -P --json -p PID ARGS t:syscalls:sys_enter_brk`. */
async function trace(n: number, args: string[]): Promise<{ recs: Rec[]; grew: number; pid: number; stderr: string }> {
  const { bin } = unwindWorkload('nofp');
  const w = start(bin, ['app', String(n)]);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['stackcount', '-P', '--json', '-v', '-p', String(w.pid), ...args, 't:syscalls:sys_enter_brk']);
    w.send('go');
    await w.waitFor(/done \d/);
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    return { recs: jsonLines(r.stdout), grew: Number(/grew (\d+)/.exec(w.stdout)![1]), pid: w.pid, stderr: r.stderr };
  } finally {
    w.kill();
  }
}

const through = (recs: Rec[], pid: number, func: string) => recs.filter((r) => r.pid === pid && r.ustack.some((f) => frameName(f) === func));

test('stackcount -U --unwind dwarf t:syscalls:sys_enter_brk: every malloc-driven brk() reaches main through libc', async () => {
  const { recs, grew, pid, stderr } = await trace(20, ['-U', '--unwind', 'dwarf']);
  assert.ok(grew > 10, `the workload grew its heap ${grew} times`);
  const mine = through(recs, pid, 'grow_by_malloc [unwind_malloc]');
  assert.equal(mine.reduce((s, r) => s + r.count, 0), grew, JSON.stringify(recs));
  for (const r of mine) {
    assert.equal(r.comm, 'unwind_malloc');
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
  }
  assert.match(stderr, /user stacks: DWARF CFI unwinding of 8192 stack bytes per event\n/);
  assert.match(stderr, new RegExp(`user stacks: ${recs.filter((r) => r.pid === pid).reduce((s, r) => s + r.count, 0)} events unwound with DWARF CFI`));
});

test('stackcount -U --unwind fp (the default) on the same program stops in libc, never reaching main', async () => {
  const { recs, grew, pid, stderr } = await trace(12, ['-U']);
  const all = recs.filter((r) => r.pid === pid);
  assert.ok(all.reduce((s, r) => s + r.count, 0) >= grew, JSON.stringify(recs));
  assert.ok(all.some((r) => r.ustack.some((f) => frameName(f) === 'brk [libc.so.6]')), JSON.stringify(all));
  assert.equal(through(recs, pid, 'main [unwind_malloc]').length, 0, JSON.stringify(all));
  assert.match(stderr, /user stacks: frame pointers \(in the kernel\)/);
});

test('stackcount --unwind dwarf without -U: kernel frames above the DWARF-unwound user stack', async () => {
  const { recs, grew, pid } = await trace(12, ['--unwind', 'dwarf']);
  const mine = through(recs, pid, 'grow_by_malloc [unwind_malloc]');
  assert.equal(mine.reduce((s, r) => s + r.count, 0), grew, JSON.stringify(recs));
  for (const r of mine) {
    assert.ok(r.kstack && r.kstack.length > 0, JSON.stringify(r));
    assertInOrder(r.ustack, ['malloc [libc.so.6]', 'grow_by_malloc [unwind_malloc]', 'main [unwind_malloc]']);
  }
});

after(() => assertNothingLoaded());
