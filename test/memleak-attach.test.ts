// SPDX-License-Identifier: Apache-2.0
// memleak attached to programs that are already running: a busy allocator (issue 10.1).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { workload } from './lib/workloads';
import { start, startMemscope, jsonLines, memscope } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const BUSY = 'memleak_busy';
const frame = (fn: string) => new RegExp(`^${fn}\\+0x[0-9a-f]+ \\[${BUSY}\\]$`);

test('memleak -p on an allocator that is already busy: what is kept after attach is reported exactly', async () => {
  const w = start(workload(BUSY));
  try {
    await w.waitFor('running');
    // the loop is in malloc and free all the time: probes attach while calls are in flight
    await new Promise((res) => setTimeout(res, 200));
    // -o 0: the last blocks are kept just before the report, younger than BCC's default 500 ms
    const ms = await startMemscope(['memleak', '--json', '-o', '0', '-p', String(w.pid), '600']);
    w.send('mark'); // the blocks kept before are freed: only those kept from now on stay
    await w.waitFor('marked');
    await new Promise((res) => setTimeout(res, 300));
    w.send('stop');
    await w.waitFor(/kept \d+ \d+/);
    const [, bytes, count] = /kept (\d+) (\d+)/.exec(w.stdout)!.map(Number);
    assert.ok(count > 0);
    const r = await ms.interrupt();
    assert.equal(r.code, 0, r.stderr);
    // keep_block's allocations, whatever their stacks: with --unwind auto the site can be two rows
    // (DWARF-unwound within the rate, frame pointers above it), both through main
    const recs = jsonLines(r.stdout).filter((x) => x.ustack.length && frame('keep_block').test(x.ustack[0]));
    assert.ok(recs.length >= 1 && recs.every((x) => frame('main').test(x.ustack[1])), r.stdout);
    const sum = (f: 'bytes' | 'allocations') => recs.reduce((s, x) => s + x[f], 0);
    assert.deepEqual([sum('bytes'), sum('allocations')], [bytes, count], r.stdout);
  } finally {
    w.kill();
  }
});

test('memleak -p: a probe the kernel refuses is left out with a line, and the rest is traced', async () => {
  // the workload's own mmap starts with an instruction uprobes cannot handle (ENOTSUPP)
  const bin = workload('memleak_probefail');
  const w = start(bin);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['memleak', '--json', '-O', bin, '-p', String(w.pid), '600']);
    w.send('go');
    await w.waitFor('done');
    w.child.stdin!.end(); // the target exits: the final report
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => /cannot attach/.test(l));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^memscope: memleak: cannot attach a uprobe to mmap in .*memleak_probefail: .*; going on without mmap/);
    const f = jsonLines(r.stdout).filter((x) => /^leak_f\+0x[0-9a-f]+ \[memleak_probefail\]$/.test(x.ustack[0] ?? ''));
    assert.deepEqual([f.length, f[0]?.bytes, f[0]?.allocations], [1, 1000, 10], r.stdout);
  } finally {
    w.kill();
  }
});

test('memleak -p of a zombie says it has exited, not "name the allocator with -O"', async () => {
  // a child that exits once its parent is sleep (exec'd by sh), which never waits for it: exiting
  // earlier, sh could reap it before its exec (a clean-clone run found /proc/CHILD gone)
  const parent = start('/bin/sh', ['-c', 'p=$$; (while [ "$(cat /proc/$p/comm)" != sleep ]; do sleep 0.01; done) & echo child $!; exec sleep 30']);
  try {
    await parent.waitFor(/child \d+/);
    const child = Number(/child (\d+)/.exec(parent.stdout)![1]);
    for (let i = 0; i < 100 && !/\) Z /.test(fs.readFileSync(`/proc/${child}/stat`, 'utf8')); i++) {
      await new Promise((res) => setTimeout(res, 20));
    }
    const r = memscope(['memleak', '-p', String(child), '1', '1']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `memscope: PID ${child} has exited (a zombie): it has no memory left to trace\n`);
  } finally {
    parent.kill();
  }
});

test('memleak -p on a jemalloc process: a hint to name it with -O, and with -O its allocations', async () => {
  const jemalloc = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'; // Debian libjemalloc2 (setup.sh)
  assert.ok(fs.existsSync(jemalloc), 'libjemalloc2 is not installed: run setup.sh');
  // memleak_exec: on "go", old_image_leak keeps 5 x malloc(777)
  const run = async (args: string[]) => {
    const w = start('/usr/bin/env', [`LD_PRELOAD=${jemalloc}`, workload('memleak_exec')]);
    try {
      await w.waitFor('ready');
      const ms = await startMemscope(['memleak', '--json', '-p', String(w.pid), ...args, '600']);
      w.send('go');
      await w.waitFor('leaked');
      w.child.stdin!.end(); // the target exits: the final report
      return await ms.exited;
    } finally {
      w.kill();
    }
  };
  const plain = await run([]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /^memscope: memleak: PID \d+ uses libjemalloc\.so\.2, not libc's malloc: trace its allocator with -O libjemalloc\.so\.2$/m);
  const withO = await run(['-O', 'libjemalloc.so.2']);
  assert.equal(withO.code, 0, withO.stderr);
  assert.doesNotMatch(withO.stderr, /uses libjemalloc/);
  const leak = jsonLines(withO.stdout).filter((x) => /^old_image_leak\+0x[0-9a-f]+ \[memleak_exec\]$/.test(x.ustack[0] ?? ''));
  assert.deepEqual([leak.length, leak[0]?.bytes, leak[0]?.allocations], [1, 5 * 777, 5], withO.stdout);
});

after(() => assertNothingLoaded());
