// SPDX-License-Identifier: Apache-2.0
// The allocator slots of a running process (memleak -p --sample-bytes): the GOT entries through
// which its modules call malloc, free and the rest (R_X86_64_JUMP_SLOT and R_X86_64_GLOB_DAT
// relocations), read from each module's file and written through /proc/PID/mem, which writes
// read-only (RELRO) pages too. An 8-byte aligned store is seen whole by the target's threads: a
// call goes either to glibc or to the sampler, and a call already running is not touched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElfFile } from '../../symbols/elf';
import { Mapping, readMaps } from '../../procfs/maps';

/** The functions the sampler wraps (shim/memscope_sampler.c exports these names). */
export const WRAPPED = ['malloc', 'free', 'calloc', 'realloc', 'posix_memalign', 'aligned_alloc', 'memalign', 'valloc', 'pvalloc'];

const SHT_RELA = 4;
const R_X86_64_GLOB_DAT = 6;
const R_X86_64_JUMP_SLOT = 7;
const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;

export interface Slot {
  module: string;
  fn: string;
  addr: number;
  /** what it held before memscope wrote it; restored when memscope ends */
  original: bigint;
  /** the sampler's function written there */
  wrapped: bigint;
}

/** A file of the target, through /proc/PID/root when the target sees another file system. */
export function visiblePath(pid: number, p: string): string {
  return fs.existsSync(p) ? p : `/proc/${pid}/root${p}`;
}

/** Where a module is loaded: the start of its mapping at file offset 0, less its first segment's address. */
export function moduleBase(maps: Mapping[], file: string, elf: ElfFile): number | undefined {
  const m = maps.find((x) => x.path === file && x.offset === 0n);
  if (!m || !elf.loads.length) return undefined;
  const first = Math.min(...elf.loads.map((l) => l.vaddr));
  return Number(m.start) - (first - (first % 4096));
}

/** The module's relocations of the named symbols into GOT slots: [slot vaddr, symbol]. */
function gotRelocations(elf: ElfFile, names: Set<string>): [number, string][] {
  const out: [number, string][] = [];
  const fd = fs.openSync(elf.path, 'r');
  try {
    for (const sec of elf.sections) {
      if (sec.type !== SHT_RELA || sec.link === 0 || sec.link >= elf.sections.length) continue;
      const symsec = elf.sections[sec.link];
      if (symsec.link >= elf.sections.length) continue;
      const rela = read(fd, sec.offset, sec.size);
      const syms = read(fd, symsec.offset, symsec.size);
      const strs = read(fd, elf.sections[symsec.link].offset, elf.sections[symsec.link].size);
      for (let o = 0; o + 24 <= rela.length; o += 24) {
        const info = rela.readBigUInt64LE(o + 8);
        const type = Number(info & 0xffffffffn);
        if (type !== R_X86_64_JUMP_SLOT && type !== R_X86_64_GLOB_DAT) continue;
        const sym = Number(info >> 32n);
        if (sym * 24 + 24 > syms.length) continue;
        const name = cstr(strs, syms.readUInt32LE(sym * 24));
        if (names.has(name)) out.push([Number(rela.readBigUInt64LE(o)), name]);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** The address of a data symbol in .symtab or .dynsym (the sampler's descriptor, read by memscope). */
export function objectAddress(file: string, name: string): number | undefined {
  const elf = ElfFile.read(file);
  if (!elf) return undefined;
  const fd = fs.openSync(file, 'r');
  try {
    for (const sec of elf.sections) {
      if ((sec.type !== SHT_SYMTAB && sec.type !== SHT_DYNSYM) || sec.link >= elf.sections.length) continue;
      const syms = read(fd, sec.offset, sec.size);
      const strs = read(fd, elf.sections[sec.link].offset, elf.sections[sec.link].size);
      for (let o = 0; o + 24 <= syms.length; o += 24) {
        if (cstr(strs, syms.readUInt32LE(o)) === name) return Number(syms.readBigUInt64LE(o + 8));
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return undefined;
}

/** Reads or writes the target's memory. */
export class TargetMemory {
  readonly fd: number;
  constructor(readonly pid: number) {
    this.fd = fs.openSync(`/proc/${pid}/mem`, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW);
  }
  read(addr: number, len: number): Buffer {
    const b = Buffer.alloc(len);
    if (fs.readSync(this.fd, b, 0, len, addr) !== len) throw new Error(`short read at ${addr.toString(16)}`);
    return b;
  }
  u64(addr: number): bigint {
    return this.read(addr, 8).readBigUInt64LE(0);
  }
  setU64(addr: number, v: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    if (fs.writeSync(this.fd, b, 0, 8, addr) !== 8) throw new Error(`short write at ${addr.toString(16)}`);
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Each loaded module's slots of the wrapped functions, except the sampler's and the dynamic loader's. */
export function findSlots(pid: number, shimFile: string): { module: string; vaddr: number; fn: string }[] {
  const maps = readMaps(pid) ?? [];
  const modules = new Set(maps.filter((m) => m.path.startsWith('/') && m.offset === 0n && m.inode !== 0).map((m) => m.path));
  const names = new Set(WRAPPED);
  const out: { module: string; vaddr: number; fn: string }[] = [];
  for (const mod of modules) {
    const base = path.basename(mod);
    // the sampler calls glibc itself; ld.so allocates through its own pointers, not the GOT
    if (mod === shimFile || base.startsWith('ld-linux') || base.startsWith('ld-2.')) continue;
    const elf = ElfFile.read(visiblePath(pid, mod));
    if (!elf) continue;
    const at = moduleBase(maps, mod, elf);
    if (at === undefined) continue;
    for (const [vaddr, fn] of gotRelocations(elf, names)) out.push({ module: mod, vaddr: at + vaddr, fn });
  }
  return out;
}

/**
 * Points every slot at the sampler's function of the same name. `wrapped` are the sampler's
 * addresses, `libc` glibc's (a slot that already points at the sampler, left by a memscope that
 * was killed, is restored to glibc's later).
 */
export function redirect(mem: TargetMemory, pid: number, shimFile: string, wrapped: Map<string, bigint>, libc: Map<string, bigint>): Slot[] {
  const slots: Slot[] = [];
  for (const s of findSlots(pid, shimFile)) {
    const to = wrapped.get(s.fn);
    if (to === undefined) continue;
    const was = mem.u64(s.vaddr);
    const original = was === to ? libc.get(s.fn) : was;
    if (original === undefined) continue;
    mem.setU64(s.vaddr, to);
    slots.push({ module: s.module, fn: s.fn, addr: s.vaddr, original, wrapped: to });
  }
  // a lazy binding resolved by another thread at the same moment may have written glibc's address
  // after ours: once more for those
  for (const s of slots) if (mem.u64(s.addr) !== s.wrapped) mem.setU64(s.addr, s.wrapped);
  return slots;
}

/** Puts back what memscope changed (a slot someone else changed since is left alone). */
export function restore(mem: TargetMemory, slots: Slot[]): number {
  let n = 0;
  for (const s of slots) {
    try {
      if (mem.u64(s.addr) === s.wrapped) {
        mem.setU64(s.addr, s.original);
        n++;
      }
    } catch {
      // the process exited (or unmapped the module): nothing to put back
    }
  }
  return n;
}

function read(fd: number, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  const n = fs.readSync(fd, b, 0, length, offset);
  return b.subarray(0, n);
}

function cstr(b: Buffer, off: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 ? b.length : end);
}
