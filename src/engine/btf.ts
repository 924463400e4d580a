// SPDX-License-Identifier: Apache-2.0
// The BTF of a compiled BPF object (its .BTF section): the C types as clang laid them out. Read to
// check the TypeScript mirrors of C structs (struct.ts layouts) and to know the object's globals.
// Only what those need is decoded: sizes, struct members, DATASEC variables.
import * as fs from 'node:fs';
import { ElfFile } from '../symbols/elf';

const BTF_MAGIC = 0xeb9f;

const enum Kind {
  Int = 1,
  Ptr = 2,
  Array = 3,
  Struct = 4,
  Union = 5,
  Enum = 6,
  Fwd = 7,
  Typedef = 8,
  Volatile = 9,
  Const = 10,
  Restrict = 11,
  Func = 12,
  FuncProto = 13,
  Var = 14,
  Datasec = 15,
  Float = 16,
  DeclTag = 17,
  TypeTag = 18,
  Enum64 = 19,
}

interface BtfType {
  /** Offset of the name in the string section (decoded only when asked: most names never are). */
  nameOff: number;
  kind: Kind;
  /** size (ints, structs, enums, datasecs) or the referenced type id (pointers, typedefs, qualifiers, vars) */
  sizeOrType: number;
  members?: { nameOff: number; type: number; bitOffset: number }[];
  array?: { type: number; nelems: number };
  vars?: { type: number; offset: number; size: number }[];
}

export interface BtfMember {
  name: string;
  /** Byte offset in the struct. */
  offset: number;
  size: number;
}

export class Btf {
  private constructor(
    private readonly types: (BtfType | null)[],
    private readonly name: (off: number) => string,
  ) {}

  /** Parses a .BTF section. */
  static parse(data: Buffer): Btf {
    if (data.length < 24 || data.readUInt16LE(0) !== BTF_MAGIC) throw new Error('not BTF (bad magic)');
    // a DataView, not Buffer.readUInt32LE: this runs once per object at start-up, so cold, and a
    // DataView read is a V8 built-in where Buffer's is JavaScript still being interpreted
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const u32 = (off: number) => view.getUint32(off, true);
    const hdrLen = u32(4);
    const typeOff = hdrLen + u32(8);
    const typeEnd = typeOff + u32(12);
    const strOff = hdrLen + u32(16);
    const str = (off: number) => {
      const end = data.indexOf(0, strOff + off);
      return data.toString('latin1', strOff + off, end);
    };
    const types: (BtfType | null)[] = [null]; // type id 0 is void
    let o = typeOff;
    while (o < typeEnd) {
      const info = u32(o + 4);
      const vlen = info & 0xffff;
      const kind = ((info >>> 24) & 0x1f) as Kind;
      const bitfields = info >>> 31 === 1;
      const t: BtfType = { nameOff: u32(o), kind, sizeOrType: u32(o + 8) };
      o += 12;
      switch (kind) {
        case Kind.Int:
        case Kind.Var:
        case Kind.DeclTag:
          o += 4;
          break;
        case Kind.Array:
          t.array = { type: u32(o), nelems: u32(o + 8) };
          o += 12;
          break;
        case Kind.Struct:
        case Kind.Union:
          t.members = [];
          for (let i = 0; i < vlen; i++, o += 12) {
            const off = u32(o + 8);
            t.members.push({ nameOff: u32(o), type: u32(o + 4), bitOffset: bitfields ? off & 0xffffff : off });
          }
          break;
        case Kind.Enum:
        case Kind.FuncProto:
          o += 8 * vlen;
          break;
        case Kind.Enum64:
          o += 12 * vlen;
          break;
        case Kind.Datasec:
          t.vars = [];
          for (let i = 0; i < vlen; i++, o += 12) t.vars.push({ type: u32(o), offset: u32(o + 4), size: u32(o + 8) });
          break;
        case Kind.Ptr:
        case Kind.Fwd:
        case Kind.Typedef:
        case Kind.Volatile:
        case Kind.Const:
        case Kind.Restrict:
        case Kind.Func:
        case Kind.Float:
        case Kind.TypeTag:
          break;
        default:
          throw new Error(`BTF kind ${kind} is unknown to this reader`);
      }
      types.push(t);
    }
    return new Btf(types, str);
  }

  /** The BTF of a compiled BPF object file. */
  static ofObject(file: string): Btf {
    const elf = ElfFile.read(file);
    const sec = elf?.sections.find((s) => s.name === '.BTF');
    if (!sec) throw new Error(`${file} has no .BTF section`);
    const buf = Buffer.alloc(sec.size);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, buf, 0, sec.size, sec.offset);
    } finally {
      fs.closeSync(fd);
    }
    return Btf.parse(buf);
  }

  /** Size in bytes of a type, through typedefs, qualifiers and arrays. */
  sizeOf(id: number): number {
    const t = this.types[id];
    if (!t) return 0;
    switch (t.kind) {
      case Kind.Ptr:
        return 8;
      case Kind.Array:
        return t.array!.nelems * this.sizeOf(t.array!.type);
      case Kind.Typedef:
      case Kind.Volatile:
      case Kind.Const:
      case Kind.Restrict:
      case Kind.TypeTag:
      case Kind.Var:
        return this.sizeOf(t.sizeOrType);
      default:
        return t.sizeOrType;
    }
  }

  /** A type id with typedefs and qualifiers looked through. */
  private resolve(id: number): BtfType | null {
    let t = this.types[id];
    while (t && (t.kind === Kind.Typedef || t.kind === Kind.Volatile || t.kind === Kind.Const || t.kind === Kind.Restrict || t.kind === Kind.TypeTag)) {
      t = this.types[t.sizeOrType];
    }
    return t ?? null;
  }

  /**
   * A struct's size and its members as flat fields (byte offsets and sizes), or null if the object
   * has no such struct. Nested structs and arrays of numbers are spelled out (`vma.start`,
   * `args[1]`), as the TypeScript layouts declare them; char arrays stay one field (strings).
   */
  struct(name: string): { size: number; members: BtfMember[] } | null {
    const t = this.types.find((x) => x?.kind === Kind.Struct && this.name(x.nameOff) === name);
    if (!t) return null;
    const members: BtfMember[] = [];
    const flatten = (type: number, prefix: string, offset: number) => {
      const r = this.resolve(type);
      if (r?.kind === Kind.Struct) {
        for (const m of r.members!) flatten(m.type, prefix ? `${prefix}.${this.name(m.nameOff)}` : this.name(m.nameOff), offset + m.bitOffset / 8);
        return;
      }
      if (r?.kind === Kind.Array) {
        const elem = this.resolve(r.array!.type);
        const elemSize = this.sizeOf(r.array!.type);
        if (elem && elemSize > 1 && (elem.kind === Kind.Int || elem.kind === Kind.Ptr || elem.kind === Kind.Struct || elem.kind === Kind.Enum)) {
          for (let i = 0; i < r.array!.nelems; i++) flatten(r.array!.type, `${prefix}[${i}]`, offset + i * elemSize);
          return;
        }
      }
      members.push({ name: prefix, offset, size: this.sizeOf(type) });
    };
    for (const m of t.members!) flatten(m.type, this.name(m.nameOff), m.bitOffset / 8);
    return { size: t.sizeOrType, members };
  }

  /** Names of the global variables the object defines (in .rodata, .bss, .data and the like). */
  globals(): Set<string> {
    const names = new Set<string>();
    for (const t of this.types) {
      if (t?.kind !== Kind.Datasec || this.name(t.nameOff) === '.maps') continue; // maps are not globals
      for (const v of t.vars!) {
        const var_ = this.types[v.type];
        if (var_?.kind === Kind.Var) names.add(this.name(var_.nameOff));
      }
    }
    return names;
  }
}
