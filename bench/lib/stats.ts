// SPDX-License-Identifier: Apache-2.0
// Repeated measurements and their summaries.

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function summarize(xs: number[]): Summary {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { n: s.length, median, min: s[0], max: s[s.length - 1] };
}

/** Runs fn n times in sequence and returns its results. */
export async function repeat<T>(n: number, fn: (i: number) => T | Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
