// SPDX-License-Identifier: Apache-2.0
// Decoding of C structs shared with the BPF side (map keys, values, ring-buffer records).
// A layout is declared once per struct, in field order, and offsets follow C's alignment rules,
// so the TypeScript declaration reads like the C one it mirrors.

type Scalar = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 's64' | 'addr';
export type FieldType = Scalar | `char[${number}]` | `bytes[${number}]`;

type Decoded<T extends FieldType> = T extends 'addr'
  ? bigint
  : T extends `char[${number}]`
    ? string
    : T extends `bytes[${number}]`
      ? Buffer
      : number;

export type Fields = readonly (readonly [string, FieldType])[];
export type Record_<F extends Fields> = { [K in F[number] as K[0]]: Decoded<K[1]> };

const SCALAR_SIZE: Record<Scalar, number> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, s64: 8, addr: 8 };

function sizeAlign(t: FieldType): [number, number] {
  const m = /^(char|bytes)\[(\d+)\]$/.exec(t);
  if (m) return [Number(m[2]), 1];
  const s = SCALAR_SIZE[t as Scalar];
  return [s, s];
}

/** The C struct a layout mirrors: its name, and the BPF object (bpf/NAME.bpf.c) whose BTF has it;
 * without `bpf`, every object that defines the struct (shared headers: stacks.h, vma.h). */
export interface CStruct {
  c: string;
  bpf?: string;
  /** The layout declares the struct's leading fields only (a header before variable data). */
  prefix?: boolean;
}

export interface Layout<F extends Fields> {
  fields: F;
  /** Set for layouts checked against BTF when their object opens (layout-check.ts). */
  mirrors?: CStruct;
  size: number;
  offsets: Record<string, number>;
  decode(buf: Buffer, at?: number): Record_<F>;
  encode(values: Partial<Record_<F>>): Buffer;
}

/** Every layout that names its C struct, checked against the object's BTF when it opens. */
export const mirrors: Layout<Fields>[] = [];

/** A layout in C's field order; `mirrors` names the C struct so BpfObject.open checks it against BTF. */
export function struct<const F extends Fields>(fields: F, mirror?: CStruct): Layout<F> {
  const offsets: Record<string, number> = {};
  let off = 0;
  let maxAlign = 1;
  for (const [name, type] of fields) {
    const [size, align] = sizeAlign(type);
    off = Math.ceil(off / align) * align;
    offsets[name] = off;
    off += size;
    maxAlign = Math.max(maxAlign, align);
  }
  const size = Math.ceil(off / maxAlign) * maxAlign;

  // each field's size, found once: read() ran sizeAlign's regular expression for every char field
  // of every record decoded (1.3% of a loaded agent's CPU)
  const lens = fields.map(([, type]) => sizeAlign(type)[0]);

  function read(buf: Buffer, o: number, type: FieldType, len: number): unknown {
    switch (type) {
      case 'u8': return buf.readUInt8(o);
      case 'u16': return buf.readUInt16LE(o);
      case 'u32': return buf.readUInt32LE(o);
      case 's32': return buf.readInt32LE(o);
      case 'u64': return Number(buf.readBigUInt64LE(o));
      case 's64': return Number(buf.readBigInt64LE(o));
      case 'addr': return buf.readBigUInt64LE(o);
    }
    if (type.startsWith('char')) {
      const end = buf.indexOf(0, o);
      return buf.toString('utf8', o, end < 0 || end > o + len ? o + len : end);
    }
    return buf.subarray(o, o + len);
  }

  function write(buf: Buffer, o: number, type: FieldType, v: unknown): void {
    switch (type) {
      case 'u8': buf.writeUInt8(Number(v), o); return;
      case 'u16': buf.writeUInt16LE(Number(v), o); return;
      case 'u32': buf.writeUInt32LE(Number(v), o); return;
      case 's32': buf.writeInt32LE(Number(v), o); return;
      case 'u64': case 'addr': buf.writeBigUInt64LE(BigInt(v as number), o); return;
      case 's64': buf.writeBigInt64LE(BigInt(v as number), o); return;
    }
    const [len] = sizeAlign(type);
    const src = Buffer.isBuffer(v) ? v : Buffer.from(String(v));
    src.copy(buf, o, 0, Math.min(len, src.length));
  }

  const layout: Layout<F> = {
    fields,
    mirrors: mirror,
    size,
    offsets,
    decode(buf, at = 0) {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < fields.length; i++) {
        const [name, type] = fields[i];
        out[name] = read(buf, at + offsets[name], type, lens[i]);
      }
      return out as Record_<F>;
    },
    encode(values) {
      const buf = Buffer.alloc(size);
      for (const [name, type] of fields) {
        const v = (values as Record<string, unknown>)[name];
        if (v !== undefined) write(buf, offsets[name], type, v);
      }
      return buf;
    },
  };
  if (mirror) mirrors.push(layout as unknown as Layout<Fields>);
  return layout;
}

/** Size in bytes of a field type, as C lays it out. */
export function fieldSize(t: FieldType): number {
  return sizeAlign(t)[0];
}

/** Iterates the entries of a map read with BpfObject.entries(). */
export function* eachEntry<K extends Fields>(
  e: { keys: Buffer; values: Buffer; count: number; keySize: number; valueBytes: number },
  key: Layout<K>,
): Generator<[Record_<K>, Buffer]> {
  for (let i = 0; i < e.count; i++) {
    yield [key.decode(e.keys, i * e.keySize), e.values.subarray(i * e.valueBytes, (i + 1) * e.valueBytes)];
  }
}
