// SPDX-License-Identifier: Apache-2.0
// Where to put a uprobe in a function so the kernel can emulate the probed instruction.
// x86 uprobes emulate push, jumps, calls and nops; any other first instruction is single-stepped
// out of line, which costs a second exception (#DB). Measured on this project's VM (kernel 6.18,
// 2026-12-02 21:00 UTC, load 3-9; `count -p` with a counting program, CPU per call): an emulated
// trap 0.42 us (malloc's `push %r12`, a `je`), a stepped one 13.8 us (free's `test %rdi,%rdi`),
// a uretprobe's return 0.18 us more. Instructions that only set flags (test, cmp), endbr64, or copy
// into a scratch register no probe reads can be stepped over: the arguments, the stack pointer and the
// return address at [sp] are the same a few instructions later, and every call passes there.
// Returns the offset into the function to probe (0 when nothing is gained).
import * as fs from 'node:fs';
import type { ElfFile } from '../../symbols/elf';

function emulated(b: Buffer, i: number): boolean {
  const op = b[i];
  if (op >= 0x50 && op <= 0x57) return true; // push r
  if (op === 0x41 && b[i + 1] >= 0x50 && b[i + 1] <= 0x57) return true; // push r8-r15
  if (op >= 0x70 && op <= 0x7f) return true; // jcc rel8
  if (op === 0x0f && b[i + 1] >= 0x80 && b[i + 1] <= 0x8f) return true; // jcc rel32
  if (op === 0x0f && b[i + 1] === 0x1f) return true; // nopl/nopw (a nop5 is also optimized: no trap)
  return op === 0xeb || op === 0xe9 || op === 0xe8 || op === 0x90; // jmp, call, nop
}

/** rax, r10, r11: written by no argument and read by no memleak probe before the return */
const SCRATCH = new Set([0, 10, 11]);

/**
 * Length of an instruction at b[i] that changes nothing a probe reads: a test or cmp (the forms
 * compilers put first), or a register-to-register mov into a scratch register (glibc's mmap
 * starts by copying its 4th argument to r10 for the syscall); 0 for anything else.
 */
function harmless(b: Buffer, i: number): number {
  const op = b[i];
  // endbr64, first in every function of a distribution built with -fcf-protection (CET): stepped,
  // not emulated (13.9 us a call here); it only marks an indirect branch target, and the call
  // still lands on it with the probe 4 bytes later
  if (op === 0xf3 && b[i + 1] === 0x0f && b[i + 2] === 0x1e && b[i + 3] === 0xfa) return 4;
  const rex = op >= 0x40 && op <= 0x4f ? op : 0;
  const at = rex ? i + 1 : i;
  const o = b[at];
  const modrm = b[at + 1];
  const len = at - i;
  const regToReg = modrm >> 6 === 3;
  if ((o === 0x85 || o === 0x84 || o === 0x39 || o === 0x38) && regToReg) return len + 2; // test/cmp r, r
  if (o === 0xf7 && regToReg && ((modrm >> 3) & 7) === 0) return len + 6; // test r, imm32
  if (o === 0x89 && regToReg && SCRATCH.has((modrm & 7) | (rex & 1 ? 8 : 0))) return len + 2; // mov scratch, r
  if (o === 0x8b && regToReg && SCRATCH.has(((modrm >> 3) & 7) | (rex & 4 ? 8 : 0))) return len + 2; // mov r -> scratch
  if (!rex && op === 0x80 && modrm === 0x3d) return 7; // cmpb $imm8, disp32(%rip)
  if (!rex && op === 0x83 && modrm === 0x3d) return 7; // cmpl $imm8, disp32(%rip)
  return 0;
}

/** The offset of the first emulated instruction among a function's first bytes, past at most 3 harmless ones; 0 if none. */
export function emulatedOffsetIn(b: Buffer): number {
  let i = 0;
  for (let steps = 0; steps < 4 && i < 16; steps++) {
    if (emulated(b, i)) return i;
    const n = harmless(b, i);
    if (!n) break;
    i += n;
  }
  return 0;
}

export function emulatedProbeOffset(elf: ElfFile, vaddr: number): number {
  const fileOff = elf.fileOffsetOfVaddr(vaddr);
  if (fileOff === null) return 0;
  const b = Buffer.alloc(32);
  const fd = fs.openSync(elf.path, 'r');
  try {
    if (fs.readSync(fd, b, 0, b.length, fileOff) < b.length) return 0;
  } finally {
    fs.closeSync(fd);
  }
  return emulatedOffsetIn(b);
}
