// SPDX-License-Identifier: Apache-2.0
// Fixed-width columns, as the chapter's tools print them. Cells are escaped (core/escape.ts):
// a process or file name with a newline or ESC in it stays one visible cell.
import { escapeText } from '../core/escape';

export interface Column {
  header: string;
  width: number;
  /** Right-align (numbers); default left. */
  right?: boolean;
}

export function formatRow(columns: Column[], values: (string | number)[]): string {
  return columns
    .map((c, i) => {
      const v = escapeText(String(values[i] ?? ''));
      const last = i === columns.length - 1;
      if (c.right) return v.padStart(c.width);
      return last ? v : v.padEnd(c.width);
    })
    .join(' ');
}

export function formatHeader(columns: Column[]): string {
  return formatRow(columns, columns.map((c) => c.header));
}

/** Formats a table whose column widths fit the widest cell. */
export function formatTable(headers: string[], rows: (string | number)[][], rightAligned: boolean[] = []): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => escapeText(String(r[i] ?? '')).length)));
  const cols = headers.map((h, i) => ({ header: h, width: widths[i], right: rightAligned[i] }));
  return [formatHeader(cols), ...rows.map((r) => formatRow(cols, r))];
}

/** HH:MM:SS of the local wall clock, as -T columns and interval headers show it. */
export function clock(d = new Date()): string {
  return d.toTimeString().slice(0, 8);
}
