// Kernel symbols from /proc/kallsyms (real addresses need root, which every tool has).
import * as fs from 'node:fs';

export class KernelSymbols {
  private readonly addrs: BigUint64Array;
  private readonly names: string[];
  private readonly modules: (string | null)[];

  constructor(text: string) {
    const rows: { addr: bigint; name: string; module: string | null }[] = [];
    for (const line of text.split('\n')) {
      // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t foo	[ext4]"
      const sp1 = line.indexOf(' ');
      const sp2 = line.indexOf(' ', sp1 + 1);
      if (sp1 < 0 || sp2 < 0) continue;
      const type = line[sp1 + 1];
      if (type !== 't' && type !== 'T' && type !== 'w' && type !== 'W') continue;
      const rest = line.slice(sp2 + 1);
      const tab = rest.indexOf('\t');
      const name = tab < 0 ? rest : rest.slice(0, tab);
      const module = tab < 0 ? null : rest.slice(tab + 1).replace(/^\[|\]$/g, '');
      const addr = BigInt('0x' + line.slice(0, sp1));
      if (addr === 0n) continue;
      rows.push({ addr, name, module });
    }
    rows.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    this.addrs = BigUint64Array.from(rows, (r) => r.addr);
    this.names = rows.map((r) => r.name);
    this.modules = rows.map((r) => r.module);
  }

  static load(file = '/proc/kallsyms'): KernelSymbols {
    return new KernelSymbols(fs.readFileSync(file, 'utf8'));
  }

  get length(): number {
    return this.names.length;
  }

  lookup(addr: bigint): { name: string; offset: number; module: string } | null {
    let lo = 0;
    let hi = this.addrs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.addrs[mid] <= addr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return null;
    return { name: this.names[found], offset: Number(addr - this.addrs[found]), module: this.modules[found] ?? 'kernel' };
  }

  /** Address of a kernel function by exact name. */
  addressOf(name: string): bigint | null {
    const i = this.names.indexOf(name);
    return i < 0 ? null : this.addrs[i];
  }
}
