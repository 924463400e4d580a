// The one option vocabulary every tool shares (BCC's conventions where BCC has one):
// -p PID, -c CMD, -T, --json, -v/--verbose, --folded, --svg FILE, and [duration] or [interval [count]].
import * as fs from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../core/errors';

export interface CommonOptions {
  pid?: number;
  command?: string;
  timestamp?: boolean;
  json?: boolean;
  verbose?: boolean;
  folded?: boolean;
  svg?: string;
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

type Feature = 'pid' | 'command' | 'timestamp' | 'json' | 'folded' | 'svg';

/** Adds the shared options a tool supports, so they are spelled and explained the same everywhere. */
export function addCommonOptions(cmd: Command, features: Feature[]): Command {
  const has = (f: Feature) => features.includes(f);
  if (has('pid')) cmd.option('-p, --pid <PID>', 'trace this process only', parsePid);
  if (has('command')) cmd.option('-c, --command <CMD>', 'run CMD and trace it from its first instruction');
  if (has('timestamp')) cmd.option('-T, --timestamp', 'include a time column (HH:MM:SS)');
  if (has('folded')) cmd.option('--folded', 'print folded stacks (flamegraph.pl input) instead of the report');
  if (has('svg')) cmd.option('--svg <FILE>', 'write a flame graph to FILE (open it in a browser)');
  if (has('json')) cmd.option('--json', 'print JSON lines instead of text');
  cmd.option('-v, --verbose', 'say which kernel event sources are used, and show libbpf messages');
  cmd.option('--source <NAME>', 'prefer event sources whose name contains NAME (e.g. tp_btf, tracepoint, perf); see -v');
  return cmd;
}

export function addDuration(cmd: Command): Command {
  return cmd.argument('[duration]', 'seconds to trace (default: until Ctrl-C)', parsePositive);
}

export function addInterval(cmd: Command): Command {
  return cmd
    .argument('[interval]', 'print a report every INTERVAL seconds', parsePositive)
    .argument('[count]', 'stop after COUNT reports', parseCount);
}

/** Validates -p before anything is loaded: a clear line now beats a silent empty trace. */
export function checkTarget(opts: CommonOptions): void {
  if (opts.pid !== undefined && !fs.existsSync(`/proc/${opts.pid}`)) {
    throw new UsageError(`no process with PID ${opts.pid} (is it still running?)`);
  }
  if (opts.pid !== undefined && opts.command !== undefined) {
    throw new UsageError('-p and -c exclude each other: trace a running process or start one');
  }
}

export { Command, Option, InvalidArgumentError };
