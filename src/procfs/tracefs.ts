// SPDX-License-Identifier: Apache-2.0
// Where tracefs is mounted: classic tracepoints (their ids and record formats) are found through it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

const TRACEFS_ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

let tracefsRoot: string | null | undefined;

/** The tracefs mount, or null when tracefs is not mounted. Only looks: asking what the kernel
 * offers must not change the system (mountTracefs does that, once, for a trace about to start). */
export function tracefs(): string | null {
  if (tracefsRoot === undefined) tracefsRoot = TRACEFS_ROOTS.find((r) => fs.existsSync(`${r}/events`)) ?? null;
  return tracefsRoot;
}

/** Mounts tracefs where the kernel offers its mount point, if nobody has (setup.sh does it at
 * install; a reboot undoes it). cli.ts calls it as root before a tool runs: tools resolve
 * tracepoint names (count 't:vmscan:*', list, trace) before their trace starts. */
export function mountTracefs(): void {
  if (tracefs() !== null || !fs.existsSync(TRACEFS_ROOTS[0])) return;
  spawnSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS_ROOTS[0]], { stdio: 'ignore' });
  tracefsRoot = undefined; // look again
}

/** Why tracefs() found none, in one line: not mounted, or not readable by this user (tracefs is
 * mode 0700: a non-root user gets EACCES, and must not be told it is missing). */
export function noTracefsReason(): string {
  for (const r of TRACEFS_ROOTS) {
    try {
      fs.accessSync(r, fs.constants.R_OK | fs.constants.X_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') return `cannot read tracefs at ${r}: permission denied (${code}); tracepoints need root: try sudo memscope ...`;
    }
  }
  return 'tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)';
}
