// SPDX-License-Identifier: Apache-2.0
// USDT probes of an ELF file, from its .note.stapsdt notes (what `readelf -n` lists as
// "stapsdt"): provider and name of each, so `u:LIB:PROBE` can be resolved and checked before
// libbpf attaches (libbpf needs the provider; BCC users name the probe only).
import * as fs from 'node:fs';
import { ElfFile } from './elf';

export interface UsdtProbe {
  provider: string;
  name: string;
}

const NT_STAPSDT = 3;

/** The USDT probes of `file` (each provider:name once), [] when it has none or is not ELF. */
export function usdtProbes(file: string): UsdtProbe[] {
  const elf = ElfFile.read(file);
  const sec = elf?.sections.find((s) => s.name === '.note.stapsdt');
  if (!sec) return [];
  const buf = Buffer.alloc(sec.size);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, buf, 0, sec.size, sec.offset);
  } finally {
    fs.closeSync(fd);
  }
  const seen = new Set<string>();
  const out: UsdtProbe[] = [];
  const align = (n: number) => (n + 3) & ~3;
  for (let o = 0; o + 12 <= buf.length; ) {
    const namesz = buf.readUInt32LE(o);
    const descsz = buf.readUInt32LE(o + 4);
    const type = buf.readUInt32LE(o + 8);
    const desc = o + 12 + align(namesz);
    // desc: pc, base, semaphore (3 x u64), then provider\0 name\0 arguments\0
    if (type === NT_STAPSDT && buf.toString('latin1', o + 12, o + 19) === 'stapsdt' && descsz > 24) {
      const strs = buf.toString('latin1', desc + 24, desc + descsz).split('\0');
      const key = `${strs[0]}:${strs[1]}`;
      if (strs[1] && !seen.has(key)) {
        seen.add(key);
        out.push({ provider: strs[0], name: strs[1] });
      }
    }
    o = desc + align(descsz);
  }
  return out;
}
