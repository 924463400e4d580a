// SPDX-License-Identifier: Apache-2.0
// The engine's paths proven directly on bpf/selftest.bpf.c: constants before load, globals after,
// uprobes by symbol name, USDT, hash-map batch reads with delete, whole arrays in one call, ring
// buffers, destroy.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { BpfObject } from '../src/engine/bpf-object';
import { workload } from './lib/workloads';
import { start } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { native } from '../src/engine/native';
import { tracefs } from '../src/procfs/tracefs';

const U64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

test('uprobe by name, constants, globals, batch map reads with delete, ring buffer', async () => {
  const bin = workload('probe_target');
  const w = start(bin, ['25']);
  const obj = BpfObject.open('selftest');
  try {
    await w.waitFor('ready');
    obj.setConst('magic', 1000).setConst('targ_tgid', w.pid);
    obj.setAutoload('selftest_usdt', false);
    obj.load();
    const seen: number[] = [];
    obj.onRecords('arg_events', (recs) => recs.forEach((r) => seen.push(Number(r.readBigUInt64LE(0)))));
    obj.attachUprobe('selftest_uprobe', bin, 'probe_me', { pid: w.pid });
    // read once before the events too: a loaded object's sections are mapped at the first read
    // and read in place after it (the mapping must be the kernel's memory, not a copy of it)
    assert.equal(obj.readGlobalU64('uprobe_hits'), 0n);
    assert.equal(obj.readGlobalU64('magic'), 1000n);
    w.send('go');
    await w.waitFor('done');
    // libuv delivers the last ring-buffer records on a later turn of the loop: wait for them (the
    // bound only keeps a failure from hanging), then check exactly what arrived
    for (let i = 0; i < 200 && seen.length < 25; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(obj.readGlobalU64('uprobe_hits'), 25n);
    assert.deepEqual(seen, [...Array(25).keys()]);
    const e = obj.entries('seen_args', true);
    assert.equal(e.count, 25);
    const pairs = [...Array(e.count).keys()].map((i) => [Number(e.keys.readBigUInt64LE(i * 8)), Number(e.values.readBigUInt64LE(i * 8))]);
    assert.deepEqual(
      pairs.sort((a, b) => a[0] - b[0]),
      [...Array(25).keys()].map((i) => [i, 1000 + i]),
    );
    assert.equal(obj.entries('seen_args').count, 0, 'read with delete left entries behind');
    obj.update('seen_args', U64(7), U64(70));
    assert.equal(obj.lookup('seen_args', U64(7))!.readBigUInt64LE(0), 70n);
    assert.equal(obj.delete('seen_args', U64(7)), true);
    assert.equal(obj.lookup('seen_args', U64(7)), null);
  } finally {
    obj.destroy();
    w.kill();
  }
});

test('many keys in one call: lookupKeys finds exactly the keys present, deleteKeys deletes them in one batch and steps over keys already gone', () => {
  const obj = BpfObject.open('selftest');
  try {
    obj.setAutoload('selftest_usdt', false);
    obj.load(); // not attached: the map is the test's alone
    for (const k of [1, 2, 3, 4, 5, 6]) obj.update('seen_args', U64(k), U64(k * 10));
    const keys = (ns: number[]) => Buffer.concat(ns.map(U64));
    const { values, found } = obj.lookupKeys('seen_args', keys([2, 9, 5]));
    assert.deepEqual([...found], [1, 0, 1]);
    assert.equal(values.readBigUInt64LE(0), 20n);
    assert.equal(values.readBigUInt64LE(16), 50n);
    // 7 and 8 were never there: the kernel's batch stops at each, the rest is still deleted
    assert.equal(obj.deleteKeys('seen_args', keys([1, 7, 3, 8, 6])), 3);
    const left = obj.entries('seen_args');
    const kept = [...Array(left.count).keys()].map((i) => Number(left.keys.readBigUInt64LE(i * 8))).sort();
    assert.deepEqual(kept, [2, 4, 5]);
    assert.equal(obj.deleteKeys('seen_args', Buffer.alloc(0)), 0);
    assert.throws(() => obj.deleteKeys('seen_args', Buffer.alloc(5)), /whole number/);
  } finally {
    obj.destroy();
  }
});

/** The bpf() calls this thread makes from now on (the syscalls:sys_enter_bpf tracepoint counted
 * for this thread alone: other processes' calls do not count). */
function bpfCalls(): { read(): number; close(): void } {
  const id = Number(fs.readFileSync(`${tracefs()}/events/syscalls/sys_enter_bpf/id`, 'utf8'));
  const fd = native().perfCounterOpen(2 /* PERF_TYPE_TRACEPOINT */, id, process.pid, -1);
  const buf = Buffer.alloc(24);
  return {
    read: () => (fs.readSync(fd, buf, 0, 24, null), Number(buf.readBigUInt64LE(0))),
    close: () => fs.closeSync(fd),
  };
}

test('whole-map reads: an array (per-CPU) in one bpf() call, summed by slots; a hash of 1,000 entries whole in a few', () => {
  const obj = BpfObject.open('selftest');
  const calls = bpfCalls();
  try {
    obj.setAutoload('selftest_usdt', false);
    obj.load(); // not attached: the maps are the test's alone
    const U32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);
    const ncpu = obj.entries('cpu_slots').valueBytes / 8;
    const want = new Array<number>(64).fill(0);
    for (const k of [0, 5, 63]) {
      const v = Buffer.alloc(8 * ncpu);
      for (let c = 0; c < ncpu; c++) v.writeBigUInt64LE(BigInt(k * 1000 + c + 1), 8 * c);
      obj.update('cpu_slots', U32(k), v);
      want[k] = ncpu * (k * 1000 + 1) + (ncpu * (ncpu - 1)) / 2;
    }
    let before = calls.read();
    const got = obj.slots('cpu_slots');
    // element by element, 64 slots were 128 calls (a GET_NEXT_KEY and a LOOKUP_ELEM each)
    assert.equal(calls.read() - before, 1, 'bpf() calls to read 64 slots');
    assert.deepEqual(got, want);
    // more entries than the read's first buffers hold (256): they grow, nothing is lost
    for (let k = 1; k <= 1000; k++) obj.update('seen_args', U64(k), U64(k * 3));
    before = calls.read();
    const e = obj.entries('seen_args');
    const used = calls.read() - before;
    assert.ok(used <= 8, `${used} bpf() calls to read 1,000 entries`);
    const pairs = [...Array(e.count).keys()].map((i) => [Number(e.keys.readBigUInt64LE(i * 8)), Number(e.values.readBigUInt64LE(i * 8))]);
    assert.deepEqual(
      pairs.sort((a, b) => a[0] - b[0]),
      [...Array(1000).keys()].map((i) => [i + 1, (i + 1) * 3]),
    );
  } finally {
    calls.close();
    obj.destroy();
  }
});

test('USDT probe in libstdc++ (libstdcxx:throw) counts every throw', async () => {
  const bin = workload('cxx_throw');
  const w = start(bin, ['7']);
  const obj = BpfObject.open('selftest');
  try {
    await w.waitFor('ready');
    obj.setConst('targ_tgid', w.pid);
    obj.setAutoload('selftest_uprobe', false);
    obj.load();
    const libstdcxx = fs
      .readFileSync(`/proc/${w.pid}/maps`, 'utf8')
      .split('\n')
      .map((l: string) => l.split(/\s+/)[5])
      .find((p: string) => p && p.includes('libstdc++'));
    assert.ok(libstdcxx, 'the workload maps libstdc++');
    obj.attachUsdt('selftest_usdt', libstdcxx, 'libstdcxx', 'throw', w.pid);
    w.send('go');
    await w.waitFor('done');
    assert.equal(obj.readGlobalU64('usdt_hits'), 7n);
  } finally {
    obj.destroy();
    w.kill();
  }
});

test('a uprobe on a missing function fails with one clear message', () => {
  const obj = BpfObject.open('selftest');
  try {
    obj.setAutoload('selftest_usdt', false);
    obj.load();
    assert.throws(() => obj.attachUprobe('selftest_uprobe', workload('probe_target'), 'no_such_function'), /cannot attach a uprobe to no_such_function/);
  } finally {
    obj.destroy();
  }
});

/** The selftest object probing a probe_target of 25 calls, its ring's records in seen; the
 * calls are made (and their 25 records in the ring) once run() returns. `batched`: its BPF wakes
 * the reader only past a fill level (ms_batch_wakeups); `end` runs after the turns, before destroy. */
async function ringOf25(
  maxRecords: number | undefined,
  turns: number,
  before: (obj: BpfObject) => void,
  delivered: (obj: BpfObject) => void = () => {},
  { batched = false, end = () => {} }: { batched?: boolean; end?: (obj: BpfObject, seen: number[]) => void } = {},
) {
  const bin = workload('probe_target');
  const w = start(bin, ['25']);
  const obj = BpfObject.open('selftest');
  const seen: number[] = [];
  try {
    await w.waitFor('ready');
    obj.setConst('magic', 1000).setConst('targ_tgid', w.pid).setConst('ms_batch_wakeups', batched);
    obj.setAutoload('selftest_usdt', false);
    obj.load();
    obj.onRecords(
      'arg_events',
      (recs) => {
        recs.forEach((r) => seen.push(Number(r.readBigUInt64LE(0))));
        delivered(obj);
      },
      maxRecords,
    );
    obj.attachUprobe('selftest_uprobe', bin, 'probe_me', { pid: w.pid });
    before(obj);
    w.send('go');
    await w.waitFor('done');
    // turns of the loop in which a readable ring would deliver (none is awaited: what is asserted
    // does not depend on how many came before destroy); none where the last drain is tested
    for (let i = 0; i < turns; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(obj.readGlobalU64('uprobe_hits'), 25n, 'the probe did not run 25 times');
    end(obj, seen);
  } finally {
    obj.destroy();
    w.kill();
  }
  return seen;
}

test("destroy delivers what the ring still holds (the tools' last drain), one bounded delivery at a time", async () => {
  const seen = await ringOf25(1, 0, () => {});
  assert.deepEqual(seen, [...Array(25).keys()]);
});

test('discardRings: nothing is delivered from then on, neither as the ring fills nor at destroy (an agent stopping)', async () => {
  const seen = await ringOf25(undefined, 4, (obj) => obj.discardRings());
  assert.deepEqual(seen, []);
});

test('discardRings in a handler: its delivery ends as it is (at most maxRecords records), nothing follows', async () => {
  let deliveries = 0;
  const seen = await ringOf25(
    5,
    4,
    () => {},
    (obj) => {
      deliveries++;
      obj.discardRings();
    },
  );
  // the first delivery holds what the ring had then: 1 to 5 records
  assert.equal(deliveries, 1);
  assert.ok(seen.length >= 1 && seen.length <= 5, String(seen));
  assert.deepEqual(seen, [...Array(seen.length).keys()]);
});

test('ms_batch_wakeups: a ring that holds little wakes no one; consumeRings delivers its records, in order', async () => {
  // 25 records of 8 bytes stay far below the fill that wakes the reader: the loop's turns deliver
  // nothing (a ring that wakes at each record delivers them at the first of them)
  const seen = await ringOf25(undefined, 4, () => {}, undefined, {
    batched: true,
    end: (obj, got) => {
      assert.deepEqual(got, [], 'records were delivered before consumeRings: the ring woke its reader');
      obj.consumeRings();
    },
  });
  assert.deepEqual(seen, [...Array(25).keys()]);
});

after(() => assertNothingLoaded());
