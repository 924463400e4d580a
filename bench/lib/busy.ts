// SPDX-License-Identifier: Apache-2.0
// A busy machine on demand (BENCH_BUSY=N): N processes that spin at nice 0 for a bench's run, so a
// figure "on a busy machine" is measured at a load the bench chose and prints, not at whatever
// other work happened to run.
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';

export interface Busy {
  /** Spinners running (0: none asked). */
  readonly n: number;
  /** Ends every spinner this call started (by pid). */
  stop(): void;
}

/** Starts n CPU spinners (a shell loop each: no syscalls, no memory), ended by stop() or when
 * this process exits. */
export function startSpinners(n: number): Busy {
  const kids: ChildProcess[] = [];
  for (let i = 0; i < n; i++) kids.push(spawn('/bin/sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  const stop = () => {
    for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
  };
  process.once('exit', stop);
  return { n, stop };
}

/** BENCH_BUSY's value: spinners to run (a whole number, default 0). */
export function busyCount(v = process.env.BENCH_BUSY): number {
  const n = Number(v ?? 0);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new Error(`BENCH_BUSY: ${v}: expected a number of spinners from 0 to 64`);
  return n;
}

/** The load averages as `uptime` says them, for a report's heading. */
export function loadLine(): string {
  return `load ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`;
}
