// SPDX-License-Identifier: Apache-2.0
// StackReader's walked user stacks (struct ms_walked_stack: u64 hash, u32 nr, u32 image, u64 ips[]):
// decoded the same from a value at any byte offset (aligned values are read through a
// BigUint64Array view, others byte by byte).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StackReader } from '../../src/engine/stacks';
import { parseUserFramesText, userFramesText } from '../../src/core/frames';
import type { BpfObject } from '../../src/engine/bpf-object';

const SLOT = 16 + 8 * 4; // room for 4 frames

function walked(ips: bigint[]): Buffer {
  const b = Buffer.alloc(SLOT);
  b.writeBigUInt64LE(0x1234n, 0);
  b.writeUInt32LE(ips.length, 8);
  ips.forEach((ip, i) => b.writeBigUInt64LE(ip, 16 + 8 * i));
  return b;
}

/** An object whose walked-stack map holds the given stacks, its values handed out at `shift`
 * bytes into a larger buffer. */
function fakeObject(stacks: Map<number, Buffer>, shift: number): BpfObject {
  return {
    hasGlobal: (n: string) => n === 'ms_plain_ustacks',
    readGlobalU8: () => 1,
    lookupKeys: (_map: string, keys: Buffer) => {
      const n = keys.length / 4;
      const all = Buffer.alloc(shift + n * SLOT);
      const found = Buffer.alloc(n);
      for (let j = 0; j < n; j++) {
        const v = stacks.get(keys.readInt32LE(4 * j));
        if (v) {
          v.copy(all, shift + j * SLOT);
          found[j] = 1;
        }
      }
      return { values: all.subarray(shift), found };
    },
  } as unknown as BpfObject;
}

test('StackReader: walked user stacks read the same at any alignment, nr bounded by the value', () => {
  const big = [0xffffffffffffffffn, 0x7f0012345678n, 0x401000n];
  const stacks = new Map([
    [1, walked(big)],
    [2, walked([])],
    [3, (() => {
      const b = walked([0x10n, 0x20n, 0x30n, 0x40n]);
      b.writeUInt32LE(99, 8); // nr beyond the value: its frames only
      return b;
    })()],
  ]);
  for (const shift of [0, 1, 4, 8, 12]) {
    const r = new StackReader(fakeObject(stacks, shift));
    const got = r.userStacks([1, 2, 3, 4, -1]);
    assert.deepEqual(
      got,
      [big.map((ip) => ({ ip })), [], [0x10n, 0x20n, 0x30n, 0x40n].map((ip) => ({ ip })), [], []],
      `values at byte ${shift}`,
    );
  }
});

test('StackReader: walked stacks as text are the frames userStacks reads, written by userFramesText, and parse back to them', () => {
  // addresses below and above 2^53 (the text is made from two u32 halves below it)
  const ips = [0x1fffffffffffffn, 0x20000000000000n, 0xffffffffffffffffn, 0x7f0012345678n, 0x401000n, 0n];
  const stacks = new Map([
    [1, walked(ips.slice(0, 4))],
    [2, walked([])],
    [3, walked(ips.slice(3))],
  ]);
  for (const shift of [0, 1, 4, 8]) {
    const ids = [1, 2, 3, 4, -1, 1];
    const frames = new StackReader(fakeObject(stacks, shift)).userStacks(ids);
    const texts = new StackReader(fakeObject(stacks, shift)).userStackTexts(ids);
    assert.deepEqual(texts, frames.map(userFramesText), `values at byte ${shift}`);
    assert.deepEqual(texts.map(parseUserFramesText), frames, `values at byte ${shift}`);
  }
  assert.equal(userFramesText([{ ip: 0x401000n }, { buildId: 'ab01', fileOffset: 0x1f0n }]), '401000,ab01+1f0');
  assert.deepEqual(parseUserFramesText('401000,ab01+1f0'), [{ ip: 0x401000n }, { buildId: 'ab01', fileOffset: 0x1f0n }]);
});

test("StackReader: userStackTexts gives each walked stack's program image with its text, read or kept", () => {
  const a = walked([0x401000n]);
  a.writeUInt32LE(0xfc001000, 12);
  const b = walked([0x401000n]);
  b.writeUInt32LE(0xfc002000, 12);
  const r = new StackReader(fakeObject(new Map([[1, a], [2, b]]), 0));
  for (const pass of ['read', 'kept']) {
    const images: number[] = [];
    const texts = r.userStackTexts([1, 2, -1, 3], images);
    assert.deepEqual(texts, ['401000', '401000', '', ''], pass);
    assert.deepEqual(images, [0xfc001000, 0xfc002000, 0, 0], pass);
  }
});
