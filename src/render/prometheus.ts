// SPDX-License-Identifier: Apache-2.0
// Prometheus text exposition format 0.0.4: counters, gauges and histograms, with label values
// escaped and histogram buckets made cumulative from log2 slots (the slots BPF fills with
// ms_log2_bucket: slot b > 0 holds values 2^(b-1) .. 2^b - 1, slot 0 holds 0).
export type Labels = Record<string, string>;

export interface Sample {
  labels: Labels;
  value: number;
}

export interface HistogramSample {
  labels: Labels;
  /** Upper bounds (inclusive, ascending) with the count of observations in each bucket alone. */
  buckets: { le: number; count: number }[];
  /** Observations above the last bound (they go into +Inf only). */
  overflow: number;
  sum: number;
}

export type Family =
  | { name: string; help: string; type: 'counter' | 'gauge'; samples: Sample[] }
  | { name: string; help: string; type: 'histogram'; histograms: HistogramSample[] };

const escapeHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeValue = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function formatLabels(l: Labels, extra?: [string, string]): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeValue(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeValue(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export function renderExposition(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type === 'histogram') {
      for (const h of f.histograms) {
        let cum = 0;
        for (const b of h.buckets) {
          cum += b.count;
          out.push(`${f.name}_bucket${formatLabels(h.labels, ['le', formatNumber(b.le)])} ${cum}`);
        }
        cum += h.overflow;
        out.push(`${f.name}_bucket${formatLabels(h.labels, ['le', '+Inf'])} ${cum}`);
        out.push(`${f.name}_sum${formatLabels(h.labels)} ${formatNumber(h.sum)}`);
        out.push(`${f.name}_count${formatLabels(h.labels)} ${cum}`);
      }
    } else {
      for (const s of f.samples) out.push(`${f.name}${formatLabels(s.labels)} ${formatNumber(s.value)}`);
    }
  }
  return out.join('\n') + '\n';
}

/**
 * Buckets from log2 slots. `upper(b)` is slot b's largest value in base units; slots below
 * `first` are folded into the first bucket (cumulative counts stay exact) and slots above
 * `last` counted only in +Inf, so every scrape has the same, bounded bucket set.
 */
export function log2Buckets(slots: number[], first: number, last: number, upper: (b: number) => number): Pick<HistogramSample, 'buckets' | 'overflow'> {
  const buckets: { le: number; count: number }[] = [];
  let below = 0;
  let overflow = 0;
  slots.forEach((c, b) => {
    if (b < first) below += c;
    else if (b > last) overflow += c;
  });
  for (let b = first; b <= last; b++) buckets.push({ le: upper(b), count: (slots[b] ?? 0) + (b === first ? below : 0) });
  return { buckets, overflow };
}

/** Top `k` samples by value; the rest summed into one sample with `otherLabels` (bounded label sets). */
export function topK(samples: Sample[], k: number, otherLabels: Labels): Sample[] {
  if (samples.length <= k) return samples;
  const sorted = [...samples].sort((a, b) => b.value - a.value);
  const rest = sorted.slice(k).reduce((s, x) => s + x.value, 0);
  return [...sorted.slice(0, k), { labels: otherLabels, value: rest }];
}
