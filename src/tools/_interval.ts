// SPDX-License-Identifier: Apache-2.0
// The loop of interval views without BPF (vmstat, paging, pmc): take a sample, print a line per
// interval until COUNT lines or Ctrl-C / SIGTERM, then an optional closing line.

import { LongTimer, setLongTimeout } from '../engine/timers';

export interface IntervalSpec<S> {
  interval: number;
  count?: number;
  sample(): S;
  /** A line (or lines) for the change between two samples over `seconds`. */
  line(prev: S, cur: S, seconds: number): void;
  /** After the last line (or on Ctrl-C). */
  end?(): void;
}

export async function runIntervals<S>(spec: IntervalSpec<S>): Promise<void> {
  let prev = spec.sample();
  let prevAt = process.hrtime.bigint();
  let n = 0;
  await new Promise<void>((resolve) => {
    let timer: LongTimer; // any interval a user can type (Node's own timers hold 24.8 days at most)
    const stop = () => {
      timer.clear();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    const start = process.hrtime.bigint();
    const tick = () => {
      const cur = spec.sample();
      const at = process.hrtime.bigint();
      spec.line(prev, cur, Number(at - prevAt) / 1e9);
      prev = cur;
      prevAt = at;
      n++;
      if (spec.count !== undefined && n >= spec.count) return stop();
      // schedule against the start so intervals do not drift
      const next = Number(start) / 1e6 + (n + 1) * spec.interval * 1000 - Number(process.hrtime.bigint()) / 1e6;
      timer = setLongTimeout(tick, Math.max(0, next));
    };
    timer = setLongTimeout(tick, spec.interval * 1000);
  });
  spec.end?.();
}
