// SPDX-License-Identifier: Apache-2.0
// Call frame information (DWARF CFI) of one ELF file: CIEs and FDEs from .eh_frame (found through
// the .eh_frame_hdr binary search table when there is one) or .debug_frame. cfa-program.ts runs
// their DW_CFA_* instructions to give, for one code address, how to find the caller's frame: the
// CFA rule and a rule per register (the return address is register 16 on x86_64).
import * as fs from 'node:fs';
import type { ElfFile } from '../symbols/elf';

export const RA_REG = 16;

export const enum RuleKind {
  Undefined = 0,
  SameValue = 1,
  Offset = 2, // saved at CFA + n
  ValOffset = 3, // value is CFA + n
  Register = 4, // in register n
  Expression = 5, // saved at the address the expression computes (CFA pushed first)
  ValExpression = 6, // value is what the expression computes
}

export interface RegRule {
  kind: RuleKind;
  n: number;
  expr?: Buffer;
}

export interface CfaRule {
  reg: number;
  offset: number;
  /** DW_CFA_def_cfa_expression: the CFA is the expression's value. */
  expr?: Buffer;
}

/** The unwind rules at one address. */
export interface Row {
  cfa: CfaRule;
  regs: Map<number, RegRule>;
  /** FDE start..end of the function, as virtual addresses. */
  start: number;
  end: number;
  /** Rows are constant from loc until the next row (for comparing with readelf). */
  loc: number;
  /** 'S' augmentation: a signal frame, whose return address is not after a call. */
  signal: boolean;
  raReg: number;
  /** The unwinder's list of this row's rules it applies (unwinder.ts rulesOf), made at first use:
   * kept on the row, as a WeakMap lookup per frame was part of the unwinder's cost per sample. */
  applied?: { dst: number; rule: RegRule }[];
}

export interface Cie {
  codeAlign: number;
  dataAlign: number;
  raReg: number;
  fdeEnc: number;
  lsdaEnc: number;
  hasAugData: boolean;
  signal: boolean;
  addrSize: number;
  instructions: Buffer;
}

export interface Fde {
  cie: Cie;
  start: number;
  end: number;
  instructions: Buffer;
}

// DW_EH_PE_*
const PE_OMIT = 0xff;
const PE_ABSPTR = 0x00;
const PE_ULEB = 0x01;
const PE_UDATA2 = 0x02;
const PE_UDATA4 = 0x03;
const PE_UDATA8 = 0x04;
const PE_SLEB = 0x09;
const PE_SDATA2 = 0x0a;
const PE_SDATA4 = 0x0b;
const PE_SDATA8 = 0x0c;
const PE_PCREL = 0x10;
const PE_DATAREL = 0x30;

export class CfiError extends Error {}

/** A little-endian cursor over a section; addresses are numbers (user addresses fit in 53 bits). */
export class Reader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
  ) {}

  u8(): number {
    if (this.pos >= this.buf.length) throw new CfiError('read past the end of CFI');
    return this.buf[this.pos++];
  }
  u16(): number {
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  s16(): number {
    const v = this.buf.readInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  s32(): number {
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
    return hi * 0x100000000 + lo;
  }
  s64(): number {
    const v = Number(this.buf.readBigInt64LE(this.pos));
    this.pos += 8;
    return v;
  }
  uleb(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if (!(b & 0x80)) return result;
    }
  }
  sleb(): number {
    let result = 0;
    let mul = 1;
    let b: number;
    do {
      b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    if (b & 0x40) result -= mul;
    return result;
  }
  cstr(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new CfiError('unterminated string in CFI');
    const s = this.buf.toString('latin1', this.pos, end);
    this.pos = end + 1;
    return s;
  }

  /** A DW_EH_PE_* encoded pointer; sectionAddr is the virtual address of buf[0]. */
  encoded(enc: number, sectionAddr: number, dataRel = 0): number {
    if (enc === PE_OMIT) return 0;
    const fieldAddr = sectionAddr + this.pos;
    let v: number;
    switch (enc & 0x0f) {
      case PE_ABSPTR:
        v = this.u64();
        break;
      case PE_ULEB:
        v = this.uleb();
        break;
      case PE_UDATA2:
        v = this.u16();
        break;
      case PE_UDATA4:
        v = this.u32();
        break;
      case PE_UDATA8:
        v = this.u64();
        break;
      case PE_SLEB:
        v = this.sleb();
        break;
      case PE_SDATA2:
        v = this.s16();
        break;
      case PE_SDATA4:
        v = this.s32();
        break;
      case PE_SDATA8:
        v = this.s64();
        break;
      default:
        throw new CfiError(`unknown pointer encoding 0x${enc.toString(16)}`);
    }
    switch (enc & 0x70) {
      case 0:
        break;
      case PE_PCREL:
        v += fieldAddr;
        break;
      case PE_DATAREL:
        v += dataRel;
        break;
      default:
        break; // textrel/funcrel/aligned do not occur on x86_64 Linux
    }
    return v;
  }
}

/** One CFI section (.eh_frame or .debug_frame) of a file. */
export class CfiSection {
  private cies = new Map<number, Cie>();
  /** Sorted FDE starts and their offsets (built by scan, or taken from .eh_frame_hdr). */
  private starts: Float64Array | null = null;
  private offsets: Float64Array | null = null;
  private hdrTable: { buf: Buffer; base: number; count: number; enc: number; addr: number } | null = null;

  constructor(
    readonly data: Buffer,
    readonly addr: number,
    readonly isEh: boolean,
  ) {}

  /** Uses .eh_frame_hdr's sorted (initial location, FDE address) table instead of scanning. */
  useHeader(hdr: Buffer, hdrAddr: number): boolean {
    if (hdr.length < 4 || hdr[0] !== 1) return false;
    const r = new Reader(hdr, 4);
    const frameEnc = hdr[1];
    const countEnc = hdr[2];
    const tableEnc = hdr[3];
    r.encoded(frameEnc, hdrAddr, hdrAddr);
    if (countEnc === PE_OMIT || tableEnc !== 0x3b /* datarel|sdata4, the only one binutils and lld write */) return false;
    const count = r.encoded(countEnc, hdrAddr, hdrAddr);
    if (r.pos + count * 8 > hdr.length) return false;
    this.hdrTable = { buf: hdr, base: r.pos, count, enc: tableEnc, addr: hdrAddr };
    return true;
  }

  /** The FDE covering vaddr, or null. */
  find(vaddr: number): Fde | null {
    if (this.hdrTable) {
      const t = this.hdrTable;
      let lo = 0;
      let hi = t.count - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const start = t.buf.readInt32LE(t.base + mid * 8) + t.addr;
        if (start <= vaddr) {
          found = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (found < 0) return null;
      const fdeAddr = t.buf.readInt32LE(t.base + found * 8 + 4) + t.addr;
      const fde = this.fdeAt(fdeAddr - this.addr);
      return fde && vaddr >= fde.start && vaddr < fde.end ? fde : null;
    }
    if (!this.starts) this.scan();
    const starts = this.starts!;
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= vaddr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // FDEs may overlap (rarely): look back a little for one that covers vaddr
    for (let i = found; i >= 0 && i > found - 4; i--) {
      const fde = this.fdeAt(this.offsets![i]);
      if (fde && vaddr >= fde.start && vaddr < fde.end) return fde;
    }
    return null;
  }

  private scan(): void {
    const list: [number, number][] = [];
    this.walk((off, isCie) => {
      if (isCie) return;
      const f = this.fdeAt(off);
      if (f && f.end > f.start) list.push([f.start, off]);
    });
    list.sort((a, b) => a[0] - b[0]);
    this.starts = Float64Array.from(list, (x) => x[0]);
    this.offsets = Float64Array.from(list, (x) => x[1]);
  }

  private walk(visit: (off: number, isCie: boolean) => void): void {
    let off = 0;
    const d = this.data;
    while (off + 4 <= d.length) {
      let len = d.readUInt32LE(off);
      let idOff = off + 4;
      if (len === 0) {
        if (this.isEh) break; // terminator
        off += 4;
        continue;
      }
      let wide = false;
      if (len === 0xffffffff) {
        len = Number(d.readBigUInt64LE(off + 4));
        idOff = off + 12;
        wide = true;
      }
      const next = idOff + len;
      if (next > d.length) break;
      const id = wide ? Number(d.readBigUInt64LE(idOff)) : d.readUInt32LE(idOff);
      visit(off, this.isCieId(id, wide));
      off = next;
    }
  }

  private isCieId(id: number, wide: boolean): boolean {
    if (this.isEh) return id === 0;
    return wide ? id === Number(0xffffffffffffffffn) : id === 0xffffffff;
  }

  private header(off: number): { r: Reader; end: number; id: number; idPos: number; wide: boolean } {
    const d = this.data;
    let len = d.readUInt32LE(off);
    let pos = off + 4;
    let wide = false;
    if (len === 0xffffffff) {
      len = Number(d.readBigUInt64LE(off + 4));
      pos = off + 12;
      wide = true;
    }
    const end = pos + len;
    if (end > d.length) throw new CfiError('CFI entry past the end of its section');
    const r = new Reader(d, pos);
    const idPos = pos;
    const id = wide ? r.u64() : r.u32();
    return { r, end, id, idPos, wide };
  }

  private fdeCache = new Map<number, Fde | null>();

  private fdeAt(off: number): Fde | null {
    const cached = this.fdeCache.get(off);
    if (cached !== undefined) return cached;
    let fde: Fde | null = null;
    try {
      const { r, end, id, idPos, wide } = this.header(off);
      if (!this.isCieId(id, wide)) {
        const cieOff = this.isEh ? idPos - id : id;
        const cie = this.cieAt(cieOff);
        const start = this.isEh ? r.encoded(cie.fdeEnc, this.addr) : cie.addrSize === 4 ? r.u32() : r.u64();
        const range = this.isEh ? r.encoded(cie.fdeEnc & 0x0f, this.addr) : cie.addrSize === 4 ? r.u32() : r.u64();
        if (cie.hasAugData) {
          const n = r.uleb();
          r.pos += n;
        }
        fde = { cie, start, end: start + range, instructions: this.data.subarray(r.pos, end) };
      }
    } catch {
      // a truncated or malformed FDE (CfiError, RangeError past the section): no rule for this address
      fde = null;
    }
    this.fdeCache.set(off, fde);
    return fde;
  }

  private cieAt(off: number): Cie {
    let cie = this.cies.get(off);
    if (cie) return cie;
    const { r, end, id, wide } = this.header(off);
    if (!this.isCieId(id, wide)) throw new CfiError('FDE points to something that is not a CIE');
    const version = r.u8();
    const aug = r.cstr();
    let addrSize = 8;
    if (!this.isEh && version >= 4) {
      addrSize = r.u8();
      r.u8(); // segment selector size
    }
    const codeAlign = r.uleb();
    const dataAlign = r.sleb();
    const raReg = version === 1 ? r.u8() : r.uleb();
    cie = { codeAlign, dataAlign, raReg, fdeEnc: PE_ABSPTR, lsdaEnc: PE_OMIT, hasAugData: false, signal: false, addrSize, instructions: Buffer.alloc(0) };
    if (aug.startsWith('z')) {
      cie.hasAugData = true;
      const n = r.uleb();
      const augEnd = r.pos + n;
      for (const c of aug.slice(1)) {
        if (c === 'R') cie.fdeEnc = r.u8();
        else if (c === 'L') cie.lsdaEnc = r.u8();
        else if (c === 'P')
          r.encoded(r.u8() & 0x7f, this.addr); // personality routine: not needed
        else if (c === 'S') cie.signal = true;
        else if (c === 'B' || c === 'G') continue;
        else break;
      }
      r.pos = augEnd;
    } else if (aug === 'eh') {
      r.pos += 8; // old GCC: the EH data pointer
    } else if (aug !== '') {
      throw new CfiError(`unknown CIE augmentation "${aug}"`);
    }
    cie.instructions = this.data.subarray(r.pos, end);
    this.cies.set(off, cie);
    return cie;
  }
}

/** The CFI sections of an ELF file, read once. */
export function readCfi(elf: ElfFile): { eh: CfiSection | null; debug: CfiSection | null; entry: number | null } {
  let fd: number;
  try {
    fd = fs.openSync(elf.path, 'r');
  } catch {
    // the file went away since it was mapped: no CFI, the frame-pointer fallback applies
    return { eh: null, debug: null, entry: null };
  }
  try {
    const hdr = Buffer.alloc(32);
    fs.readSync(fd, hdr, 0, 32, 0);
    const entry = Number(hdr.readBigUInt64LE(24)) || null; // e_entry: where _start is
    const load = (name: string) => {
      const s = elf.sections.find((x) => x.name === name && x.type !== 8 /* SHT_NOBITS */);
      if (!s || s.size === 0) return null;
      const b = Buffer.alloc(s.size);
      fs.readSync(fd, b, 0, s.size, s.offset);
      return { data: b, addr: s.addr };
    };
    const ehData = load('.eh_frame');
    const ehHdr = load('.eh_frame_hdr');
    const dbg = load('.debug_frame');
    let eh: CfiSection | null = null;
    if (ehData) {
      eh = new CfiSection(ehData.data, ehData.addr, true);
      if (ehHdr) eh.useHeader(ehHdr.data, ehHdr.addr);
    }
    return { eh, debug: dbg ? new CfiSection(dbg.data, 0, false) : null, entry };
  } finally {
    fs.closeSync(fd);
  }
}
