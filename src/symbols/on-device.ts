// SPDX-License-Identifier: Apache-2.0
// Opens a mapped file by where it lies on its own filesystem (device + path from the filesystem's
// root, sent by BPF), through one of memscope's own mounts of that device: the way to a container's
// file once its process has exited and /proc/PID/root with it (an OOM victim killed milliseconds
// after its start, before its mapping note was read). For a file of an overlayfs container the
// mapping holds overlayfs's backing file, on the host's disk in a layer directory, so this works for
// every runtime (Docker, containerd, podman) without knowing any of their layouts.
//
// Never the wrong file: no symbolic link is followed (each directory is lstat'ed, the file opened
// with O_NOFOLLOW), and the open file must be a regular file with the same device, inode number
// and size as the mapped one, else it is closed and nothing is named.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileOnDevice } from '../procfs/maps';
import { readMountinfo } from '../procfs/mountinfo';

export interface OpenedOnDevice {
  fd: number;
  path: string; // the path it was opened by (for the module's name; not opened again)
  st: fs.Stats;
}

/** Names a directory may hold where BPF cut one at nameMax bytes (Docker's 64-hex layer ids). */
const MAX_CUT_CANDIDATES = 8;

function major(dev: number): number {
  return Number((BigInt(dev) >> 8n) & 0xfffn) | Number((BigInt(dev) >> 32n) & ~0xfffn);
}
function minor(dev: number): number {
  return Number(BigInt(dev) & 0xffn) | Number((BigInt(dev) >> 12n) & ~0xffn);
}

/** The file f is, opened read-only through one of memscope's mounts of its device; null if none
 * reaches it or what is there now is not it. The caller owns the fd. */
export function openOnDevice(f: FileOnDevice): OpenedOnDevice | null {
  const devMajor = f.dev >>> 20;
  const devMinor = f.dev & 0xfffff;
  const inFs = '/' + f.comps.join('/');
  for (const m of readMountinfo()) {
    if (m.major !== devMajor || m.minor !== devMinor) continue;
    const root = m.root === '/' ? '' : m.root;
    if (inFs !== root && !inFs.startsWith(root + '/')) continue;
    const rest = inFs.slice(root.length).split('/').filter(Boolean);
    for (const file of candidates(m.mountPoint, rest, f.nameMax)) {
      const got = openChecked(file, f);
      if (got) return got;
    }
  }
  return null;
}

/** Host paths the components may name: each directory lstat'ed (a link is not followed), a
 * component nameMax long matched against the names its directory holds that begin with it. */
function candidates(dir: string, rest: string[], nameMax: number): string[] {
  if (!rest.length) return [dir];
  const [name, ...more] = rest;
  let names = [name];
  if (Buffer.byteLength(name) >= nameMax) {
    try {
      names = fs.readdirSync(dir).filter((n) => n.startsWith(name)).slice(0, MAX_CUT_CANDIDATES);
    } catch {
      return [];
    }
  }
  const out: string[] = [];
  for (const n of names) {
    const next = path.join(dir, n);
    if (more.length) {
      try {
        if (!fs.lstatSync(next).isDirectory()) continue; // a link (or not a directory): not followed
      } catch {
        continue;
      }
    }
    out.push(...candidates(next, more, nameMax));
  }
  return out;
}

/** Whether st is the file f: a regular file, the same device, inode number and size. */
function isFileOnDevice(st: fs.Stats, f: FileOnDevice): boolean {
  return st.isFile() && st.ino === f.ino && st.size === f.size && major(st.dev) === f.dev >>> 20 && minor(st.dev) === (f.dev & 0xfffff);
}

function openChecked(file: string, f: FileOnDevice): OpenedOnDevice | null {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang memscope (it fails the checks below)
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fs.fstatSync(fd);
    if (isFileOnDevice(st, f)) return { fd, path: file, st };
  } catch {
    // unreadable: not it
  }
  fs.closeSync(fd);
  return null;
}
