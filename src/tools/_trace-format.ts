// SPDX-License-Identifier: Apache-2.0
// BCC trace's probe argument: 'SPEC [(FILTER)] ["FORMAT"[, ARG, ...]]', e.g.
//   trace 'p:c:malloc (arg1 > 4096) "size=%d", arg1'     trace 'r:c:malloc "ret=%p", retval'
// and the printf-style formatting of each event's arguments (as C's printf, with BCC's types:
// %d is a 32-bit int, %ld/%lld 64-bit, %s a string copied from the traced process).
import { UsageError } from '../core/errors';

export interface TraceSpec {
  probe: string;
  filter?: string;
  format?: string;
  args: string[];
}

/** Splits BCC's one-argument form; a plain probe name comes back alone. */
export function parseTraceSpec(text: string): TraceSpec {
  const t = text.trim();
  const sp = t.search(/\s/);
  if (sp < 0) return { probe: t, args: [] };
  const probe = t.slice(0, sp);
  let rest = t.slice(sp).trim();
  const bad = (why: string) => new UsageError(`bad trace specification '${text}': ${why} (expected 'PROBE [(FILTER)] ["FORMAT"[, ARG...]]')`);
  let filter: string | undefined;
  if (rest.startsWith('(')) {
    let depth = 0;
    let quote = false;
    let end = -1;
    for (let i = 0; i < rest.length && end < 0; i++) {
      const c = rest[i];
      if (c === '"' && rest[i - 1] !== '\\') quote = !quote;
      else if (!quote && c === '(') depth++;
      else if (!quote && c === ')' && --depth === 0) end = i;
    }
    if (end < 0) throw bad('no closing parenthesis');
    filter = rest.slice(1, end).trim();
    rest = rest.slice(end + 1).trim();
  }
  let format: string | undefined;
  const args: string[] = [];
  if (rest.startsWith('"')) {
    let end = 1;
    while (end < rest.length && !(rest[end] === '"' && rest[end - 1] !== '\\')) end++;
    if (end >= rest.length) throw bad('no closing quote');
    format = rest.slice(1, end).replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    rest = rest.slice(end + 1).trim();
    if (rest) {
      if (!rest.startsWith(',')) throw bad(`unexpected '${rest}' after the format`);
      args.push(...rest.slice(1).split(',').map((a) => a.trim()));
      if (args.some((a) => !a)) throw bad('an empty argument');
    }
  } else if (rest) throw bad(`unexpected '${rest}'`);
  return { probe, filter, format, args };
}

interface Conversion {
  flags: string;
  width: string;
  precision: string;
  length: string;
  conv: string;
}

const CONV = /%([-+ 0#]*)(\d*)(?:\.(\d+))?(hh|h|ll|l|z)?([diuxXpsc%])/g;

/** The conversions of a format, each needing one argument (%% needs none). */
export function conversions(format: string): Conversion[] {
  const out: Conversion[] = [];
  for (const m of format.matchAll(CONV)) if (m[5] !== '%') out.push({ flags: m[1], width: m[2], precision: m[3] ?? '', length: m[4] ?? '', conv: m[5] });
  return out;
}

/** Checks a format against its arguments at start-up: one clear line instead of odd output. */
export function checkFormat(format: string, args: string[], known: Set<string>): void {
  const n = conversions(format).length;
  if (n !== args.length) throw new UsageError(`the format "${format.replace(/\n/g, '\\n')}" has ${n} conversion${n === 1 ? '' : 's'} and ${args.length} argument${args.length === 1 ? '' : 's'} follow it`);
  for (const a of args) if (!known.has(a)) throw new UsageError(`unknown argument '${a}' (known here: ${[...known].join(', ')})`);
}

function bits(length: string, conv: string): number {
  if (conv === 'p') return 64;
  if (length === 'hh') return 8;
  if (length === 'h') return 16;
  if (length === 'l' || length === 'll' || length === 'z') return 64;
  return 32;
}

function pad(s: string, c: Conversion): string {
  const w = Number(c.width || 0);
  if (s.length >= w) return s;
  if (c.flags.includes('-')) return s.padEnd(w);
  if (c.flags.includes('0') && /[diuxX]/.test(c.conv)) {
    const neg = s.startsWith('-');
    return (neg ? '-' : '') + (neg ? s.slice(1) : s).padStart(w - (neg ? 1 : 0), '0');
  }
  return s.padStart(w);
}

/** printf with the event's values: numbers as bigint (64 bits, signed), strings as copied (exact:
 * --json keeps them so; the text line is escaped once, where it is printed). */
export function formatPrintf(format: string, values: (bigint | string)[]): string {
  let i = 0;
  return format.replace(CONV, (_m, flags: string, width: string, precision: string | undefined, length: string | undefined, conv: string) => {
    if (conv === '%') return '%';
    const c: Conversion = { flags, width, precision: precision ?? '', length: length ?? '', conv };
    const v = values[i++];
    if (conv === 's') {
      const s = typeof v === 'string' ? v : v === undefined ? '' : v.toString();
      return pad(c.precision ? s.slice(0, Number(c.precision)) : s, c);
    }
    const n = typeof v === 'bigint' ? v : 0n;
    const b = bits(c.length, conv);
    let s: string;
    switch (conv) {
      case 'd':
      case 'i':
        s = BigInt.asIntN(b, n).toString();
        if (c.flags.includes('+') && !s.startsWith('-')) s = `+${s}`;
        break;
      case 'u':
        s = BigInt.asUintN(b, n).toString();
        break;
      case 'x':
      case 'X':
        s = BigInt.asUintN(b, n).toString(16);
        if (conv === 'X') s = s.toUpperCase();
        if (c.flags.includes('#') && n !== 0n) s = `0x${s}`;
        break;
      case 'p':
        s = `0x${BigInt.asUintN(64, n).toString(16)}`;
        break;
      default: // c
        s = String.fromCharCode(Number(BigInt.asUintN(8, n)));
    }
    return pad(s, c);
  });
}
