// SPDX-License-Identifier: Apache-2.0
// The agent's per-process stack store (src/agent/stack-store.ts): bounded by maxProcesses; when
// full it makes room for a tenth at once, the processes gone longest first, then the live ones
// with the fewest events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSample, StackStore } from '../../src/agent/stack-store';

const sample = (pid: number, count: number): RawSample => ({ pid, comm: `p${pid}`, count, user: [{ ip: BigInt(pid) }] });

test('StackStore: full, it evicts a tenth: the exited processes first (longest gone first), then the live ones with the fewest events', () => {
  const store = new StackStore({ maxProcesses: 20, maxStacksPerProcess: 4, graceMs: 3_600_000 });
  // pids 1..20 with 100 + pid events each
  store.add(
    Array.from({ length: 20 }, (_, i) => sample(i + 1, 101 + i)),
    () => null,
  );
  assert.equal(store.size, 20);
  // 5 and 9 exit (9 first), the rest live
  store.sweep(
    (pid) => pid !== 9,
    () => {},
  );
  const t = Date.now();
  while (Date.now() === t); // a later goneAt for 5
  store.sweep(
    (pid) => pid !== 5 && pid !== 9,
    () => {},
  );
  store.add([sample(21, 1)], () => null);
  // room for 2 made: 9 (gone first) and 5; nothing live lost
  assert.equal(store.get(9), undefined);
  assert.equal(store.get(5), undefined);
  for (const pid of [1, 2, 3, 4, 6, 7, 8, 10, 20, 21]) assert.ok(store.get(pid), `pid ${pid} kept`);
  assert.equal(store.size, 19);
  // full again with only live processes: the two with the fewest events go (21, then 1)
  store.add([sample(22, 500)], () => null);
  store.add([sample(23, 500)], () => null);
  assert.equal(store.get(21), undefined);
  assert.equal(store.get(1), undefined);
  assert.ok(store.get(2));
  assert.ok(store.get(22));
  assert.ok(store.get(23));
  assert.equal(store.size, 19); // 22 filled it; 23 made room for two and took one
  assert.equal(store.get(23)!.total, 500);
});
