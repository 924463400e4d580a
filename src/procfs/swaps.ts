// SPDX-License-Identifier: Apache-2.0
// /proc/swaps: the swap devices swapon(1) lists (sizes in kB).
import { readProc } from './common';

export interface SwapDevice {
  name: string;
  type: string;
  sizeKb: number;
  usedKb: number;
  priority: number;
}

/** The kernel escapes spaces etc. in names as \\040 (octal). */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseSwaps(text: string): SwapDevice[] {
  const out: SwapDevice[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    out.push({ name: unescapeOctal(f[0]), type: f[1], sizeKb: Number(f[2]), usedKb: Number(f[3]), priority: Number(f[4]) });
  }
  return out;
}

export function readSwaps(): SwapDevice[] {
  return parseSwaps(readProc('/proc/swaps') ?? '');
}
