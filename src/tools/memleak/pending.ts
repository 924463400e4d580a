// SPDX-License-Identifier: Apache-2.0
// Frees of sampled blocks that wait inside a sampled process (memleak --sample-bytes). The sampler
// sends them along with its next sampled allocation, or on their own when 16 wait
// (shim/memscope_sampler.c: pending_frees, npending), so that a freed sampled block costs no trap.
// A process that has gone quiet keeps up to 15 of them: without this, its report counts those
// blocks as outstanding (a site whose blocks are both kept and freed read +5%…+13% high at
// 64 KiB on bench:memleak-real's Python program, 10 of 10 runs). The report reads the list from
// the process's memory and leaves those blocks out; they reach the BPF maps later as usual.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElfFile } from '../../symbols/elf';
import { readMaps } from '../../procfs/maps';
import { moduleBase, objectAddress, visiblePath } from './got';
import { SAMPLER_MODULE } from './sampler';

const MAX_PENDING = 16; // PENDING_FREES in the shim

/** Where the list lies in each sampler file (by the path the target sees): offsets, not addresses. */
const layoutCache = new Map<string, { n: number; list: number } | null>();

function layout(file: string): { n: number; list: number } | null {
  let l = layoutCache.get(file);
  if (l === undefined) {
    const n = objectAddress(file, 'npending');
    const list = objectAddress(file, 'pending_frees');
    layoutCache.set(file, (l = n !== undefined && list !== undefined ? { n, list } : null));
  }
  return l;
}

/** The addresses whose frees wait in the sampler of `pid`; empty if it has none, or is gone. Read
 * while the process runs: a list being sent as it is read may be read part old, part new (a
 * report is a moment's estimate; the next report has it right). */
export function pendingFrees(pid: number): bigint[] {
  try {
    return readPending(pid);
  } catch {
    return []; // a sampler memscope cannot read (gone, replaced): the report as the maps have it
  }
}

function readPending(pid: number): bigint[] {
  const maps = readMaps(pid);
  const m = maps?.find((x) => x.offset === 0n && path.basename(x.path) === SAMPLER_MODULE);
  if (!maps || !m) return [];
  const file = visiblePath(pid, m.path);
  const l = layout(file);
  const elf = l ? ElfFile.read(file) : null;
  const base = elf ? moduleBase(maps, m.path, elf) : undefined;
  if (!l || base === undefined) return [];
  let fd: number | undefined;
  try {
    fd = fs.openSync(`/proc/${pid}/mem`, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const nb = Buffer.alloc(8);
    if (fs.readSync(fd, nb, 0, 8, base + l.n) !== 8) return [];
    const n = Math.min(MAX_PENDING, Number(nb.readBigUInt64LE(0)));
    if (n <= 0) return [];
    const list = Buffer.alloc(8 * n);
    if (fs.readSync(fd, list, 0, list.length, base + l.list) !== list.length) return [];
    return Array.from({ length: n }, (_, i) => list.readBigUInt64LE(8 * i)).filter((a) => a !== 0n);
  } catch {
    return []; // exited, or its memory is not ours to read: the report as the maps have it
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
