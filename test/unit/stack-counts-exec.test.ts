// SPDX-License-Identifier: Apache-2.0
// A walked (frame-pointer) stack counted in a "count by stack" map is named at the end in its
// process's maps, by then perhaps of a program exec'd since with other code at the same addresses
// (two non-PIE programs, faults-conditions' exec_pair). The stack carries its program image (the
// low 32 bits of mm->start_stack, struct ms_walked_stack's image): it is named only in maps of that
// image, else marked EXECED. Against a live child (no root, no BPF): its /proc maps stand for "the
// program it runs now"; the BPF object is a fake holding one count and one walked stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Symbolizer } from '../../src/symbols/symbolizer';
import { EXECED, STACK_KEY, stackCounts } from '../../src/engine/stack-counts';
import { formatFrame } from '../../src/core/frames';
import { execChild, OLD_IMAGE, walkedStack } from '../lib/exec-child';
import type { BpfObject } from '../../src/engine/bpf-object';
import { DwarfStacks } from '../../src/unwind/dwarf-stacks';

const USTACK = 7;
const COUNT = 4;

/** A BPF object whose count map holds COUNT events of pid under walked stack USTACK, one frame at ip,
 * of program image `image` (its low 32 bits, as BPF stores it). */
function fakeObject(pid: number, ip: bigint, image: bigint): BpfObject {
  const walked = walkedStack(ip, image);
  const key = Buffer.alloc(STACK_KEY.size);
  key.writeUInt32LE(pid, STACK_KEY.offsets.tgid);
  key.writeInt32LE(USTACK, STACK_KEY.offsets.ustack);
  key.writeInt32LE(-1, STACK_KEY.offsets.kstack);
  key.write('exec_pair-a', STACK_KEY.offsets.comm);
  const value = Buffer.alloc(8);
  value.writeBigUInt64LE(BigInt(COUNT));
  return {
    hasGlobal: (n: string) => n === 'ms_plain_ustacks',
    readGlobalU8: () => 1,
    lookup: (_map: string, k: Buffer) => (k.readInt32LE(0) === USTACK ? walked : null),
    entries: () => ({ keys: key, values: value, count: 1, keySize: STACK_KEY.size, valueBytes: 8 }),
  } as unknown as BpfObject;
}


test("a walked stack of a program image its process left (its note lost) is marked EXECED at the end, never named in the maps of the program exec'd since", async () => {
  const { c, pid, ip } = await execChild();
  try {
    const s = new Symbolizer();
    const counts = stackCounts(fakeObject(pid, ip, OLD_IMAGE), 'fault_counts', s);
    const [row] = counts.read({ quiet: true });
    const named = row.user.map((f) => formatFrame(f));
    assert.ok(!named.some((f) => f.endsWith('[node]')), `named in the program exec'd since: ${named.join(' <- ')}`);
    assert.deepEqual(row.user.map((f) => f.symbol), [EXECED.symbol]);
    assert.equal(counts.execed, COUNT);
  } finally {
    c.kill();
  }
});

test('a walked stack of the image its process runs is named in its maps (the image compared by its low 32 bits)', async () => {
  const { c, pid, ip, image } = await execChild();
  try {
    const s = new Symbolizer();
    const counts = stackCounts(fakeObject(pid, ip, image), 'fault_counts', s);
    const [row] = counts.read({ quiet: true });
    assert.match(formatFrame(row.user[0]), /\+0x[0-9a-f]+ \[node\]$/);
    assert.equal(counts.execed, 0);
  } finally {
    c.kill();
  }
});

test("a walked stack noted after its process's maps were read at the new program: the old image's records only name it, or it is marked", async () => {
  const { c, pid, ip } = await execChild();
  try {
    // the process note came after the exec: /proc was read at the new program (node)...
    const s = new Symbolizer();
    s.observe(pid);
    // ...then a record of the old program on the sample ring, and the note of its stack (struct
    // ms_stack_note: kind 3, tgid, ustack, image), which tells the records their image
    s.recordMapping(pid, { start: 0x1000n, end: 0x2000n, perms: 'r-xp', offset: 0n, dev: '', inode: 1, path: '/nonexistent/old-program' });
    const counts = stackCounts(fakeObject(pid, ip, OLD_IMAGE), 'fault_counts', s);
    const dwarf = new DwarfStacks(s);
    dwarf.nameWhileAlive(counts);
    const note = Buffer.alloc(16);
    [3, pid, USTACK, Number(BigInt.asUintN(32, OLD_IMAGE))].forEach((v, i) => note.writeUInt32LE(v, 4 * i));
    (dwarf as unknown as { take(rec: Buffer): void }).take(note);
    const [row] = counts.read({ quiet: true });
    // the frame lies in node's code, where the old program had its own: in none of its records
    assert.deepEqual(row.user.map((f) => formatFrame(f)), ['[unknown]']);
  } finally {
    c.kill();
  }
});
