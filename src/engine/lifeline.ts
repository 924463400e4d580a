// SPDX-License-Identifier: Apache-2.0
// A memscope run by another memscope (triage runs eight tools as subprocesses) ends when its
// parent does, however the parent ended: Ctrl-C, SIGTERM, SIGHUP, a crash, or SIGKILL, which no
// handler in the parent can see.
//
// How: the parent passes one end of a socket pair as fd N and names N in MEMSCOPE_LIFELINE_FD;
// it never writes to it. The kernel closes the parent's end when the parent process goes, for
// any reason, and the child reads end-of-file. Chosen over prctl(PR_SET_PDEATHSIG) because the
// death signal follows the *thread* that forked (a spawn from a worker thread would fire when that
// thread ends), needs native code in the child before anything else runs, and leaves a window
// between fork and prctl() in which a parent's death goes unseen (closed only by re-checking
// getppid(), which names a subreaper, not 1, under systemd). The pipe has none of these: EOF is a
// property of the open file, seen even when the parent died before the child started reading.
import * as net from 'node:net';

export const LIFELINE_ENV = 'MEMSCOPE_LIFELINE_FD';

/** The spawn options that give a child its lifeline on fd 3 (stdio 0-2 as given). */
export function withLifeline(stdio: ['ignore' | 'pipe' | 'inherit', 'ignore' | 'pipe' | 'inherit', 'ignore' | 'pipe' | 'inherit'], env: NodeJS.ProcessEnv = process.env) {
  return { stdio: [...stdio, 'pipe'] as ('ignore' | 'pipe' | 'inherit')[], env: { ...env, [LIFELINE_ENV]: '3' } };
}

/** In the child: calls onLost once when the parent is gone. Does nothing without a lifeline. */
export function watchLifeline(onLost: () => void): void {
  const named = process.env[LIFELINE_ENV];
  if (named === undefined) return;
  // not for grandchildren (a -c command): their fd N is something else
  delete process.env[LIFELINE_ENV];
  let fired = false;
  const lost = () => {
    if (!fired) {
      fired = true;
      onLost();
    }
  };
  const fd = Number(named);
  if (!Number.isInteger(fd) || fd < 3) return;
  let sock: net.Socket;
  try {
    sock = new net.Socket({ fd, readable: true, writable: false });
  } catch {
    return lost(); // named but not open: the parent set it up and is already gone, or never was
  }
  sock.on('data', () => {}); // nothing is ever sent; reading is what reveals the end
  sock.on('end', lost);
  sock.on('close', lost);
  sock.on('error', lost);
  // the lifeline alone must not keep a finished tool running
  sock.unref();
}
