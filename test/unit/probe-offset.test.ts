// SPDX-License-Identifier: Apache-2.0
// memleak's probe placement: where in an allocator function the uprobe goes so the kernel emulates
// the probed instruction (one exception) instead of stepping it out of line (two). The bytes are
// the first instructions of Debian 12's glibc 2.36 functions (objdump -d libc.so.6).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emulatedOffsetIn } from '../../src/tools/memleak/probe-offset';

const at = (hex: string) => emulatedOffsetIn(Buffer.concat([Buffer.from(hex.replace(/ /g, ''), 'hex'), Buffer.alloc(32)]));

test('an emulated first instruction is probed where it is', () => {
  assert.equal(at('41 54 55 53 48 89 fb'), 0); // malloc: push %r12
  assert.equal(at('41 57 41 56'), 0); // realloc: push %r15
  assert.equal(at('0f 1f 44 00 00 c3'), 0); // nop5 (optimized uprobe): nopl 0(%rax,%rax)
});

test('flags-only instructions are stepped over to the jump or push after them', () => {
  assert.equal(at('48 85 ff 0f 84 bf 00 00 00 55'), 3); // free: test %rdi,%rdi; je
  assert.equal(at('80 3d 71 0e 14 00 00 74 07'), 7); // memalign: cmpb $0,hook(%rip); je
  assert.equal(at('80 3d 01 02 14 00 00 41 54'), 7); // posix_memalign: cmpb; push %r12
});

test('a copy into a scratch register and a test with an immediate are stepped over (mmap)', () => {
  // mmap: mov %ecx,%r10d; test $0xfff,%r9d; jne
  assert.equal(at('41 89 ca 41 f7 c1 ff 0f 00 00 75 14'), 10);
  assert.equal(at('48 8b c7 74 02'), 3); // mov %rdi,%rax (8b form); je
});

test('endbr64 (a CET build) is stepped over; a long nop is emulated where it is', () => {
  assert.equal(at('f3 0f 1e fa 41 54 55'), 4); // endbr64; push %r12 (malloc built with -fcf-protection)
  assert.equal(at('f3 0f 1e fa 48 85 ff 74 02'), 7); // endbr64; test %rdi,%rdi; je
  assert.equal(at('f3 0f 1e fa 41 89 ca 41 f7 c1 ff 0f 00 00 75 14'), 14); // endbr64 before mmap's three
  assert.equal(at('0f 1f 40 00 c3'), 0); // nopl 0(%rax)
  assert.equal(at('48 85 ff 0f 1f 40 00'), 3); // test; nopl
});

test('anything that may change what a probe reads keeps the probe at the entry', () => {
  assert.equal(at('b8 0b 00 00 00 0f 05'), 0); // munmap: mov $11,%eax; syscall (neither emulated)
  assert.equal(at('48 89 f7 74 02'), 0); // mov %rsi,%rdi: an argument register written
  assert.equal(at('48 89 fc 74 02'), 0); // mov %rdi,%rsp: the stack pointer written
  assert.equal(at('48 8b 07 74 02'), 0); // mov (%rdi),%rax: a load, not register to register
  assert.equal(at('41 f7 c9 ff 0f 00 00 75 14'), 0); // f7 /1 is not test
  assert.equal(at('48 85 ff 48 85 ff 48 85 ff 48 85 ff 74 02'), 0); // more than 3 steps away
});
