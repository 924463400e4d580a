// SPDX-License-Identifier: Apache-2.0
// Builds the DWARF unwinding workloads: unwind_malloc (with libunwind_lib.so) without frame
// pointers, and its frame-pointer twin. Shared by test/unwind*.test.ts and bench/unwind*.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './lib/workloads';

const SRC = path.join(ROOT, 'test', 'workloads');
const OUT = path.join(ROOT, 'build', 'workloads');

export interface UnwindWorkload {
  bin: string;
  lib: string;
}

function stale(out: string, srcs: string[]): boolean {
  if (!fs.existsSync(out)) return true;
  const t = fs.statSync(out).mtimeMs;
  return srcs.some((s) => fs.statSync(s).mtimeMs > t);
}

/**
 * variant 'nofp': -O2 -fomit-frame-pointer (the default of -O2); 'fp': -O2 -fno-omit-frame-pointer;
 * 'debugframe': no frame pointers and no unwind tables, so the functions' CFI is only in .debug_frame.
 */
export function unwindWorkload(variant: 'nofp' | 'fp' | 'debugframe' = 'nofp'): UnwindWorkload {
  fs.mkdirSync(OUT, { recursive: true });
  const flags = ['-O2', '-g', variant === 'fp' ? '-fno-omit-frame-pointer' : '-fomit-frame-pointer'];
  if (variant === 'debugframe') flags.push('-fno-asynchronous-unwind-tables', '-fno-unwind-tables');
  const libDir = path.join(OUT, `unwind-${variant}`);
  fs.mkdirSync(libDir, { recursive: true });
  const libSrc = path.join(SRC, 'unwind_lib.c');
  const binSrc = path.join(SRC, 'unwind_malloc.c');
  const lib = path.join(libDir, 'libunwind_lib.so');
  const bin = path.join(libDir, 'unwind_malloc');
  if (stale(lib, [libSrc])) execFileSync('gcc', [...flags, '-shared', '-fPIC', '-o', lib, libSrc], { stdio: 'inherit' });
  if (stale(bin, [binSrc, lib])) {
    execFileSync('gcc', [...flags, '-DWITH_LIB', '-o', bin, binSrc, `-L${libDir}`, '-lunwind_lib', `-Wl,-rpath,${libDir}`], { stdio: 'inherit' });
  }
  return { bin, lib };
}
