// SPDX-License-Identifier: Apache-2.0
// Test workloads: small C programs under test/workloads, built on demand with frame pointers
// and debug info so stacks name their functions.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../../src/core/paths';

export const ROOT = projectRoot;
const SRC = path.join(ROOT, 'test', 'workloads');
const OUT = path.join(ROOT, 'build', 'workloads');

/** Compiles test/workloads/NAME.c or NAME.cc (once per change) and returns the binary's path. */
export function workload(name: string, opts: { cflags?: string[]; variant?: string } = {}): string {
  const cxx = fs.existsSync(path.join(SRC, `${name}.cc`));
  const src = path.join(SRC, cxx ? `${name}.cc` : `${name}.c`);
  const bin = path.join(OUT, opts.variant ? `${name}-${opts.variant}` : name);
  fs.mkdirSync(OUT, { recursive: true });
  const fresh = fs.existsSync(bin) && fs.statSync(bin).mtimeMs >= fs.statSync(src).mtimeMs;
  if (!fresh) {
    const flags = opts.cflags ?? ['-O0', '-g', '-fno-omit-frame-pointer'];
    execFileSync(cxx ? 'g++' : 'gcc', [...flags, '-o', bin, src, '-lpthread'], { stdio: 'inherit' });
  }
  return bin;
}
