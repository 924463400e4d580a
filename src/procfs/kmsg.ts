// SPDX-License-Identifier: Apache-2.0
// The kernel log: /dev/kmsg read without blocking (every record still in the ring buffer), or
// text as dmesg prints it ("[  12.345678] message"), or raw kmsg records ("4,349,1023273551,-;message").
import * as fs from 'node:fs';
import { MemscopeError } from '../core/errors';

export interface LogLine {
  /** Seconds since boot, when the line carries a timestamp. */
  time?: number;
  text: string;
}

function unescapeKmsg(s: string): string {
  return s.replace(/\\x([0-9a-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * Parses kernel log text in any of the usual shapes. Lines without a timestamp continue the previous
 * line (a printed book or a wrapped terminal splits long lines); kmsg dictionary lines (" KEY=value")
 * are dropped.
 */
export function parseKernelLog(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line.trim() || line.trim() === '[...]') continue; // elisions in quoted logs
    const kmsg = /^(\d+),(\d+),(\d+),[^;]*;(.*)$/.exec(line);
    if (kmsg) {
      out.push({ time: Number(kmsg[3]) / 1e6, text: unescapeKmsg(kmsg[4]) });
      continue;
    }
    const dmesg = /^\[\s*(\d+\.\d+)\]\s?(.*)$/.exec(line);
    if (dmesg) {
      out.push({ time: Number(dmesg[1]), text: dmesg[2] });
      continue;
    }
    // journalctl -k / syslog: "Nov 27 08:41:28 host kernel: [ 12.3] message" or without the stamp
    const sys = /^\w{3}\s+\d+\s+[\d:]+\s+\S+\s+kernel:\s*(?:\[\s*(\d+\.\d+)\]\s?)?(.*)$/.exec(line);
    if (sys) {
      out.push({ time: sys[1] ? Number(sys[1]) : undefined, text: sys[2] });
      continue;
    }
    if (/^ [A-Z_]+=/.test(line) && out.length) continue; // kmsg dictionary
    if (out.length) out[out.length - 1].text += ' ' + line.trim();
    else out.push({ text: line });
  }
  return out;
}

/** Every record in the kernel's log buffer now, without waiting for new ones. */
export function readKmsg(file = '/dev/kmsg'): LogLine[] {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MemscopeError(
      code === 'EACCES' || code === 'EPERM'
        ? `cannot read ${file} (${code}): run as root, or pass a saved log with -f FILE`
        : `cannot open ${file}: ${(e as Error).message}`,
    );
  }
  const buf = Buffer.alloc(16384); // one record per read; records are at most ~8 KiB
  const chunks: string[] = [];
  try {
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break; // read everything there is
        if (code === 'EPIPE') continue; // records were overwritten while reading: go on with the next
        if (code === 'EINVAL') continue;
        throw e;
      }
      if (n === 0) break;
      chunks.push(buf.toString('utf8', 0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return parseKernelLog(chunks.join(''));
}
