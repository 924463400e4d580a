// SPDX-License-Identifier: Apache-2.0
// Options every tool shares, and the parsers of their values: the types and checks that the
// session (engine), the unwinder and the tools' option vocabulary (tools/options.ts) all need.
import { InvalidArgumentError } from 'commander';

export interface CommonOptions {
  pid?: number;
  command?: string;
  timestamp?: boolean;
  json?: boolean;
  verbose?: boolean;
  folded?: boolean;
  svg?: string;
  /** write a gzipped pprof profile (profile.proto) to this file */
  pprof?: string;
  source?: string;
  /** --cgroup PATH: only processes in this cgroup (or below it) */
  cgroup?: string;
  /** --container ID|NAME: only processes of this container */
  container?: string;
}

export function parsePid(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0) throw new InvalidArgumentError('a PID is a positive whole number.');
  return Number(v);
}

// Durations and intervals are seconds; engine/timers.ts handles any finite length, so only numbers
// too large to be milliseconds at all (more digits than a double holds) are refused.
const MAX_SECONDS = Number.MAX_SAFE_INTEGER / 1000;

export function parsePositive(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0)) throw new InvalidArgumentError('expected a positive number.');
  if (n > MAX_SECONDS) throw new InvalidArgumentError(`at most ${MAX_SECONDS.toFixed(0)} seconds.`);
  return n;
}

export function parseCount(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0) throw new InvalidArgumentError('expected a positive whole number.');
  if (Number(v) > Number.MAX_SAFE_INTEGER) throw new InvalidArgumentError(`at most ${Number.MAX_SAFE_INTEGER}.`);
  return Number(v);
}

export function parseNonNegative(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v)) throw new InvalidArgumentError('expected a number >= 0.');
  if (n > MAX_SECONDS) throw new InvalidArgumentError(`at most ${MAX_SECONDS.toFixed(0)}.`);
  return n;
}

/** An output file name (--svg, --html): refused now if empty; checked for links and writability
 * before tracing by checkOutputPath (core/output-file.ts). */
export function parseOutputPath(v: string): string {
  if (v === '') throw new InvalidArgumentError('expected a file name, not an empty one.');
  return v;
}
