// SPDX-License-Identifier: Apache-2.0
// memscope's own vDSO image: the kernel maps the same one into every (64-bit) process, so it names
// and unwinds vDSO frames of any process. Read once from /proc/self/mem into a private temporary
// file (ElfFile and the CFI reader read files), which exists only while `use` runs.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElfFile } from './elf';

let image: Buffer | null | undefined;

/** The bytes of memscope's own [vdso] mapping, or null when it has none or it cannot be read. */
export function vdsoImage(): Buffer | null {
  if (image !== undefined) return image;
  image = null;
  try {
    const m = /^([0-9a-f]+)-([0-9a-f]+) .*\[vdso\]$/m.exec(fs.readFileSync('/proc/self/maps', 'utf8'));
    if (!m) return null;
    const start = parseInt(m[1], 16);
    const size = parseInt(m[2], 16) - start;
    const buf = Buffer.alloc(size);
    const fd = fs.openSync('/proc/self/mem', 'r');
    try {
      if (fs.readSync(fd, buf, 0, size, start) === size) image = buf;
    } finally {
      fs.closeSync(fd);
    }
  } catch { // no [vdso] or no access to /proc/self/mem: vDSO frames stay unnamed
    image = null;
  }
  return image;
}

/** Parses the vDSO image and runs `use` on it while its temporary file exists (read what you
 * need from the file inside `use`); null when there is no image. */
export function withVdso<T>(use: (elf: ElfFile) => T): T | null {
  const img = vdsoImage();
  if (!img) return null;
  // a private directory (mode 0700, a name nobody could plant beforehand) and an exclusive create:
  // a guessable name in the shared /tmp could be a link planted by another user
  let dir: string | undefined;
  try {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-vdso-'));
    const file = path.join(dir, 'vdso.so');
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, img);
    } finally {
      fs.closeSync(fd);
    }
    const elf = ElfFile.read(file);
    return elf ? use(elf) : null;
  } catch { // cannot write the temporary copy or it does not parse: no vDSO symbols, nothing else lost
    return null;
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

let vdsoElf: ElfFile | null | undefined;

/** The vDSO as an ElfFile with its symbols already read (its file is gone afterwards). */
export function vdsoSymbols(): ElfFile | null {
  if (vdsoElf === undefined) {
    vdsoElf = withVdso((elf) => {
      elf.symbols(); // cached by the ElfFile
      return elf;
    });
  }
  return vdsoElf;
}
