// SPDX-License-Identifier: Apache-2.0
// /proc/self/mountinfo: which directory of which filesystem each of memscope's mounts shows.
import { readProc } from './common';

export interface MountEntry {
  major: number;
  minor: number;
  root: string; // the directory of the filesystem the mount shows ("/" for its root)
  mountPoint: string; // where memscope sees it
}

/** The kernel writes space, tab, newline and backslash in these paths as octal escapes (\040). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+ \d+ (\d+):(\d+) (\S+) (\S+) /.exec(line);
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), root: unescape(m[3]), mountPoint: unescape(m[4]) });
  }
  return out;
}

/** memscope's own mounts (empty if unreadable). */
export function readMountinfo(): MountEntry[] {
  return parseMountinfo(readProc('/proc/self/mountinfo') ?? '');
}
