// SPDX-License-Identifier: Apache-2.0
// A small ELF64 reader: program headers (file offset → virtual address), the GNU build id,
// .gnu_debuglink, and function symbols from .symtab or .dynsym. It reads only the parts it
// needs, with positioned reads, so large binaries cost little.
import * as fs from 'node:fs';

const PT_LOAD = 1;
const PT_NOTE = 4;
const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const NT_GNU_BUILD_ID = 3;

interface Load { offset: number; vaddr: number; filesz: number; memsz: number }
interface Section { name: string; type: number; offset: number; size: number; link: number; entsize: number; addr: number }

export class SymbolTable {
  private readonly nameAt: (i: number) => string;
  private byName: Map<string, number> | null = null;

  /** names: an array, or a function decoding the i-th name on demand (ElfFile decodes only the
   * names that lookups return: a large binary has tens of thousands). */
  constructor(private readonly addrs: Float64Array, private readonly sizes: Float64Array, names: string[] | ((i: number) => string)) {
    this.nameAt = typeof names === 'function' ? names : (i) => names[i];
  }

  get length(): number {
    return this.addrs.length;
  }

  /** The function containing vaddr, with the offset into it. */
  lookup(vaddr: number): { name: string; offset: number } | null {
    let lo = 0;
    let hi = this.addrs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.addrs[mid] <= vaddr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return null;
    const size = this.sizes[found];
    const offset = vaddr - this.addrs[found];
    // a sized symbol must contain the address; unsized ones (hand-written asm) are trusted
    if (size > 0 && offset >= size) return null;
    return { name: this.nameAt(found), offset };
  }

  /** Address of a named function (first match), for uprobe-style lookups. */
  addressOf(name: string): number | null {
    if (!this.byName) {
      this.byName = new Map();
      for (let i = 0; i < this.addrs.length; i++) {
        const n = this.nameAt(i);
        if (!this.byName.has(n)) this.byName.set(n, i);
      }
    }
    const i = this.byName.get(name);
    return i === undefined ? null : this.addrs[i];
  }
}

export class ElfFile {
  readonly loads: Load[] = [];
  readonly sections: Section[] = [];
  buildId: string | null = null;
  debuglink: string | null = null;
  private symtab: SymbolTable | null = null;
  /** For a file reached through /proc/PID/root (another mount namespace), an fd held from the
   * first eviction of its symbol table on: the path dies with the process, and its frames (an OOM
   * victim's) are named after that, so the table must be readable again without the path. */
  private heldFd: number | null = null;
  /** What the loaded symbol table holds, about (typed arrays, the string table, names decoded
   * from it), for the module cache's byte budget (symbols/cache-caps.ts). */
  symbolBytes = 0;

  private constructor(readonly path: string) {}

  /** Parses the headers of an ELF64 little-endian file; null if it is not one. */
  static read(path: string): ElfFile | null {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch { // missing or unreadable file: nothing to symbolize with, like a stripped binary
      return null;
    }
    try {
      const elf = new ElfFile(path);
      return elf.parse(fd) ? elf : null;
    } catch { // truncated or malformed ELF (reads past its end throw RangeError): treated as unreadable
      return null;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Parses an open file's headers and keeps the fd for its symbols (closed by close(), or
   * now when it is not ELF): a file with no path memscope could open again (on-device.ts). */
  static readHeld(fd: number, path: string): ElfFile | null {
    const elf = new ElfFile(path);
    let ok = false;
    try {
      ok = elf.parse(fd);
    } catch { // truncated or malformed ELF
      ok = false;
    }
    if (!ok) {
      fs.closeSync(fd);
      return null;
    }
    elf.heldFd = fd;
    return elf;
  }

  private parse(fd: number): boolean {
    const h = pread(fd, 0, 64);
    if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return false;
    const phoff = Number(h.readBigUInt64LE(32));
    const shoff = Number(h.readBigUInt64LE(40));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const shentsize = h.readUInt16LE(58);
    const shnum = h.readUInt16LE(60);
    const shstrndx = h.readUInt16LE(62);

    const ph = pread(fd, phoff, phentsize * phnum);
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      const type = ph.readUInt32LE(o);
      const offset = Number(ph.readBigUInt64LE(o + 8));
      const vaddr = Number(ph.readBigUInt64LE(o + 16));
      const filesz = Number(ph.readBigUInt64LE(o + 32));
      const memsz = Number(ph.readBigUInt64LE(o + 40));
      if (type === PT_LOAD) this.loads.push({ offset, vaddr, filesz, memsz });
      if (type === PT_NOTE && !this.buildId) this.buildId = findBuildId(pread(fd, offset, filesz));
    }

    if (shoff && shnum) {
      const sh = pread(fd, shoff, shentsize * shnum);
      const raw = [];
      for (let i = 0; i < shnum; i++) {
        const o = i * shentsize;
        raw.push({
          nameOff: sh.readUInt32LE(o),
          type: sh.readUInt32LE(o + 4),
          addr: Number(sh.readBigUInt64LE(o + 16)),
          offset: Number(sh.readBigUInt64LE(o + 24)),
          size: Number(sh.readBigUInt64LE(o + 32)),
          link: sh.readUInt32LE(o + 40),
          entsize: Number(sh.readBigUInt64LE(o + 56)),
        });
      }
      const names = shstrndx < raw.length ? pread(fd, raw[shstrndx].offset, raw[shstrndx].size) : Buffer.alloc(0);
      for (const s of raw) this.sections.push({ ...s, name: cstr(names, s.nameOff) });
      const dl = this.sections.find((s) => s.name === '.gnu_debuglink');
      if (dl) this.debuglink = cstr(pread(fd, dl.offset, dl.size), 0);
      if (!this.buildId) {
        const note = this.sections.find((s) => s.name === '.note.gnu.build-id');
        if (note) this.buildId = findBuildId(pread(fd, note.offset, note.size));
      }
    }
    return true;
  }

  hasSymtab(): boolean {
    return this.sections.some((s) => s.type === SHT_SYMTAB && s.size > 0);
  }

  /** Virtual addresses of the named functions (aliases included: symbols() keeps one name per
   * address), from .symtab and .dynsym; for attaching uprobes once per address. */
  functionAddresses(names: string[] | ((name: string) => boolean)): Map<string, number> {
    const set = Array.isArray(names) ? new Set(names) : null;
    const want = { has: (n: string) => (set ? set.has(n) : (names as (name: string) => boolean)(n)) };
    const out = new Map<string, number>();
    const fd = fs.openSync(this.path, 'r');
    try {
      for (const sec of this.sections.filter((x) => x.type === SHT_SYMTAB || x.type === SHT_DYNSYM)) {
        if (sec.link >= this.sections.length) continue;
        const data = pread(fd, sec.offset, sec.size);
        const strs = pread(fd, this.sections[sec.link].offset, this.sections[sec.link].size);
        const ent = sec.entsize || 24;
        for (let o = 0; o + ent <= data.length; o += ent) {
          const type = data[o + 4] & 0xf;
          if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || data.readUInt16LE(o + 6) === 0) continue;
          const name = cstr(strs, data.readUInt32LE(o)).replace(/@.*$/, '');
          if (want.has(name) && !out.has(name)) out.set(name, Number(data.readBigUInt64LE(o + 8)));
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    return out;
  }

  /** Function symbols: .symtab when present (it includes static functions), else .dynsym.
   * Parsed into typed arrays, without BigInt, objects or strings per symbol: node's 150 000 symbols
   * take tens of milliseconds, and only the names lookups return are decoded. */
  symbols(): SymbolTable {
    if (this.symtab) return this.symtab;
    const sec = this.sections.find((s) => s.type === SHT_SYMTAB) ?? this.sections.find((s) => s.type === SHT_DYNSYM);
    if (!sec || sec.link >= this.sections.length) {
      this.symtab = new SymbolTable(new Float64Array(0), new Float64Array(0), []);
      return this.symtab;
    }
    let data: Buffer;
    let strs: Buffer;
    let fd: number;
    try {
      fd = this.heldFd ?? fs.openSync(this.path, 'r');
    } catch {
      // gone since its headers were read (a file reached through /proc/PID/root of a process that
      // exited): no names now, and nothing cached so a later look may still find them
      return new SymbolTable(new Float64Array(0), new Float64Array(0), []);
    }
    try {
      data = pread(fd, sec.offset, sec.size);
      const strsec = this.sections[sec.link];
      strs = pread(fd, strsec.offset, strsec.size);
    } finally {
      if (fd !== this.heldFd) fs.closeSync(fd);
    }
    const ent = sec.entsize >= 24 && sec.entsize % 4 === 0 ? sec.entsize : 24;
    const max = Math.floor(data.length / ent);
    // Elf64_Sym as 32-bit words: name, info | other << 8 | shndx << 16, value lo/hi, size lo/hi
    // (read through a Uint32Array: per-symbol Buffer reads and BigInts cost ~5x more)
    const aligned = data.byteOffset % 4 === 0 ? data : Buffer.from(data);
    const words = new Uint32Array(aligned.buffer, aligned.byteOffset, (max * ent) >> 2);
    const stride = ent >> 2;
    const addrs = new Float64Array(max);
    const sizes = new Float64Array(max);
    const nameOffs = new Uint32Array(max);
    const global = new Uint8Array(max);
    let n = 0;
    for (let w = 0, end = max * stride; w < end; w += stride) {
      const x = words[w + 1];
      const type = x & 0xf;
      if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || x >>> 16 === 0) continue;
      const addr = words[w + 3] * 0x100000000 + words[w + 2];
      if (addr === 0) continue;
      addrs[n] = addr;
      sizes[n] = words[w + 5] * 0x100000000 + words[w + 4];
      nameOffs[n] = words[w];
      global[n] = (x & 0xff) >> 4 !== 0 ? 1 : 0;
      n++;
    }
    const order = sortedByAddress(addrs, n);
    // one symbol per address, preferring global names (malloc over __libc_malloc aliases' locals),
    // then the shorter name, then the first in the table
    const nameLen = (i: number) => {
      const end = strs.indexOf(0, nameOffs[i]);
      return (end < 0 ? strs.length : end) - nameOffs[i];
    };
    let u = 0;
    for (let k = 0; k < n; ) {
      let best = order[k];
      let j = k + 1;
      for (; j < n && addrs[order[j]] === addrs[best]; j++) {
        const c = order[j];
        if (global[c] > global[best] || (global[c] === global[best] && nameLen(c) < nameLen(best))) best = c;
      }
      order[u++] = best;
      k = j;
    }
    const uAddrs = new Float64Array(u);
    const uSizes = new Float64Array(u);
    const uNames = new Uint32Array(u);
    for (let k = 0; k < u; k++) {
      uAddrs[k] = addrs[order[k]];
      uSizes[k] = sizes[order[k]];
      uNames[k] = nameOffs[order[k]];
    }
    const names: (string | undefined)[] = [];
    this.symtab = new SymbolTable(uAddrs, uSizes, (i) => (names[i] ??= cstr(strs, uNames[i])));
    this.symbolBytes = 2 * strs.length + 20 * u;
    return this.symtab;
  }

  /** Whether the symbol table is loaded now. */
  get symbolsLoaded(): boolean {
    return this.symtab !== null;
  }

  /** Lets the symbol table go (the module cache evicted it); symbols() reads it again. A file of
   * another mount namespace is kept open for that (heldFd); one that cannot be opened any more
   * keeps its table, the only copy of its names. */
  dropSymbols(): void {
    if (this.heldFd === null && !this.closed && /^\/proc\/\d+\/root\//.test(this.path)) {
      try {
        this.heldFd = fs.openSync(this.path, 'r');
      } catch {
        return;
      }
    }
    this.symtab = null;
    this.symbolBytes = 0;
  }

  /** The process whose /proc/PID/root this file was reached through is forgotten: the held fd is
   * closed (a long-running agent would otherwise keep one per container file it ever named) and
   * none is opened again. */
  close(): void {
    this.closed = true;
    if (this.heldFd !== null) fs.closeSync(this.heldFd);
    this.heldFd = null;
  }

  private closed = false;

  /** Maps a file offset (as in /proc/PID/maps or a build-id stack) to the ELF virtual address. */
  vaddrOfFileOffset(off: number): number | null {
    for (const l of this.loads) {
      if (off >= l.offset && off < l.offset + Math.max(l.filesz, 1)) return off - l.offset + l.vaddr;
    }
    return null;
  }

  /** File offset of a virtual address (for uprobes, which attach by file offset). */
  fileOffsetOfVaddr(vaddr: number): number | null {
    for (const l of this.loads) {
      if (vaddr >= l.vaddr && vaddr < l.vaddr + l.filesz) return vaddr - l.vaddr + l.offset;
    }
    return null;
  }
}

/** Indices 0..n-1 ordered by address, ties in index order. With a native numeric sort of
 * address * 2^bits + index when that stays exact (ELF virtual addresses are small), else a
 * comparator sort. */
function sortedByAddress(addrs: Float64Array, n: number): Uint32Array {
  const order = new Uint32Array(n);
  let bits = 1;
  while (2 ** bits < n) bits++;
  const scale = 2 ** bits;
  let maxAddr = 0;
  for (let i = 0; i < n; i++) if (addrs[i] > maxAddr) maxAddr = addrs[i];
  if ((maxAddr + 1) * scale <= Number.MAX_SAFE_INTEGER) {
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = addrs[i] * scale + i;
    keys.sort();
    for (let k = 0; k < n; k++) order[k] = keys[k] % scale;
  } else {
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => addrs[a] - addrs[b] || a - b);
  }
  return order;
}

function pread(fd: number, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  const n = fs.readSync(fd, b, 0, length, offset);
  return n === length ? b : b.subarray(0, n);
}

function cstr(b: Buffer, off: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 ? b.length : end);
}

function findBuildId(notes: Buffer): string | null {
  let o = 0;
  while (o + 12 <= notes.length) {
    const namesz = notes.readUInt32LE(o);
    const descsz = notes.readUInt32LE(o + 4);
    const type = notes.readUInt32LE(o + 8);
    const nameOff = o + 12;
    const descOff = nameOff + align4(namesz);
    if (type === NT_GNU_BUILD_ID && notes.toString('latin1', nameOff, nameOff + 3) === 'GNU') {
      return notes.toString('hex', descOff, descOff + descsz);
    }
    o = descOff + align4(descsz);
  }
  return null;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
