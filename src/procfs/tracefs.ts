// Where tracefs is mounted: classic tracepoints (their ids and record formats) are found through it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

const TRACEFS_ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

let tracefsRoot: string | null | undefined;

/** The tracefs mount (classic tracepoints are found through it), mounted here if nobody has. */
export function tracefs(): string | null {
  if (tracefsRoot === undefined) {
    tracefsRoot = TRACEFS_ROOTS.find((r) => fs.existsSync(`${r}/events`)) ?? null;
    if (tracefsRoot === null && fs.existsSync(TRACEFS_ROOTS[0])) {
      spawnSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS_ROOTS[0]], { stdio: 'ignore' });
      if (fs.existsSync(`${TRACEFS_ROOTS[0]}/events`)) tracefsRoot = TRACEFS_ROOTS[0];
    }
  }
  return tracefsRoot;
}
