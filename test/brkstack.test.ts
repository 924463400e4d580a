// SPDX-License-Identifier: Apache-2.0
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { workload } from './lib/workloads';
import { start, startMemscope, jsonLines, memscope, traceGated } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const N = 37;

function growStacks(records: any[], pid: number) {
  return records.filter((r) => r.pid === pid && r.ustack.some((f: string) => f.startsWith('grow_heap+')));
}

test('brkstack -p counts exactly the brk() calls of grow_heap, and nothing of another process', async () => {
  const { result: r, target } = await traceGated(workload('brk_grow'), [String(N)], (pid) => ['brkstack', '--json', '-p', String(pid)], {
    bystander: ['5'],
  });
  // the target exited; memscope noticed, printed its report and exited by itself
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  const grow = growStacks(recs, target.pid);
  assert.equal(grow.reduce((s, x) => s + x.count, 0), N, r.stdout);
  // symbolized after the process exited: the frames name the functions in order
  const frames: string[] = grow[0].ustack;
  assert.match(frames[0], /^grow_heap\+0x[0-9a-f]+ \[brk_grow\]$/);
  assert.match(frames[1], /^main\+0x[0-9a-f]+ \[brk_grow\]$/);
  assert.equal(grow[0].comm, 'brk_grow');
  assert.ok(recs.every((x) => x.pid === target.pid), 'another process leaked through -p');
});

test('brkstack -c traces a command from its start, text report', () => {
  const bin = workload('brk_grow');
  const r = memscope(['brkstack', '-c', `${bin} 12`], { input: 'go\n' });
  assert.equal(r.code, 0, r.stderr);
  // text report: frames, then "comm [pid]", then the count
  const m = /\n  grow_heap\+0x[0-9a-f]+ \[brk_grow\]\n  main\+0x[0-9a-f]+ \[brk_grow\]\n(?:  .*\n)*    brk_grow \[(\d+)\]\n    12\n/.exec(r.stdout);
  assert.ok(m, r.stdout);
});

test('brkstack system-wide with a duration sees a process it was not told about', async () => {
  const bin = workload('brk_grow');
  const w = start(bin, ['9']);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['brkstack', '--json', '2']);
    w.send('go');
    await w.waitFor('done');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const grow = growStacks(jsonLines(r.stdout), w.pid);
    assert.equal(grow.reduce((s, x) => s + x.count, 0), 9, r.stdout);
  } finally {
    w.kill();
  }
});

test('SIGTERM ends tracing like Ctrl-C: the summary is printed and the exit status is 0', async () => {
  const bin = workload('brk_grow');
  const w = start(bin, ['6']);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['brkstack', '--json', '-p', String(w.pid)]);
    w.send('go');
    await w.waitFor('done');
    // the workload has exited; stop memscope before it notices, by SIGTERM
    ms.child.kill('SIGTERM');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(growStacks(jsonLines(r.stdout), w.pid).reduce((s, x) => s + x.count, 0), 6, r.stdout);
  } finally {
    w.kill();
  }
});

after(() => assertNothingLoaded());
