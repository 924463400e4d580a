// SPDX-License-Identifier: Apache-2.0
// Tracepoint record layouts from tracefs (events/CATEGORY/NAME/format), and decoding of raw
// records by field name: what `memscope trace` prints for any tracepoint.
//
//   field:unsigned long zone_start;	offset:8;	size:8;	signed:0;
//   field:__data_loc char[] comm;	offset:12;	size:4;	signed:0;
import * as fs from 'node:fs';
import { noTracefsReason, tracefs } from './tracefs';
import { MemscopeError } from '../core/errors';

export interface TraceField {
  name: string;
  /** The C declaration's type, e.g. "unsigned long", "char[16]", "__data_loc char[]". */
  type: string;
  offset: number;
  size: number;
  signed: boolean;
  /** common_* fields are the same for every tracepoint (type, flags, preempt count, pid). */
  common: boolean;
  kind: 'int' | 'pointer' | 'string' | 'array' | 'dynstring' | 'dynarray' | 'bytes';
  /** __rel_loc: the 16-bit offset is relative to the end of this field. */
  relative?: boolean;
  /** Element size of array fields. */
  elemSize?: number;
  /** The tracepoint's own print format shows it in hex ("brk: 0x%08lx", "pfn=0x%lx"). */
  hex?: boolean;
}

export interface TraceFormat {
  category: string;
  name: string;
  id: number;
  fields: TraceField[];
  /** Bytes of the fixed part (the end of the last field); dynamic data follows it. */
  fixedSize: number;
  /** Has __data_loc / __rel_loc fields whose data lies past fixedSize. */
  dynamic: boolean;
}

export type FieldValue = number | bigint | string | (number | bigint)[];

function classify(type: string, name: string, size: number): Pick<TraceField, 'kind' | 'elemSize' | 'relative'> {
  if (/^__(data|rel)_loc\b/.test(type)) {
    const relative = type.startsWith('__rel_loc');
    return { kind: /\bchar\b/.test(type) ? 'dynstring' : 'dynarray', relative };
  }
  const arr = /\[(\d*)\]$/.exec(type) ?? /\[(\d*)\]$/.exec(name);
  if (arr) {
    if (/\bchar\b/.test(type)) return { kind: 'string' };
    const n = Number(arr[1]);
    if (n > 0 && size % n === 0 && [1, 2, 4, 8].includes(size / n)) return { kind: 'array', elemSize: size / n };
    return { kind: 'bytes' };
  }
  if (type.includes('*')) return { kind: 'pointer' };
  if ([1, 2, 4, 8].includes(size)) return { kind: 'int' };
  return { kind: 'bytes' };
}

/** Parses the text of a tracefs format file. */
export function parseFormat(text: string, category = '', fallbackName = ''): TraceFormat {
  const name = /^name:\s*(\S+)/m.exec(text)?.[1] ?? fallbackName;
  const id = Number(/^ID:\s*(\d+)/m.exec(text)?.[1] ?? 0);
  const fields: TraceField[] = [];
  const re = /field:(.+?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const decl = m[1].trim();
    // the name is the last identifier, optionally followed by [N]
    const dm = /^(.*?)\s*([A-Za-z_][A-Za-z0-9_]*)\s*(\[\d*\])?$/.exec(decl);
    if (!dm) continue;
    const fname = dm[2];
    const type = (dm[1] + (dm[3] ?? '')).trim();
    const size = Number(m[3]);
    fields.push({
      name: fname,
      type,
      offset: Number(m[2]),
      size,
      signed: m[4] === '1',
      common: fname.startsWith('common_'),
      ...classify(type, fname, size),
    });
  }
  const fmt = /^print fmt:\s*"((?:[^"\\]|\\.)*)"/m.exec(text)?.[1] ?? '';
  for (const f of fields) {
    if (f.kind !== 'int') continue;
    const re = new RegExp(`(^|[^A-Za-z0-9_])${f.name}\\s*[=:]\\s*(0x%|%[-#0-9.]*l{0,2}[xXp])`);
    if (re.test(fmt)) f.hex = true;
  }
  const fixedSize = fields.reduce((e, f) => Math.max(e, f.offset + f.size), 0);
  return { category, name, id, fields, fixedSize, dynamic: fields.some((f) => f.kind === 'dynstring' || f.kind === 'dynarray') };
}

/** Reads and parses events/CATEGORY/NAME/format. */
export function readFormat(category: string, name: string): TraceFormat {
  const root = tracefs();
  if (!root) throw new MemscopeError(noTracefsReason());
  let text: string;
  try {
    text = fs.readFileSync(`${root}/events/${category}/${name}/format`, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new MemscopeError(`no tracepoint ${category}:${name} on this kernel (see 'memscope list')`);
    throw new MemscopeError(`cannot read the format of tracepoint ${category}:${name}: ${code ?? (e as Error).message}`);
  }
  return parseFormat(text, category, name);
}

function readInt(buf: Buffer, off: number, size: number, signed: boolean): number | bigint {
  switch (size) {
    case 1: return signed ? buf.readInt8(off) : buf.readUInt8(off);
    case 2: return signed ? buf.readInt16LE(off) : buf.readUInt16LE(off);
    case 4: return signed ? buf.readInt32LE(off) : buf.readUInt32LE(off);
    default: {
      const v = signed ? buf.readBigInt64LE(off) : buf.readBigUInt64LE(off);
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
  }
}

function cString(buf: Buffer, start: number, end: number): string {
  const s = Math.min(start, buf.length);
  const e = Math.min(end, buf.length);
  const nul = buf.indexOf(0, s);
  return buf.toString('utf8', s, nul >= 0 && nul < e ? nul : e);
}

/** Decodes one field of a raw record (bytes as the tracepoint wrote them, from offset 0). */
export function decodeField(f: TraceField, rec: Buffer): FieldValue {
  if (f.offset + f.size > rec.length) return '';
  switch (f.kind) {
    case 'int':
      return readInt(rec, f.offset, f.size, f.signed);
    case 'pointer':
      return rec.readBigUInt64LE(f.offset);
    case 'string':
      return cString(rec, f.offset, f.offset + f.size);
    case 'array': {
      const out: (number | bigint)[] = [];
      for (let o = f.offset; o < f.offset + f.size; o += f.elemSize!) out.push(readInt(rec, o, f.elemSize!, f.signed));
      return out;
    }
    case 'dynstring':
    case 'dynarray': {
      const loc = rec.readUInt32LE(f.offset);
      const start = (loc & 0xffff) + (f.relative ? f.offset + f.size : 0);
      const len = loc >>> 16;
      if (f.kind === 'dynstring') return cString(rec, start, start + len);
      return rec.subarray(Math.min(start, rec.length), Math.min(start + len, rec.length)).toString('hex');
    }
    default:
      return rec.subarray(f.offset, f.offset + f.size).toString('hex');
  }
}

/** The tracepoint's own fields (common_* left out) by name. */
export function decodeRecord(fmt: TraceFormat, rec: Buffer): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  for (const f of fmt.fields) if (!f.common) out[f.name] = decodeField(f, rec);
  return out;
}

/** One value as text: pointers in hex, arrays in braces, strings as they are. */
export function formatValue(v: FieldValue, f?: TraceField): string {
  if (Array.isArray(v)) return `{${v.map((x) => formatValue(x)).join(',')}}`;
  if (f?.hex && (typeof v === 'number' || typeof v === 'bigint')) return `0x${BigInt.asUintN(f.size * 8, BigInt(v)).toString(16)}`;
  if (typeof v === 'bigint') return f?.kind === 'pointer' || v > BigInt(Number.MAX_SAFE_INTEGER) || f === undefined ? `0x${v.toString(16)}` : v.toString();
  if (typeof v === 'string') return f?.kind === 'dynstring' || f?.kind === 'string' ? JSON.stringify(v).slice(1, -1) : v;
  return String(v);
}
