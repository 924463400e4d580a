// SPDX-License-Identifier: Apache-2.0
// OOM kills from the kernel log as they happen: /dev/kmsg stays open (non-blocking) and each poll
// reads only the records added since the last one. The recent lines are kept in a bounded window
// and re-parsed when an OOM report is in it, so a report split across polls completes later.
import * as fs from 'node:fs';
import { LogLine, parseKernelLog } from '../procfs/kmsg';
import { bootTimeMs, oomFromKernelLog } from './fallback';
import { OomRecord } from './types';

const WINDOW_LINES = 4000;
const MAX_RECORDS = 200;

export class KmsgOoms {
  private fd: number | null = null;
  private readonly buf = Buffer.alloc(16384);
  private lines: LogLine[] = [];
  private readonly byKey = new Map<string, OomRecord>();
  private nextId = 1;
  private readonly boot = bootTimeMs();

  constructor(private readonly file = '/dev/kmsg') {
    try {
      this.fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch {
      this.fd = null; // not root, or no kmsg: the OOM view says so
    }
  }

  get available(): boolean {
    return this.fd !== null;
  }

  /** Reads new records; returns the OOM records that appeared since the last poll. */
  poll(): OomRecord[] {
    if (this.fd === null) return [];
    const chunks: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      let n: number;
      try {
        n = fs.readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EPIPE' || code === 'EINVAL') continue; // overwritten while we read: go on
        break; // EAGAIN: nothing more
      }
      if (n === 0) break;
      chunks.push(this.buf.toString('utf8', 0, n));
    }
    if (!chunks.length) return [];
    const fresh = parseKernelLog(chunks.join(''));
    this.lines = this.lines.concat(fresh);
    if (this.lines.length > WINDOW_LINES) this.lines = this.lines.slice(-WINDOW_LINES);
    if (!fresh.some((l) => /oom-kill|Killed process|invoked oom-killer/.test(l.text))) return [];
    const added: OomRecord[] = [];
    for (const r of oomFromKernelLog(this.lines, this.boot)) {
      if (!r.victim) continue; // the report is not complete yet
      const key = `${r.t}/${r.victim.pid}`;
      if (this.byKey.has(key)) continue;
      r.id = this.nextId++;
      this.byKey.set(key, r);
      added.push(r);
      if (this.byKey.size > MAX_RECORDS) this.byKey.delete(this.byKey.keys().next().value!);
    }
    return added;
  }

  records(): OomRecord[] {
    return [...this.byKey.values()];
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
