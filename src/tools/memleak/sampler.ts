// SPDX-License-Identifier: Apache-2.0
// The in-process sampler for `memleak -c --sample-bytes`: a small preloaded library
// (shim/memscope_sampler.c, built into build/shim/) that samples allocations by bytes and calls a
// probed hook only for sampled blocks and for frees of sampled addresses.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MemscopeError } from '../../core/errors';
import { projectRoot } from '../../core/paths';

export const SAMPLER_ALLOC_HOOK = 'memscope_sampled_alloc';
export const SAMPLER_FREE_HOOK = 'memscope_sampled_free';
export const SAMPLER_MODULE = 'libmemscope_sampler.so';

export function samplerLibrary(): string {
  const lib = path.join(projectRoot, 'build', 'shim', 'libmemscope_sampler.so');
  if (!fs.existsSync(lib)) throw new MemscopeError(`the sampler ${lib} is missing: run the README's setup command (or make -C shim)`);
  return lib;
}
