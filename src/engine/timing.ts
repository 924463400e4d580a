// SPDX-License-Identifier: Apache-2.0
// MEMSCOPE_TIMING=1: how long each phase of a run took, printed to stderr as
// "memscope: timing: NAME=MS ..." lines (bench/attach.ts reads them). Costs nothing when unset.
// Node's global performance, not node:perf_hooks imported: the global loads perf_hooks (some ten
// modules) only when first used, which an untimed run never does.

export interface PhaseTimer {
  /** Ends the phase NAME (it began at the previous mark). */
  mark(name: string): void;
  /** Prints the phases marked since the last print. */
  print(): void;
}

const off: PhaseTimer = { mark() {}, print() {} };

/** A timer whose first line also tells Node's own start-up (bootstrap) and module loading. */
export function phaseTimer(): PhaseTimer {
  if (!process.env.MEMSCOPE_TIMING) return off;
  const boot = performance.nodeTiming.bootstrapComplete;
  let last = performance.now();
  let phases: [string, number][] = [
    ['node', boot],
    ['modules', last - boot],
  ];
  return {
    mark(name) {
      const t = performance.now();
      phases.push([name, t - last]);
      last = t;
    },
    print() {
      process.stderr.write(`memscope: timing: ${phases.map(([n, ms]) => `${n}=${ms.toFixed(1)}`).join(' ')} (ms)\n`);
      phases = [];
    },
  };
}
