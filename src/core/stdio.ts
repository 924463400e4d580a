// SPDX-License-Identifier: Apache-2.0
// What memscope does when its output has nowhere to go. One mechanism for every tool, installed
// by the CLI entry before any tool runs:
// - a reader that went away (`memscope list | head -1`): the next write fails with EPIPE. Stop
//   quietly as coreutils do when SIGPIPE kills them: detach everything (the exit hook destroys every
//   BPF object) and exit with 141, the status a shell shows for a SIGPIPE death (Node ignores SIGPIPE,
//   so it cannot die of it). No message: the reader chose to stop reading.
// - stdout closed (`memscope ps >&-`): Node quietly reopens fd 1 on /dev/null, so output would be
//   lost and the exit 0. Say so in one line and exit non-zero instead.
// - raw control characters: the renderers escape the names they print (core/escape.ts); as a
//   last line of defence every text written to stdout or stderr passes the same escaping, keeping
//   only line breaks and tabs (and a carriage return that ends a progress line), so a name printed
//   by a path the renderers missed still cannot act on the terminal.
import * as fs from 'node:fs';
import { escapeTextKeepLines } from './escape';

/** Exit status after the reader of stdout went away (128 + SIGPIPE). */
export const EXIT_PIPE = 141;

const cleanups: (() => void)[] = [];

/** Runs before a quiet EPIPE exit (e.g. ending child processes); BPF objects are destroyed by their own exit hook. */
export function onOutputClosed(fn: () => void): void {
  cleanups.push(fn);
}

let closing = false;

function outputGone(code: number): never {
  if (!closing) {
    closing = true;
    for (const fn of cleanups) {
      try {
        fn();
      } catch {
        // the exit must happen whatever a cleanup does
      }
    }
  }
  process.exit(code);
}

/** True when memscope was started with fd 1 closed. bin/memscope looks before Node starts (Node then
 * opens /dev/null read-write in its place, so from here `>&-` and a parent's own /dev/null look
 * alike) and says so in MEMSCOPE_FD1, removed here so no child inherits it. Started without the
 * wrapper (node bin/memscope.js), the guess from here: Node's /dev/null is read-write and
 * close-on-exec, which a shell's `>/dev/null` is not. */
export function stdoutWasClosed(): boolean {
  const seen = process.env.MEMSCOPE_FD1;
  delete process.env.MEMSCOPE_FD1;
  if (seen === 'closed' || seen === 'open') return seen === 'closed';
  try {
    if (fs.readlinkSync('/proc/self/fd/1') !== '/dev/null') return false;
    const m = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync('/proc/self/fdinfo/1', 'utf8'));
    if (!m) return false;
    const flags = parseInt(m[1], 8);
    return (flags & 3) === fs.constants.O_RDWR && (flags & 0o2000000) !== 0; // O_CLOEXEC
  } catch {
    return false;
  }
}

// anything escapeTextKeepLines would change, but a carriage return at the end of a write
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\uffff\ud800-\udfff]/;

function filterWrites(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (...a: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string' && RAW.test(chunk)) {
      const cr = chunk.endsWith('\r') && !chunk.endsWith('\n\r');
      chunk = escapeTextKeepLines(cr ? chunk.slice(0, -1) : chunk) + (cr ? '\r' : '');
    }
    return write(chunk, ...rest);
  }) as typeof stream.write;
}

/** Installs the handlers; returns a one-line complaint when stdout is closed, else null. */
export function guardStdio(): string | null {
  filterWrites(process.stdout);
  filterWrites(process.stderr);
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ECONNRESET') outputGone(EXIT_PIPE);
    // any other write error (EIO on a hung-up terminal, ENOSPC on a full disk): output is lost,
    // so stop as well, but say why on stderr
    try {
      fs.writeSync(2, `memscope: cannot write the output: ${e.code ?? e.message}\n`);
    } catch {
      // stderr is gone too
    }
    outputGone(1);
  });
  // a closed stderr must not crash a run whose report goes to stdout
  process.stderr.on('error', () => {});
  return stdoutWasClosed() ? 'standard output is closed, so the output would be lost (redirect it to /dev/null to discard it)' : null;
}
