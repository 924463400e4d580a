// SPDX-License-Identifier: Apache-2.0
// Small helpers shared by the /proc readers.
import * as fs from 'node:fs';

/** Reads a /proc or /sys file, or null when it (or its process) is gone or unreadable. */
export function readProc(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch { // gone (process exited) or unreadable (not root): callers treat both as absent
    return null;
  }
}

/** "Key:   value [kB]" lines (meminfo, status, smaps) → numbers; kB values stay in kB. */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?: kB)?\s*$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** "name value" lines (vmstat) → numbers. */
export function parseSpaceValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(-?\d+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/**
 * The values of a few named lines of a "name value" or "Name: value kB" file (vmstat, meminfo),
 * found by search rather than by parsing every line: the dashboard reads both every second, and
 * parsing them whole (~230 lines, a regular expression, a string and a property each) was most of
 * an idle agent's per-second cost. A name ending in '*' is the sum of every line whose name starts
 * with the rest (allocstall* = allocstall_dma + allocstall_normal + ...). A name absent is absent.
 */
export function pickValues(text: string, names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) {
    const prefix = name.endsWith('*');
    const key = prefix ? name.slice(0, -1) : name;
    let sum: number | undefined;
    for (let at = text.startsWith(key) ? 0 : lineAt(text, key, 0); at >= 0; at = lineAt(text, key, at + 1)) {
      let i = at + key.length;
      if (prefix) while (i < text.length && text.charCodeAt(i) > 32 && text[i] !== ':') i++;
      else if (text[i] !== ' ' && text[i] !== ':' && text[i] !== '\t') continue; // a longer name
      const v = valueAt(text, i);
      if (v === undefined) continue;
      sum = (sum ?? 0) + v;
      if (!prefix) break;
    }
    if (sum !== undefined) out[name] = sum;
  }
  return out;
}

/** The start of the next line from `from` on that begins with key, or -1. */
function lineAt(text: string, key: string, from: number): number {
  const i = text.indexOf('\n' + key, from - 1 < 0 ? 0 : from - 1);
  return i < 0 ? -1 : i + 1;
}

/** The integer after a name's end (past a ':' and blanks), or undefined. */
function valueAt(text: string, i: number): number | undefined {
  if (text[i] === ':') i++;
  while (text[i] === ' ' || text[i] === '\t') i++;
  const neg = text[i] === '-';
  if (neg) i++;
  let n = 0;
  const start = i;
  for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) n = n * 10 + (c - 48);
  return i === start ? undefined : neg ? -n : n;
}
