// SPDX-License-Identifier: Apache-2.0
// Bench output: a table per metric with median, min, max and the ratio to a baseline tool,
// plus target lines ("memscope attaches >= 5x faster than BCC: 12.3x  ok").
import { formatTable } from '../../src/render/table';
import { summarize } from './stats';

export interface Series {
  name: string;
  samples: number[];
  /** Shown instead of figures when the tool could not be measured. */
  missing?: string;
}

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '-');

/**
 * Lines of a table: one row per series with n, median, min, max and "x BASELINE" (the series'
 * median divided by the baseline's: how many times more it takes).
 */
export function ratioTable(title: string, unit: string, baseline: string, series: Series[], digits = 0): string[] {
  const base = summarize(series.find((s) => s.name === baseline)?.samples ?? []).median;
  const rows = series.map((s) => {
    if (s.missing) return [s.name, '-', '-', '-', '-', '-', s.missing];
    const m = summarize(s.samples);
    return [s.name, m.n, fmt(m.median, digits), fmt(m.min, digits), fmt(m.max, digits), Number.isFinite(base) && base > 0 ? `${(m.median / base).toFixed(2)}x` : '-', ''];
  });
  const table = formatTable(['', 'n', `median ${unit}`, `min ${unit}`, `max ${unit}`, `x ${baseline}`, ''], rows, [false, true, true, true, true, true, false]);
  return [title, ...table.map((l) => `  ${l.trimEnd()}`)];
}

export interface Target {
  what: string;
  /** The measured figure (a ratio or a time). */
  value: number;
  /** ok when value >= atLeast / value < below. */
  atLeast?: number;
  below?: number;
  unit?: string;
}

export function targetLines(targets: Target[]): string[] {
  return targets.map((t) => {
    const ok = t.atLeast !== undefined ? t.value >= t.atLeast : t.value < (t.below ?? Infinity);
    const want = t.atLeast !== undefined ? `>= ${t.atLeast}${t.unit ?? ''}` : `< ${t.below}${t.unit ?? ''}`;
    const got = Number.isFinite(t.value) ? `${t.value.toFixed(t.unit === 'x' ? 1 : 0)}${t.unit ?? ''}` : 'not measured';
    return `  ${Number.isFinite(t.value) ? (ok ? 'ok    ' : 'MISSED') : 'n/a   '} ${t.what}: ${got} (target ${want})`;
  });
}
