// SPDX-License-Identifier: Apache-2.0
// Past MAX_STACKS distinct DWARF stacks, a sample of a process with no stack kept is dropped
// (counted) without being unwound: every path of add() would drop it. A sample of a process with a
// stack kept is still unwound (it may be that stack again). No root, no BPF: records made by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DwarfStacks, MAX_STACKS } from '../../src/unwind/dwarf-stacks';
import { Symbolizer } from '../../src/symbols/symbolizer';

/** pids no process can have (above the kernel's largest pid_max): never read from /proc. */
const KEPT = 4_194_500;
const OTHER = 4_194_501;

/** struct ms_dwarf_sample's first fields (kind, tgid, tid, kstack, delta), the rest zero. */
function sample(tgid: number, delta: number): Buffer {
  const rec = Buffer.alloc(1024);
  rec.writeUInt32LE(1, 0); // MS_DWARF_KIND_SAMPLE
  rec.writeUInt32LE(tgid, 4);
  rec.writeUInt32LE(tgid, 8);
  rec.writeInt32LE(-1, 12);
  rec.writeBigUInt64LE(BigInt(delta), 16);
  return rec;
}

test('past the distinct-stack limit, only samples of processes with a stack kept are unwound; the rest are dropped, counted', () => {
  const d = new DwarfStacks(new Symbolizer());
  const inside = d as unknown as { buckets: Map<string, object>; pidsKept: Set<number>; pending: Buffer[] };
  for (let i = 0; i < MAX_STACKS; i++) inside.buckets.set(`test${i}`, {});
  inside.pidsKept.add(KEPT);
  assert.equal(d.add(sample(OTHER, 3)), null);
  assert.equal(d.dropped, 3);
  assert.equal(d.samples, 0);
  // the kept process's sample is unwound: no maps known for it yet, so it waits for the end
  assert.notEqual(d.add(sample(KEPT, 5)), null);
  assert.equal(d.dropped, 3);
  assert.equal(inside.pending.length, 1);
  // below the limit nothing is dropped unwound or not
  d.reset();
  assert.notEqual(d.add(sample(OTHER, 7)), null);
  assert.equal(d.dropped, 3);
});
