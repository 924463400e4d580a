// SPDX-License-Identifier: Apache-2.0
// Unit tests of the pure parts: struct layouts, ELF reading (against binutils), renderers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { struct } from '../../src/engine/struct';
import { ElfFile } from '../../src/symbols/elf';
import { renderLog2, log2Bucket } from '../../src/render/histogram';
import { toFolded } from '../../src/render/stacks';
import { parseFolded, buildTree, renderFlameGraph } from '../../src/render/flamegraph';
import { parseMaps, findMapping } from '../../src/procfs/maps';
import { formatFrame } from '../../src/core/frames';
import { workload } from '../lib/workloads';

test('struct layouts follow C alignment', () => {
  const s = struct([
    ['a', 'u32'],
    ['b', 'u64'],
    ['c', 'char[3]'],
    ['d', 's32'],
  ] as const);
  assert.deepEqual(s.offsets, { a: 0, b: 8, c: 16, d: 20 });
  assert.equal(s.size, 24);
  const buf = s.encode({ a: 1, b: 2, c: 'hi', d: -5 });
  assert.deepEqual(s.decode(buf), { a: 1, b: 2, c: 'hi', d: -5 });
});

test('ELF reader agrees with binutils on build id and symbol addresses', () => {
  const bin = workload('brk_grow');
  const elf = ElfFile.read(bin)!;
  const note = execFileSync('readelf', ['-n', bin], { encoding: 'utf8' });
  assert.equal(elf.buildId, /Build ID: ([0-9a-f]+)/.exec(note)![1]);
  const nm = execFileSync('nm', [bin], { encoding: 'utf8' });
  const addr = parseInt(/^([0-9a-f]+) T grow_heap$/m.exec(nm)![1], 16);
  assert.deepEqual(elf.symbols().lookup(addr + 4), { name: 'grow_heap', offset: 4 });
  assert.equal(elf.symbols().addressOf('main'), parseInt(/^([0-9a-f]+) T main$/m.exec(nm)![1], 16));
  // file offset ↔ virtual address through the program headers
  const off = elf.fileOffsetOfVaddr(addr)!;
  assert.equal(elf.vaddrOfFileOffset(off), addr);
});

test('ELF reader reads libc: dynsym functions, build id', () => {
  const libc = execFileSync('sh', ['-c', "ldd /bin/true | awk '/libc.so/ {print $3}'"], { encoding: 'utf8' }).trim();
  const elf = ElfFile.read(libc)!;
  assert.match(elf.buildId!, /^[0-9a-f]{40}$/);
  const malloc = elf.symbols().addressOf('malloc');
  assert.ok(malloc && malloc > 0);
  assert.equal(elf.symbols().lookup(malloc! + 1)?.offset, 1);
});

test('log2 histogram in bpftrace style', () => {
  assert.equal(log2Bucket(0), 0);
  assert.equal(log2Bucket(1), 1);
  assert.equal(log2Bucket(4096), 13);
  assert.equal(log2Bucket(8191), 13);
  const lines = renderLog2(new Map([[13, 3], [15, 6]]), 10);
  assert.deepEqual(lines, [
    '[4K, 8K)                   3 |@@@@@     |',
    '[8K, 16K)                  0 |          |',
    '[16K, 32K)                 6 |@@@@@@@@@@|',
  ]);
});

test('folded stacks put the root first and kernel frames on top', () => {
  const f = (symbol: string, module = 'a') => ({ addr: 0n, symbol, offset: 0, module });
  const lines = toFolded([
    { pid: 1, comm: 'app', count: 3, user: [f('leaf'), f('main')], kernel: [f('handle_mm_fault', 'kernel')] },
    { pid: 1, comm: 'app', count: 2, user: [f('leaf'), f('main')], kernel: [f('handle_mm_fault', 'kernel')] },
  ]);
  assert.deepEqual(lines, ['app;main;leaf;handle_mm_fault_[k] 5']);
  assert.equal(formatFrame(f('leaf')), 'leaf+0x0 [a]');
});

test('flame graph: tree from folded lines, SVG with frames and script', () => {
  const stacks = parseFolded('a;b;c 3\na;b 1\na;d 4\n');
  const root = buildTree(stacks);
  assert.equal(root.value, 8);
  assert.equal(root.children.get('a')!.children.get('b')!.value, 4);
  const svg = renderFlameGraph(stacks, { title: 'T', unit: 'faults' });
  assert.match(svg, /<title>c \(3 faults, 37.50%\)<\/title>/);
  assert.match(svg, /<title>all \(8 faults, 100.00%\)<\/title>/);
  assert.equal((svg.match(/class="f"/g) ?? []).length, 5);
});

test('/proc/PID/maps parsing and lookup', () => {
  const maps = parseMaps(
    '55d0c0a00000-55d0c0a01000 r-xp 00001000 fe:01 123 /usr/bin/x\n7ffd10000000-7ffd10001000 rw-p 00000000 00:00 0 [stack]\n',
  );
  assert.equal(maps.length, 2);
  assert.equal(findMapping(maps, 0x55d0c0a00800n)!.path, '/usr/bin/x');
  assert.equal(findMapping(maps, 0x7ffd10000fffn)!.path, '[stack]');
  assert.equal(findMapping(maps, 0x1n), undefined);
});
