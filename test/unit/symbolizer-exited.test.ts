// SPDX-License-Identifier: Apache-2.0
// A process note is read at whatever moment: a short program may have exited by then (its maps
// empty). Its stack frames come as build ids; the note's executable path must still name them.
// Against a child that has exited (no root, no BPF).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Symbolizer } from '../../src/symbols/symbolizer';
import { ElfFile } from '../../src/symbols/elf';
import { formatFrame } from '../../src/core/frames';
import { workload } from '../lib/workloads';

test("the executable of a process note read after the process exited names the process's build-id frames", async () => {
  // a build id of its own: no other process (another test's brk_grow) maps this file, so only
  // the note's path can find it
  const bin = workload('brk_grow', { variant: 'exited-note', cflags: ['-O0', '-g', '-fno-omit-frame-pointer', '-Wl,--build-id=0x6578656331306500e0e0'] });
  const elf = ElfFile.read(bin)!;
  const vaddr = elf.symbols().addressOf('grow_heap');
  assert.ok(elf.buildId && vaddr !== null);
  const fileOffset = BigInt(elf.fileOffsetOfVaddr(vaddr + 4)!);
  const c = spawn(bin, ['1'], { stdio: 'ignore' }); // no line on stdin: it exits at once
  await once(c, 'exit');
  const s = new Symbolizer();
  s.observe(c.pid!, bin); // its note, read after its exit
  const frames = s.user(c.pid!, [{ buildId: elf.buildId, fileOffset }]);
  assert.equal(formatFrame(frames[0]), 'grow_heap+0x4 [brk_grow-exited-note]');
});
