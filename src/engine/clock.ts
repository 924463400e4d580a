// SPDX-License-Identifier: Apache-2.0
// Kernel timestamps (bpf_ktime_get_ns, CLOCK_MONOTONIC) to wall-clock time.

// Node's hrtime is CLOCK_MONOTONIC too: one offset, taken once, keeps event times ordered.
const wallMinusMonoMs = Date.now() - Number(process.hrtime.bigint()) / 1e6;

/** The wall-clock Date of a bpf_ktime_get_ns() value. */
export function ktimeToDate(ns: number | bigint): Date {
  return new Date(wallMinusMonoMs + Number(ns) / 1e6);
}

/** HH:MM:SS.mmm, for -T columns of per-event tools. */
export function formatEventTime(d: Date): string {
  return `${d.toTimeString().slice(0, 8)}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}
