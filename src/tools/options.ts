// SPDX-License-Identifier: Apache-2.0
// The one option vocabulary every tool shares (BCC's conventions where BCC has one):
// -p PID, -c CMD, -T, --json, -v/--verbose, --folded, --svg FILE, and [duration] or [interval [count]].
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseCount, parseOutputPath, parsePid, parsePositive } from '../core/options';

// the value parsers and CommonOptions live in core/options.ts (the unwinder and the session use them
// too); tools get the whole vocabulary from here
export type { CommonOptions } from '../core/options';
export { parseCount, parseNonNegative, parseOutputPath, parsePid, parsePositive } from '../core/options';

type Feature = 'pid' | 'command' | 'timestamp' | 'json' | 'folded' | 'svg' | 'pprof' | 'cgroup';

/** Adds the shared options a tool supports, so they are spelled and explained the same everywhere.
 * `longOnly`: features whose short letter the tool gives to BCC's meaning instead (stackcount's and
 * profile's -c, for example), so only the long spelling is added. */
export function addCommonOptions(cmd: Command, features: Feature[], longOnly: Feature[] = []): Command {
  const has = (f: Feature) => features.includes(f);
  const flag = (f: Feature, short: string, long: string) => (longOnly.includes(f) ? long : `${short}, ${long}`);
  if (has('pid')) cmd.option('-p, --pid <PID>', 'trace this process only', parsePid);
  // every tool that can keep one process can keep one cgroup's: -p implies --cgroup/--container
  // (a tool that gives --cgroup BCC's own meaning, as trace's -c, declares it first and keeps it)
  const ownCgroup = cmd.options.some((o) => o.long === '--cgroup');
  if (has('pid') || has('cgroup')) {
    if (!ownCgroup)
      cmd.option(
        '--cgroup <PATH>',
        'only processes in this cgroup or below it: a v1 memory or v2 path (/sys/fs/cgroup/memory/x, /sys/fs/cgroup/unified/x) or one below the memory cgroups (x)',
      );
    cmd.option('--container <ID|NAME>', 'only processes of this container: its id, an id prefix of 12+ digits, or its name');
  }
  if (has('command')) cmd.option(flag('command', '-c', '--command <CMD>'), 'run CMD and trace it from its first instruction');
  if (has('timestamp')) cmd.option(flag('timestamp', '-T', '--timestamp'), 'include a time column (HH:MM:SS)');
  if (has('folded')) cmd.option('--folded', 'print folded stacks (flamegraph.pl input) instead of the report');
  if (has('svg')) cmd.option('--svg <FILE>', 'write a flame graph to FILE (open it in a browser)', parseOutputPath);
  if (has('pprof')) cmd.option('--pprof <FILE>', 'also write the stacks as a gzipped pprof profile to FILE (go tool pprof FILE)', parseOutputPath);
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

/** Walked stacks kept by default (stacks.h ms_walked_ustacks, allocated as stored: 16,384 × 127
 * frames is at most 16 MiB of kernel memory). */
export const STACK_STORAGE = 16384;

/** --stack-storage N for a tool that stores walked stacks: a stack past it is counted under
 * [missed user stack: stack map full] and said at the end (_stack-report.ts reportStacksLost). */
export function addStackStorage(cmd: Command): Command {
  return cmd.option('--stack-storage <N>', 'distinct stacks to keep (more costs kernel memory)', parseCount, STACK_STORAGE);
}

export { Command, Option, InvalidArgumentError };
