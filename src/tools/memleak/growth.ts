// SPDX-License-Identifier: Apache-2.0
// The growth view of memleak: per stack, outstanding bytes at each report, and the slope across
// reports, so a leak (grows report after report) reads differently from a long-lived allocation
// (present but flat) — the question the chapter says memleak alone cannot answer.

const KEEP = 12; // reports remembered per stack

/** Least-squares slope of y over x. */
export function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) * (x - mx);
  }
  return den === 0 ? 0 : num / den;
}

export type Verdict = 'growing' | 'flat' | 'shrinking' | 'varying';

export interface Trend {
  /** bytes per second */
  slope: number;
  points: number;
  verdict: Verdict;
}

/** Reports at the end of a history that, unchanged, make the verdict "flat" whatever came before:
 * a stack that grew and then stopped (a cache filled up) is not a leak now. */
export const RECENT = 3;

export function classify(bytes: number[]): Verdict {
  const first = bytes[0];
  const last = bytes[bytes.length - 1];
  const tolerance = Math.max(1, 0.01 * Math.max(first, last));
  if (Math.abs(last - first) <= tolerance && bytes.every((b) => Math.abs(b - first) <= tolerance)) return 'flat';
  const recent = bytes.slice(-RECENT);
  if (recent.length === RECENT && recent.every((b) => Math.abs(b - last) <= Math.max(1, 0.01 * last))) return 'flat';
  let up = 0;
  let down = 0;
  for (let i = 1; i < bytes.length; i++) {
    if (bytes[i] > bytes[i - 1]) up++;
    else if (bytes[i] < bytes[i - 1]) down++;
  }
  if (last > first && down === 0) return 'growing';
  if (last < first && up === 0) return 'shrinking';
  return last > first + tolerance && up >= 2 * down ? 'growing' : 'varying';
}

export class Growth {
  private history = new Map<string, [number, number][]>();
  private seen = new Set<string>();

  /** Outstanding bytes of a stack at a report (ms since the epoch). */
  add(id: string, atMs: number, bytes: number): void {
    let h = this.history.get(id);
    if (!h) this.history.set(id, (h = []));
    h.push([atMs / 1000, bytes]);
    if (h.length > KEEP) h.shift();
    this.seen.add(id);
  }

  /** Closes a report: stacks known before but absent now have nothing outstanding. */
  endReport(atMs: number): void {
    for (const [id, h] of this.history) {
      if (!this.seen.has(id)) {
        h.push([atMs / 1000, 0]);
        if (h.length > KEEP) h.shift();
      }
    }
    this.seen.clear();
  }

  of(id: string): Trend | null {
    const h = this.history.get(id);
    if (!h || h.length < 2) return null;
    return { slope: slope(h), points: h.length, verdict: classify(h.map(([, b]) => b)) };
  }
}
