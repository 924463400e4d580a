// SPDX-License-Identifier: Apache-2.0
// log2 histograms in bpftrace's style:
//   [4K, 8K)               3 |@@@@@@@@                                            |

/** Bucket index of a value: 0 for 0, then 1 + floor(log2(v)). The BPF side uses the same rule. */
export function log2Bucket(v: number): number {
  if (v <= 0) return 0;
  return Math.floor(Math.log2(v)) + 1;
}

function suffix(n: number): string {
  const units = ['', 'K', 'M', 'G', 'T', 'P'];
  let u = 0;
  while (n >= 1024 && n % 1024 === 0 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${n}${units[u]}`;
}

/** Renders counts per log2 bucket (index as from log2Bucket) as bpftrace does. */
export function renderLog2(buckets: Map<number, number> | number[], width = 52): string[] {
  const entries: [number, number][] = Array.isArray(buckets)
    ? buckets.map((c, i) => [i, c] as [number, number]).filter(([, c]) => c > 0)
    : [...buckets.entries()].filter(([, c]) => c > 0);
  if (entries.length === 0) return [];
  entries.sort((a, b) => a[0] - b[0]);
  const lo = entries[0][0];
  const hi = entries[entries.length - 1][0];
  const byIndex = new Map(entries);
  const max = Math.max(...entries.map(([, c]) => c));
  const lines: string[] = [];
  for (let i = lo; i <= hi; i++) {
    const count = byIndex.get(i) ?? 0;
    const range = i === 0 ? '[0]' : i === 1 ? '[1]' : `[${suffix(2 ** (i - 1))}, ${suffix(2 ** i)})`;
    const bar = '@'.repeat(max ? Math.round((count / max) * width) : 0);
    lines.push(`${range.padEnd(20)}${String(count).padStart(8)} |${bar.padEnd(width)}|`);
  }
  return lines;
}

/** Convenience for raw values: buckets them, then renders. */
export function histogramOf(values: number[], width?: number): string[] {
  const m = new Map<number, number>();
  for (const v of values) m.set(log2Bucket(v), (m.get(log2Bucket(v)) ?? 0) + 1);
  return renderLog2(m, width);
}
