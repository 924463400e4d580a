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
