// SPDX-License-Identifier: Apache-2.0
// Which processes live, from one read of /proc's directory per collection: the agent asked
// /proc/PID/stat of every tracked process (up to maxProcesses a store, and every process in the
// kernel's count maps) each round, a file read apiece. Taken after the kernel's maps were read, a
// process missing here is one that exited: every pid in a map snapshot existed before the
// listing. A zombie counts as alive until it is reaped (its post-mortem window starts then).
import * as fs from 'node:fs';

export class AliveCache {
  private pids = new Set<number>();

  constructor(private readonly procDir = '/proc') {}

  /** Lists the processes living now (thread-group leaders: /proc lists no other thread). */
  refresh(): void {
    const next = new Set<number>();
    for (const d of fs.readdirSync(this.procDir)) if (/^\d+$/.test(d)) next.add(Number(d));
    this.pids = next;
  }

  /** Whether pid lived at the last refresh. */
  readonly isAlive = (pid: number): boolean => this.pids.has(pid);

  get size(): number {
    return this.pids.size;
  }
}
