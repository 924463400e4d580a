// SPDX-License-Identifier: Apache-2.0
// The one way memscope writes an output file (--svg, --html, --folded/--json to a file). memscope
// runs as root in directories other users can write (/tmp): a symlink planted at the path must
// never redirect the write onto a file of root's. So: never open the final path itself; create a
// new temporary file beside it (O_CREAT|O_EXCL|O_NOFOLLOW: a planted name fails instead of being
// followed) and rename it over the final name (rename replaces a symlink, never writes through it).
// Paths are checked before tracing starts, so a typo costs one line, not a lost trace.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './errors';
import { escapeText } from './escape';

function describe(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'ENAMETOOLONG':
      return 'the name is too long';
    default:
      return code ?? (e instanceof Error ? e.message : String(e));
  }
}

function refuse(file: string, why: string): never {
  throw new UsageError(`cannot write ${file}: ${why}`); // escaped once, where the message is printed
}

/** Refuses (UsageError, one line) a path memscope must not or cannot write; call before tracing. */
export function checkOutputPath(file: string | undefined, option = 'output'): void {
  if (file === undefined) return;
  if (file === '') throw new UsageError(`${option} needs a file name (got an empty one)`);
  const abs = path.resolve(file);
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') refuse(file, describe(e));
  }
  if (st?.isSymbolicLink()) refuse(file, 'it is a symbolic link (memscope does not write through links)');
  if (st?.isDirectory()) refuse(file, 'it is a directory');
  if (st && !st.isFile()) refuse(file, 'it is not a regular file');
  const dir = path.dirname(abs);
  let dst: fs.Stats;
  try {
    dst = fs.statSync(dir);
  } catch (e) {
    refuse(file, describe(e));
  }
  if (!dst.isDirectory()) refuse(file, 'a component of the path is not a directory');
  try {
    // W_OK honours read-only mounts; root passes it on any directory mode, which is right for root
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    refuse(file, `its directory is not writable (${describe(e)})`);
  }
}

/** Writes `data` to `file` without following links (a new file beside it, then rename) and says
 * so on stderr: "memscope: wrote FILE (NOTE)". */
export function writeOutputFile(file: string, data: string | Buffer, note?: string): void {
  checkOutputPath(file);
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  let tmp = '';
  let fd = -1;
  for (let i = 0; fd < 0; i++) {
    tmp = path.join(dir, `.${path.basename(abs).slice(0, 200)}.memscope-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
    try {
      fd = fs.openSync(tmp, flags, 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i > 10) refuse(file, describe(e));
    }
  }
  try {
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // the final name may have become a link or directory since the check: rename replaces a link
    // (the link, not its target) and fails on a directory
    const st = lstatOrNull(abs);
    if (st && (st.isDirectory() || !(st.isFile() || st.isSymbolicLink()))) refuse(file, 'it is not a regular file');
    fs.renameSync(tmp, abs);
    tmp = '';
    process.stderr.write(`memscope: wrote ${escapeText(file)}${note ? ` (${note})` : ''}\n`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    refuse(file, describe(e));
  } finally {
    if (tmp) fs.rmSync(tmp, { force: true });
  }
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}
