// SPDX-License-Identifier: Apache-2.0
// The unwind queue's ring (src/unwind/sample-queue.ts): records come out whole and in order,
// through wraps, and a record that does not fit is refused, never written over a queued one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SampleQueue } from '../../src/unwind/sample-queue';

function record(id: number, size: number): Buffer {
  const b = Buffer.alloc(size, id & 0xff);
  b.writeUInt32LE(id, 0);
  return b;
}

test('sample queue: FIFO through many wraps, refusals exact, every record intact', () => {
  const q = new SampleQueue(1000);
  const model: { id: number; size: number }[] = [];
  let next = 0;
  let refused = 0;
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  for (let step = 0; step < 20000; step++) {
    if (rand(3) !== 0) {
      const size = 8 + rand(300);
      const ok = q.push(record(next, size));
      // it must fit when the model's bytes plus it are at most half the ring (no layout can refuse
      // that), and it never fits past the whole ring
      const held = model.reduce((s, m) => s + m.size, 0);
      if (held + size <= 500) assert.ok(ok, `refused ${size} bytes with ${held} held`);
      if (held + size > 1000) assert.ok(!ok);
      if (ok) model.push({ id: next++, size });
      else refused++;
    } else if (model.length) {
      const want = model.shift()!;
      const got = q.peek()!;
      assert.equal(got.length, want.size);
      assert.equal(got.readUInt32LE(0), want.id);
      for (let i = 4; i < got.length; i++) assert.equal(got[i], want.id & 0xff);
      q.shift();
    } else assert.equal(q.peek(), undefined);
    assert.equal(q.length, model.length);
  }
  assert.ok(refused > 0 && next > 5000, `${next} queued, ${refused} refused`);
});

test('sample queue: an emptied queue starts again at the ring start', () => {
  const q = new SampleQueue(100);
  assert.ok(q.push(record(1, 60)));
  q.shift();
  assert.ok(q.push(record(2, 100)), 'the whole ring is free again');
  assert.ok(!q.push(record(3, 4)));
});
