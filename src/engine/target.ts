// The target of a trace (-p PID or -c CMD), checked before anything is loaded.
import * as fs from 'node:fs';
import { UsageError } from '../core/errors';
import type { CommonOptions } from '../core/options';

/** Validates -p before anything is loaded: a clear line now beats a silent empty trace. */
export function checkTarget(opts: CommonOptions): void {
  if (opts.pid !== undefined && !fs.existsSync(`/proc/${opts.pid}`)) {
    throw new UsageError(`no process with PID ${opts.pid} (is it still running?)`);
  }
  if (opts.pid !== undefined && opts.command !== undefined) {
    throw new UsageError('-p and -c exclude each other: trace a running process or start one');
  }
}
