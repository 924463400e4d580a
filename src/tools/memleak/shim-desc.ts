// SPDX-License-Identifier: Apache-2.0
// Where the sampler's state lies in a process (memleak --sample-bytes): its descriptor,
// memscope_sampler_desc (shim/memscope_sampler.c), an exported symbol, so it is in .dynsym and a
// stripped copy of the shim still has it. memscope reads the pending frees (pending.ts) and the
// attach state and rate (inject.ts) through it; the counters' address is there for a debugger (the
// sampled blocks the sampler could not record reach the report through BPF: sampled_unrecorded).
// A descriptor of another version is refused, never guessed at.
import * as fs from 'node:fs';
import { Mapping, readMaps } from '../../procfs/maps';
import { ElfFile } from '../../symbols/elf';
import { moduleBase, objectAddress, visiblePath } from './got';

export const SAMPLER_DESC = 'memscope_sampler_desc';
const MAGIC = Buffer.from('MSSAMPL\0', 'latin1');
const VERSION = 2; // MEMSCOPE_SAMPLER_DESC_VERSION in the shim (2: the counters gained unrecorded)
const SIZE = 56;

/** Addresses in the target process. */
export interface SamplerDesc {
  npending: number;
  pendingFrees: number;
  pendingMax: number;
  attachPidfd: number;
  meanInterval: number;
  counters: number;
}

/** Where the descriptor symbol is in each sampler file (by the path the target sees). */
const symbolCache = new Map<string, number | null>();

/** Reads `len` bytes at `addr` of the process, through an open /proc/PID/mem. */
function readAt(fd: number, addr: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  if (fs.readSync(fd, b, 0, len, addr) !== len) throw new Error(`short read at 0x${addr.toString(16)}`);
  return b;
}

/**
 * The descriptor of the sampler `file` (as mapped by the process) through the process's memory
 * `fd`, or a reason it cannot be read: the file has no descriptor (a sampler older than it), or one
 * of a version this memscope does not know.
 */
export function readDesc(pid: number, fd: number, file: string, maps: Mapping[] = readMaps(pid) ?? []): SamplerDesc | string {
  const there = visiblePath(pid, file);
  let sym = symbolCache.get(there);
  if (sym === undefined) symbolCache.set(there, (sym = objectAddress(there, SAMPLER_DESC) ?? null));
  if (sym === null) return `${file} has no ${SAMPLER_DESC} (a sampler older than this memscope: rebuild it, make -C shim)`;
  const elf = ElfFile.read(there);
  const base = elf ? moduleBase(maps, file, elf) : undefined;
  if (base === undefined) return `${file} is not mapped by PID ${pid}`;
  const b = readAt(fd, base + sym, SIZE);
  if (!b.subarray(0, 8).equals(MAGIC)) return `${file}'s ${SAMPLER_DESC} is not one (no magic)`;
  const version = b.readUInt32LE(8);
  if (version !== VERSION) return `${file}'s ${SAMPLER_DESC} is version ${version}, this memscope reads version ${VERSION}`;
  const at = (i: number) => Number(b.readBigUInt64LE(16 + 8 * i));
  return { pendingMax: b.readUInt32LE(12), npending: at(0), pendingFrees: at(1), attachPidfd: at(2), meanInterval: at(3), counters: at(4) };
}

export { readAt };
