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
}

export function parsePid(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0) throw new InvalidArgumentError('a PID is a positive whole number.');
  return Number(v);
}

export function parsePositive(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0)) throw new InvalidArgumentError('expected a positive number.');
  return n;
}

export function parseCount(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0) throw new InvalidArgumentError('expected a positive whole number.');
  return Number(v);
}

export function parseNonNegative(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v)) throw new InvalidArgumentError('expected a number >= 0.');
  return n;
}
