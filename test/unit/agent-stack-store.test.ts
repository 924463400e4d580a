// SPDX-License-Identifier: Apache-2.0
// The agent's per-process stack store (src/agent/stack-store.ts): bounded by maxProcesses; when
// full it makes room for a tenth at once, the processes gone longest first, then the live ones
// with the fewest events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copySample, rawKey, RawSample, StackStore, TextSample } from '../../src/agent/stack-store';

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

test('StackStore: the events of stacks a full process did not keep, or evicted for heavier ones, are counted store-wide and stay counted when the process goes', () => {
  const store = new StackStore({ maxProcesses: 1, maxStacksPerProcess: 2 });
  const at = (ip: number, count: number): RawSample => ({ pid: 1, comm: 'p1', count, user: [{ ip: BigInt(ip) }] });
  store.add([at(1, 5), at(2, 3)], () => null);
  assert.equal(store.dropped, 0);
  // full: a stack of 2 events is not kept; one of 4 takes the place of the one of 3
  store.add([at(3, 2), at(4, 4)], () => null);
  assert.equal(store.get(1)!.dropped, 5);
  assert.equal(store.dropped, 5);
  // the process evicted for another: its drops stay in the store's count
  store.add([{ pid: 2, comm: 'p2', count: 1, user: [{ ip: 9n }] }], () => null);
  assert.equal(store.get(1), undefined);
  assert.equal(store.dropped, 5);
});

test('StackStore: a kept stack gives back the frames it was added with, and does not hold the frame objects it was given', async () => {
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const store = new StackStore({ maxProcesses: 4, maxStacksPerProcess: 8 });
  let ipFrames: RawSample['user'] = [{ ip: 0x7f0000001234n }, { ip: 0x401000n }, { ip: 0xffffffffffff0000n }];
  const refs = [new WeakRef(ipFrames)];
  const byBuildId: RawSample['user'] = [{ buildId: 'ab'.repeat(20), fileOffset: 0x1a2bn }, { ip: 0x55n }];
  store.add(
    [
      { pid: 7, comm: 'a,b/c', kind: 'mmap', count: 3, user: ipFrames },
      { pid: 7, comm: 'a,b/c', count: 2, user: byBuildId },
      { pid: 7, comm: 'x', count: 1, user: [] },
      { pid: 7, comm: 'x', count: 4, user: null, missed: -14 },
      { pid: 7, comm: 'q/!,+', kind: 'brk', count: 6, user: null, missed: -17 },
      { pid: 7, comm: 'q/!,+', kind: 'brk', count: 1, user: [{ ip: 0x10n }] },
    ],
    () => null,
  );
  const kept = [...store.get(7)!.stacks.values()].map((s) => ({ user: s.user, count: s.count, kind: s.kind, comm: s.comm, missed: s.missed }));
  assert.deepEqual(kept, [
    { user: [{ ip: 0x7f0000001234n }, { ip: 0x401000n }, { ip: 0xffffffffffff0000n }], count: 3, kind: 'mmap', comm: 'a,b/c', missed: undefined },
    { user: [{ buildId: 'ab'.repeat(20), fileOffset: 0x1a2bn }, { ip: 0x55n }], count: 2, kind: undefined, comm: 'a,b/c', missed: undefined },
    { user: [], count: 1, kind: undefined, comm: 'x', missed: undefined },
    { user: null, count: 4, kind: undefined, comm: 'x', missed: -14 },
    { user: null, count: 6, kind: 'brk', comm: 'q/!,+', missed: -17 },
    { user: [{ ip: 0x10n }], count: 1, kind: 'brk', comm: 'q/!,+', missed: undefined },
  ]);
  // a kept stack is its key and its count: comm, kind and missed are read back from the key (a fork
  // storm keeps ~90,000 stacks; six fields and a comm string each were ~4 MiB more)
  for (const s of store.get(7)!.stacks.values()) assert.deepEqual(Object.getOwnPropertyNames(s), ['key', 'count']);
  // the same stack again adds to its count
  store.add([{ pid: 7, comm: 'a,b/c', kind: 'mmap', count: 5, user: [{ ip: 0x7f0000001234n }, { ip: 0x401000n }, { ip: 0xffffffffffff0000n }] }], () => null);
  assert.equal(store.get(7)!.total, 22);
  assert.equal([...store.get(7)!.stacks.values()][0].count, 8);
  // the frames given are not kept: 32 frame objects and bigints per stack were most of the store
  ipFrames = null;
  await new Promise((r) => setImmediate(r)); // a WeakRef's target lives to the end of the job
  gc();
  assert.equal(refs[0].deref(), undefined, 'the store holds the frames array it was given');
});

test('StackStore: a full process keeps its heaviest stacks, as a scan of all of them for each new stack would decide, and does not scan for a stack that cannot come in', () => {
  const max = 16;
  const store = new StackStore({ maxProcesses: 4, maxStacksPerProcess: max });
  // the reference: every new stack of a full process compared with all kept ones
  const ref = new Map<number, number>();
  let refDropped = 0;
  let seed = 13;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  const frames = (id: number): RawSample['user'] => [{ ip: BigInt(0x1000 + id) }];
  for (let round = 0; round < 200; round++) {
    const batch: RawSample[] = [];
    for (let j = 0; j < 10; j++) {
      const id = rand(80);
      // mostly one event (a new stack of a busy process), now and then more
      const count = rand(10) === 0 ? 1 + rand(40) : 1;
      batch.push({ pid: 3, comm: 'w', count, user: frames(id) });
      const had = ref.get(id);
      if (had !== undefined) ref.set(id, had + count);
      else if (ref.size < max) ref.set(id, count);
      else {
        let minId = -1;
        let min = Infinity;
        for (const [k, c] of ref) if (c < min) [min, minId] = [c, k];
        if (min < count) {
          ref.delete(minId);
          refDropped += min;
          ref.set(id, count);
        } else refDropped += count;
      }
    }
    store.add(batch, () => null);
  }
  const p = store.get(3)!;
  const kept = new Map([...p.stacks.values()].map((s) => [Number((s.user![0] as { ip: bigint }).ip) - 0x1000, s.count]));
  assert.deepEqual([...kept].sort((a, b) => a[0] - b[0]), [...ref].sort((a, b) => a[0] - b[0]));
  assert.equal(p.dropped, refDropped);

  // full, with no stack of fewer than 2 events: new stacks of one event each are dropped without
  // a look at the kept ones (a process full of stacks taking thousands of new one-fault stacks
  // scanned all of its stacks for each)
  const full = new StackStore({ maxProcesses: 4, maxStacksPerProcess: max });
  full.add(
    Array.from({ length: max }, (_, i) => ({ pid: 5, comm: 'w', count: 2 + i, user: frames(i) })),
    () => null,
  );
  full.add([{ pid: 5, comm: 'w', count: 1, user: frames(1000) }], () => null); // one scan: the floor
  const stacks = full.get(5)!.stacks;
  let scans = 0;
  const iter = stacks[Symbol.iterator].bind(stacks);
  stacks[Symbol.iterator] = () => {
    scans++;
    return iter();
  };
  full.add(
    Array.from({ length: 1000 }, (_, i) => ({ pid: 5, comm: 'w', count: 1, user: frames(2000 + i) })),
    () => null,
  );
  assert.equal(scans, 0, 'stacks scanned for new stacks that could not come in');
  assert.equal(full.get(5)!.dropped, 1001);
  // one heavier than the lightest still comes in, in place of the lightest (2 events)
  full.add([{ pid: 5, comm: 'w', count: 3, user: frames(5000) }], () => null);
  assert.equal(full.get(5)!.dropped, 1003);
  assert.ok([...stacks.values()].some((s) => s.count === 3 && (s.user![0] as { ip: bigint }).ip === BigInt(0x1000 + 5000)));
  assert.ok(![...stacks.values()].some((s) => s.count === 2));
});

test('StackStore: a sample whose frames are text keys, keeps and gives back its stack as the same sample with frame objects', () => {
  const user = [{ ip: 0x401000n }, { buildId: 'ab01', fileOffset: 0x1f0n }];
  const text = new TextSample(7, 'a/b', 3, 'mmap', '401000,ab01+1f0');
  assert.equal(rawKey(text), rawKey({ comm: 'a/b', kind: 'mmap', user }));
  assert.equal(rawKey(new TextSample(7, 'c', 1, undefined, '')), rawKey({ comm: 'c', user: [] }));
  assert.deepEqual(text.user, user);
  // a copy (a profile's merge adds to its count) keeps the frames a spread would lose
  const copy = copySample(text);
  copy.count += 2;
  assert.deepEqual([copy.user, copy.count, text.count], [user, 5, 3]);
  const store = new StackStore({ maxProcesses: 4, maxStacksPerProcess: 4 });
  store.add([text, { pid: 7, comm: 'a/b', count: 2, kind: 'mmap', user }], () => null);
  const kept = [...store.get(7)!.stacks.values()];
  assert.deepEqual(
    kept.map((s) => ({ user: s.user, count: s.count, kind: s.kind, comm: s.comm })),
    [{ user, count: 5, kind: 'mmap', comm: 'a/b' }],
  );
});
