// SPDX-License-Identifier: Apache-2.0
// /proc/PID/maps: which file (and file offset) backs each address range of a process.
import * as fs from 'node:fs';

export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  offset: bigint;
  dev: string;
  inode: number;
  path: string; // file path, "[heap]", "[stack]", "[anon:name]" or "" for anonymous memory
  /** Where the file lies on its own filesystem, when BPF sent the mapping (ms_dwarf_map): how it
   * is found again after its process exited (symbols/on-device.ts). */
  onDevice?: FileOnDevice;
}

/** A file by its superblock: the device, the path from the filesystem's root (mounts ignored),
 * and what must match before a file found there is trusted to be it. */
export interface FileOnDevice {
  dev: number; // the kernel's encoding: major << 20 | minor
  ino: number;
  size: number;
  comps: string[]; // root first
  nameMax: number; // a component this long may be the start of a longer name (cut by BPF)
}

export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      start: BigInt('0x' + m[1]),
      end: BigInt('0x' + m[2]),
      perms: m[3],
      offset: BigInt('0x' + m[4]),
      dev: m[5],
      inode: Number(m[6]),
      path: m[7].replace(/\\012/g, '\n'), // the kernel writes a newline in a file name as \012 (seq_file_path)
    });
  }
  return out;
}

/** The mappings of a live process, or null if it is gone. */
export function readMaps(pid: number): Mapping[] | null {
  try {
    return parseMaps(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
  } catch { // ENOENT/ESRCH: the process exited
    return null;
  }
}

export function findMapping(maps: readonly Mapping[], addr: bigint): Mapping | undefined {
  let lo = 0;
  let hi = maps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (addr < maps[mid].start) hi = mid - 1;
    else if (addr >= maps[mid].end) lo = mid + 1;
    else return maps[mid];
  }
  return undefined;
}

/** True for mappings backed by a regular file (not heap, stack, vdso or anonymous memory). */
export function isFileMapping(m: Mapping): boolean {
  return m.path.startsWith('/') && m.inode !== 0;
}
