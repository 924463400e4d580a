// SPDX-License-Identifier: Apache-2.0
// Kernel symbols from /proc/kallsyms (real addresses need root, which every tool has).
// Parsed in one pass without BigInt: every kernel text address on x86_64 and arm64 lies in the top
// 4 GiB of the address space, so the low 32 bits identify it and sort as plain numbers.
import * as fs from 'node:fs';

const TOP = 0xffffffffn << 32n;

export class KernelSymbols {
  private readonly addrs: Uint32Array;
  private readonly names: string[];
  private readonly modules: (string | null)[];

  constructor(text: string) {
    const rows: { lo: number; name: string; module: string | null }[] = [];
    let pos = 0;
    while (pos < text.length) {
      let nl = text.indexOf('\n', pos);
      if (nl < 0) nl = text.length;
      // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t foo\t[ext4]"
      const type = text.charCodeAt(pos + 17);
      if (
        text.charCodeAt(pos + 16) === 32 &&
        (type === 116 || type === 84 || type === 119 || type === 87) && // t T w W
        text.startsWith('ffffffff', pos)
      ) {
        const lo = parseInt(text.slice(pos + 8, pos + 16), 16);
        const rest = text.slice(pos + 19, nl);
        const tab = rest.indexOf('\t');
        if (lo !== 0) {
          rows.push({
            lo,
            name: tab < 0 ? rest : rest.slice(0, tab),
            module: tab < 0 ? null : rest.slice(tab + 2, -1),
          });
        }
      }
      pos = nl + 1;
    }
    rows.sort((a, b) => a.lo - b.lo);
    this.addrs = Uint32Array.from(rows, (r) => r.lo);
    this.names = rows.map((r) => r.name);
    this.modules = rows.map((r) => r.module);
  }

  static load(file = '/proc/kallsyms'): KernelSymbols {
    return new KernelSymbols(fs.readFileSync(file, 'latin1'));
  }

  get length(): number {
    return this.names.length;
  }

  lookup(addr: bigint): { name: string; offset: number; module: string } | null {
    if ((addr & TOP) !== TOP) return null;
    const lo = Number(addr & 0xffffffffn);
    let a = 0;
    let b = this.addrs.length - 1;
    let found = -1;
    while (a <= b) {
      const mid = (a + b) >> 1;
      if (this.addrs[mid] <= lo) {
        found = mid;
        a = mid + 1;
      } else b = mid - 1;
    }
    if (found < 0) return null;
    return { name: this.names[found], offset: lo - this.addrs[found], module: this.modules[found] ?? 'kernel' };
  }

  /** Address of a kernel function by exact name. */
  addressOf(name: string): bigint | null {
    const i = this.names.indexOf(name);
    return i < 0 ? null : TOP | BigInt(this.addrs[i]);
  }
}
