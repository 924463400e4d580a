// SPDX-License-Identifier: Apache-2.0
// User-space DWARF unwinding of a captured sample: the registers at the event and a copy of the
// top of the user stack. Each step finds the module behind the address (through the process's
// recorded mappings), the CFI row for it, computes the CFA and the caller's registers, and goes on
// until the outermost frame (return address undefined, as in _start) or until it cannot: then the
// stack ends with the reason, never with a guessed frame.
import * as path from 'node:path';
import type { ElfFile } from '../symbols/elf';
import type { Symbolizer } from '../symbols/symbolizer';
import { withVdso } from '../symbols/vdso';
import { moduleCache } from '../symbols/cache-caps';
import { rowAt } from './cfa-program';
import { CfiError, CfiSection, RA_REG, readCfi, RegRule, Row, RuleKind } from './cfi';
import { evaluate, ExprContext } from './expr';

export const NREGS = 17; // x86_64 DWARF numbering: 0-15 general registers, 16 = rip
const SP = 7;
const RBP = 6;
export const NO_MAPPING = 'address in no mapping';

export interface UnwindResult {
  /** Instruction pointer of the event, then return addresses, innermost first. */
  ips: number[];
  /** Why unwinding stopped early; null when it reached the outermost frame. */
  stop: string | null;
}

/** CFI rows cached over all modules (ARCHITECTURE.md, "Memory bound"): past it every module's cache
 * is emptied (rows are cheap to compute again), so it holds whatever number of modules is read. */
export const MAX_CACHED_ROWS = 200_000;
const rowCaches = new Set<Map<number, Row | null>>();
let cachedRows = 0;

/** The CFI of one ELF file: .eh_frame, then .debug_frame of the file and of its debug file. */
class ModuleCfi {
  private rows = new Map<number, Row | null>();
  private sections: CfiSection[];

  constructor(
    readonly name: string,
    sections: (CfiSection | null)[],
    readonly entry: number | null = null,
  ) {
    this.sections = sections.filter((s): s is CfiSection => s !== null);
  }

  get empty(): boolean {
    return this.sections.length === 0;
  }

  /** Bytes held, about: the sections' data (and .eh_frame_hdr) and an index as large again. */
  get bytes(): number {
    let n = 0;
    for (const s of this.sections) n += 2 * s.data.length;
    return n; // rows cached have their own cap (MAX_CACHED_ROWS)
  }

  /** Empties the row cache (the module cache evicted this module). */
  release(): void {
    cachedRows -= this.rows.size;
    this.rows.clear();
    rowCaches.delete(this.rows);
  }

  row(vaddr: number): Row | null {
    const cached = this.rows.get(vaddr);
    if (cached !== undefined) return cached;
    let row: Row | null = null;
    for (const s of this.sections) {
      const fde = s.find(vaddr);
      if (!fde) continue;
      try {
        row = rowAt(fde, vaddr, s.addr);
      } catch (e) {
        if (!(e instanceof CfiError)) throw e;
        row = null;
      }
      break;
    }
    if (cachedRows >= MAX_CACHED_ROWS) {
      for (const c of rowCaches) c.clear();
      rowCaches.clear(); // modules still in use join again with their next row
      cachedRows = 0;
    }
    rowCaches.add(this.rows);
    this.rows.set(vaddr, row);
    cachedRows++;
    return row;
  }
}

interface Range {
  start: number;
  end: number;
  fileOffset: number;
  elf: ElfFile | null;
  cfi: ModuleCfi | null;
  name: string;
}

/** A row's register rules as a list over the registers the unwinder keeps (RA as register 16). */
function rulesOf(row: Row): { dst: number; rule: RegRule }[] {
  let list = row.applied;
  if (!list) {
    list = [];
    for (const [reg, rule] of row.regs) {
      if (reg >= NREGS && reg !== row.raReg) continue;
      list.push({ dst: reg === row.raReg ? RA_REG : reg, rule });
    }
    row.applied = list;
  }
  return list;
}

let vdso: ElfFile | null | undefined;

/**
 * The vDSO's ELF image (with its .eh_frame): the kernel maps the same one into every process, so
 * memscope's own copy (src/symbols/vdso.ts) serves for all; its CFI is read while its file exists.
 */
function vdsoElf(): ElfFile | null {
  if (vdso !== undefined) return vdso;
  vdso = withVdso((elf) => {
    cfiOfVdso = new ModuleCfi('[vdso]', [readCfi(elf).eh]);
    return elf;
  });
  return vdso;
}

let cfiOfVdso: ModuleCfi | null = null;

export class Unwinder {
  private byElf = new WeakMap<ElfFile, ModuleCfi>();
  private byBuildId = new Map<string, ModuleCfi>();
  /** Each process's address ranges found so far, and the program image (mm->start_stack) they are
   * of where the unwind said (unwind's image): after an exec the same addresses may hold another
   * program's code (two non-PIE programs), so ranges of one image never serve another's sample. */
  private ranges = new Map<number, { image: bigint | undefined; list: Range[] }>();
  /** Modules whose CFI was parsed (for statistics). */
  modulesLoaded = 0;
  private readonly regs = new Float64Array(NREGS);
  private readonly next = new Float64Array(NREGS);

  constructor(
    private readonly symbolizer: Symbolizer,
    readonly maxFrames = 127,
  ) {}

  /** At the end of a run: the CFI rows (of every unwinder: MAX_CACHED_ROWS is shared) and address
   * ranges go; the report needs neither (DwarfStacks.drain). */
  releaseCaches(): void {
    this.ranges.clear();
    for (const c of rowCaches) c.clear();
    rowCaches.clear();
    cachedRows = 0;
  }

  /** Forgets a process's address ranges (its maps are still kept by the symbolizer). */
  forget(pid: number): void {
    this.ranges.delete(pid);
  }

  /** Marks a module's CFI as just used in the module cache's byte budget (symbols/cache-caps.ts):
   * when evicted it leaves every cache here (ranges too, which point at it) and is read again. */
  private touch(elf: ElfFile, m: ModuleCfi): void {
    if (m === cfiOfVdso || moduleCache.seen(m)) return;
    moduleCache.use(m, m.bytes, () => {
      this.byElf.delete(elf);
      if (elf.buildId && this.byBuildId.get(elf.buildId) === m) this.byBuildId.delete(elf.buildId);
      this.ranges.clear();
      m.release();
    });
  }

  private cfiOf(elf: ElfFile): ModuleCfi {
    if (elf === vdso && cfiOfVdso) return cfiOfVdso;
    let m = this.byElf.get(elf) ?? (elf.buildId ? this.byBuildId.get(elf.buildId) : undefined);
    if (m) {
      this.touch(elf, m);
      return m;
    }
    const own = readCfi(elf);
    const sections = [own.eh, own.debug];
    if (!own.debug) {
      const dbg = this.symbolizer.debugFile(elf);
      if (dbg) sections.push(readCfi(dbg).debug);
    }
    m = new ModuleCfi(path.basename(elf.path), sections, own.entry);
    this.modulesLoaded++;
    this.byElf.set(elf, m);
    if (elf.buildId) this.byBuildId.set(elf.buildId, m);
    this.touch(elf, m);
    return m;
  }

  /** image: the program image ip is an address of, if known (undefined: any, keepsFramePointer). */
  private rangeFor(pid: number, ip: number, image?: bigint): Range | null {
    let known = this.ranges.get(pid);
    if (known && image !== undefined && known.image !== image) {
      this.ranges.delete(pid);
      known = undefined;
    }
    if (known) {
      for (const r of known.list) {
        if (ip >= r.start && ip < r.end) {
          if (r.elf && r.cfi) this.touch(r.elf, r.cfi);
          return r;
        }
      }
    } else {
      if (this.ranges.size >= 4096) this.ranges.clear(); // bounded: ranges are found again on demand
      known = { image, list: [] };
      this.ranges.set(pid, known);
    }
    const list = known.list;
    const m = this.symbolizer.mappingAt(pid, BigInt(ip), image);
    if (!m) return null;
    const elf = m.path === '[vdso]' ? vdsoElf() : this.symbolizer.elfOfMapping(pid, m);
    const r: Range = {
      start: Number(m.start),
      end: Number(m.end),
      fileOffset: Number(m.offset),
      elf,
      cfi: elf ? this.cfiOf(elf) : null,
      name: m.path === '[vdso]' ? '[vdso]' : elf ? path.basename(elf.path) : m.path || '[anon]',
    };
    list.push(r);
    return r;
  }

  /**
   * Whether the function around a return address keeps a frame pointer there (its CFA is rbp + 16,
   * the frame record [saved rbp, return address] at rbp): only then does a frame-pointer walk
   * find its caller. A walk through a function that does not (code built without frame pointers)
   * reads whatever rbp holds and makes callers up. null: no CFI tells (no mapping, no CFI).
   */
  keepsFramePointer(pid: number, returnAddress: number): boolean | null {
    const range = this.rangeFor(pid, returnAddress);
    if (!range || !range.elf || !range.cfi || range.cfi.empty) return null;
    const vaddr = range.elf.vaddrOfFileOffset(returnAddress - 1 - range.start + range.fileOffset);
    const row = vaddr === null ? null : range.cfi.row(vaddr);
    if (!row) return null;
    const rbp = row.regs.get(RBP);
    return !row.cfa.expr && row.cfa.reg === RBP && row.cfa.offset === 16 && rbp?.kind === RuleKind.Offset && rbp.n === -16;
  }

  /**
   * Unwinds one sample. regs: DWARF-numbered register values (NaN when unknown); stack: the bytes
   * copied from `base` (rsp, or the page above it when rsp's page was missing) upwards. image: the
   * sample's program image (mm->start_stack), when known: its addresses are looked up only in
   * maps of that image (Symbolizer.mappingAt). from, size: where in `stack` the copy lies (the
   * sample's record itself: a view of it per sample was garbage at tens of thousands a second).
   */
  unwind(pid: number, initial: ArrayLike<number>, stack: Buffer, stackBase?: number, image?: bigint, from = 0, size = stack.length - from): UnwindResult {
    // one pair of register arrays for every unwind (unwind never runs inside another): two new
    // typed arrays per sample were garbage at tens of thousands of samples a second
    const regs = this.regs;
    const next = this.next;
    for (let i = 0; i < NREGS; i++) regs[i] = initial[i];
    const base = stackBase ?? regs[SP];
    let below = false; // a read below the copy: rsp's page was not present (being faulted in)
    const read = (addr: number): number | undefined => {
      const off = addr - base;
      if (!(off >= 0 && off + 8 <= size)) {
        below = off < 0;
        return undefined;
      }
      return stack.readUInt32LE(from + off + 4) * 0x100000000 + stack.readUInt32LE(from + off);
    };
    const ctx: ExprContext = { reg: (n) => (n < NREGS && !Number.isNaN(regs[n]) ? regs[n] : undefined), read };
    const ips: number[] = [];
    let signalFrame = false;
    for (let depth = 0; ; depth++) {
      const ip = regs[RA_REG];
      if (depth >= this.maxFrames) return { ips, stop: `deeper than ${this.maxFrames} frames` };
      ips.push(ip);
      const range = this.rangeFor(pid, ip, image);
      if (!range) return { ips, stop: NO_MAPPING };
      if (!range.elf || !range.cfi || range.cfi.empty) return { ips, stop: `no CFI for ${range.name}` };
      // a return address points after the call: look up the call itself (not for the event's ip)
      const pc = depth === 0 || signalFrame ? ip : ip - 1;
      const vaddr = range.elf.vaddrOfFileOffset(pc - range.start + range.fileOffset);
      const row = vaddr === null ? null : range.cfi.row(vaddr);
      // hand-written entry code without CFI (ld.so's _start): the outermost frame
      if (!row && vaddr !== null && range.cfi.entry !== null && vaddr >= range.cfi.entry && vaddr < range.cfi.entry + 64) return { ips, stop: null };
      if (!row) return { ips, stop: `no CFI for ${range.name} at 0x${(vaddr ?? pc).toString(16)}` };

      let cfa: number | undefined;
      try {
        if (row.cfa.expr) cfa = evaluate(row.cfa.expr, ctx);
        else cfa = row.cfa.reg < NREGS ? regs[row.cfa.reg] + row.cfa.offset : undefined;
      } catch {
        // an expression we cannot evaluate (CfiError) or that reads outside the copied stack (RangeError): unwinding stops here
        cfa = undefined;
      }
      if (cfa === undefined || Number.isNaN(cfa)) return { ips, stop: 'CFA not computable' };

      next.set(regs);
      next[SP] = cfa;
      let raUndefined = false;
      let raMissing = false;
      for (const { dst, rule } of rulesOf(row)) {
        let v: number | undefined;
        try {
          switch (rule.kind) {
            case RuleKind.Undefined:
              if (dst === RA_REG) raUndefined = true;
              v = NaN;
              break;
            case RuleKind.SameValue:
              v = regs[dst];
              break;
            case RuleKind.Offset:
              v = read(cfa + rule.n);
              break;
            case RuleKind.ValOffset:
              v = cfa + rule.n;
              break;
            case RuleKind.Register:
              v = rule.n < NREGS ? regs[rule.n] : NaN;
              break;
            case RuleKind.Expression: {
              const a = evaluate(rule.expr!, ctx, cfa);
              v = a === undefined ? undefined : read(a);
              break;
            }
            case RuleKind.ValExpression:
              v = evaluate(rule.expr!, ctx, cfa);
              break;
          }
        } catch {
          // as for the CFA: this register is then unknown
          v = undefined;
        }
        if (v === undefined) {
          if (dst === RA_REG) raMissing = true;
          v = NaN;
        }
        next[dst] = v;
      }
      if (raUndefined) return { ips, stop: null }; // the outermost frame (_start, clone3)
      if (!row.regs.has(row.raReg)) return { ips, stop: null };
      if (raMissing) return { ips, stop: below ? 'the stack page at rsp was not present' : `end of the ${size}-byte stack copy` };
      const ra = next[RA_REG];
      if (Number.isNaN(ra)) return { ips, stop: 'return address unknown' };
      if (ra === 0) return { ips, stop: null };
      if (cfa <= regs[SP] && ra === ip && !row.signal) return { ips, stop: 'unwinding made no progress' };
      signalFrame = row.signal;
      regs.set(next);
    }
  }
}
