// SPDX-License-Identifier: Apache-2.0
// Frees of sampled blocks that wait inside a sampled process (memleak --sample-bytes). The sampler
// sends them along with its next sampled allocation, or on their own when 16 wait
// (shim/memscope_sampler.c: pending_frees, npending, found through its descriptor), so that a freed sampled block costs no trap.
// A process that has gone quiet keeps up to 15 of them: without this, its report counts those
// blocks as outstanding (a site whose blocks are both kept and freed read +5%…+13% high at
// 64 KiB on bench:memleak-real's Python program, 10 of 10 runs). The report reads the list from
// the process's memory and leaves those blocks out; they reach the BPF maps later as usual.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readMaps } from '../../procfs/maps';
import { SAMPLER_MODULE } from './sampler';
import { readAt, readDesc } from './shim-desc';

/** PIDs already told that their pending frees cannot be read (said once per run). */
const told = new Set<number>();

/** The addresses whose frees wait in the sampler of `pid`; empty if it has none, or is gone. Read
 * while the process runs: a list being sent as it is read may be read part old, part new (a
 * report is a moment's estimate; the next report has it right). A sampler whose descriptor
 * cannot be read is said once on stderr: the correction is off for it, not silently. */
export function pendingFrees(pid: number): bigint[] {
  let fd: number | undefined;
  try {
    const maps = readMaps(pid);
    const m = maps?.find((x) => x.offset === 0n && path.basename(x.path) === SAMPLER_MODULE);
    if (!maps || !m) return [];
    fd = fs.openSync(`/proc/${pid}/mem`, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const d = readDesc(pid, fd, m.path, maps);
    if (typeof d === 'string') {
      if (!told.has(pid)) {
        told.add(pid);
        process.stderr.write(`memscope: memleak: cannot read the frees waiting in PID ${pid}'s sampler: ${d}; up to 15 freed sampled blocks may be reported\n`);
      }
      return [];
    }
    const n = Math.min(d.pendingMax, Number(readAt(fd, d.npending, 8).readBigUInt64LE(0)));
    if (n <= 0) return [];
    const list = readAt(fd, d.pendingFrees, 8 * n);
    return Array.from({ length: n }, (_, i) => list.readBigUInt64LE(8 * i)).filter((a) => a !== 0n);
  } catch {
    return []; // exited, or its memory is not ours to read: the report as the maps have it
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
