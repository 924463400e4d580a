// SPDX-License-Identifier: Apache-2.0
// Timers for any duration a user can type. Node's setTimeout/setInterval hold at most 2^31-1 ms
// (24.8 days): a longer delay becomes 1 ms with only a warning, so `faults 2200000` ended at once
// and `ffaults 2200000` reported every millisecond. These chain Node timers instead.

/** The longest delay one Node timer holds. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  clear(): void;
}

/** setTimeout for any finite delay (chained in steps Node accepts). */
export function setLongTimeout(fn: () => void, ms: number): LongTimer {
  let t: NodeJS.Timeout | undefined;
  let cleared = false;
  // monotonic: a wall-clock step must not end a trace early or late
  const due = performance.now() + ms;
  const arm = (remaining: number) => {
    t = setTimeout(
      () => {
        if (cleared) return;
        const left = due - performance.now();
        if (left >= 1) arm(left);
        else fn();
      },
      Math.min(Math.max(remaining, 0), MAX_TIMER_MS),
    );
  };
  arm(ms);
  return {
    clear() {
      cleared = true;
      if (t) clearTimeout(t);
    },
  };
}

/** setInterval for any finite period. Ticks are scheduled against the start, so they do not drift;
 * a tick that ran late skips the slots it missed rather than firing them back to back. */
export function setLongInterval(fn: () => void, ms: number): LongTimer {
  const start = performance.now();
  let n = 0;
  let cur: LongTimer | undefined;
  let cleared = false;
  const next = () => {
    n = Math.max(n + 1, Math.floor((performance.now() - start) / ms) + 1);
    cur = setLongTimeout(
      () => {
        if (cleared) return;
        next();
        fn();
      },
      Math.max(0, start + n * ms - performance.now()),
    );
  };
  next();
  return {
    clear() {
      cleared = true;
      cur?.clear();
    },
  };
}
