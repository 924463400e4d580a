// SPDX-License-Identifier: Apache-2.0
// JSON lines: one object per event or per interval, bigint-safe (addresses print as hex strings).
import { jsonSafe } from '../core/escape';

export function toJson(value: unknown): string {
  // exact values; the few characters JSON.stringify leaves raw that act on terminals become \uXXXX
  return jsonSafe(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)));
}

export function printJson(value: unknown, out: NodeJS.WritableStream = process.stdout): void {
  out.write(toJson(value) + '\n');
}
