// SPDX-License-Identifier: Apache-2.0
// What the running kernel offers, probed once per process and cached.
import * as fs from 'node:fs';
import { tracefs } from '../procfs/tracefs';

/** Classic tracepoint "category/name" exists (its format file is readable). */
export function tracepointExists(tp: string): boolean {
  const root = tracefs();
  return root !== null && fs.existsSync(`${root}/events/${tp}/format`);
}

let vmlinuxBtf: Buffer | null | undefined;

/** Only the string section of a raw BTF file: every question asked here is about a name, and
 * sysfs gives the file 4 KiB per read(), so the 3 MB of types before the strings cost ~800
 * syscalls for nothing (count 't:vmscan:*' paid them before attaching). A header that does not
 * parse falls back to the whole file. */
function btfStrings(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const hdr = Buffer.alloc(24);
    if (fs.readSync(fd, hdr, 0, 24, 0) === 24 && hdr.readUInt16LE(0) === 0xeb9f) {
      const hdrLen = hdr.readUInt32LE(4);
      const strOff = hdr.readUInt32LE(16);
      const strLen = hdr.readUInt32LE(20);
      const out = Buffer.alloc(strLen);
      let got = 0;
      for (let n = 1; got < strLen && n > 0; got += n) n = fs.readSync(fd, out, got, strLen - got, hdrLen + strOff + got);
      if (got === strLen) return out;
    }
  } finally {
    fs.closeSync(fd);
  }
  return fs.readFileSync(file);
}

function btf(): Buffer | null {
  if (vmlinuxBtf === undefined) {
    try {
      vmlinuxBtf = btfStrings('/sys/kernel/btf/vmlinux');
    } catch { // no kernel BTF (or not readable): tp_btf sources are then not offered
      vmlinuxBtf = null;
    }
  }
  return vmlinuxBtf;
}

/** Kernel BTF knows the raw tracepoint `name` (what tp_btf/NAME needs): it has a btf_trace_NAME typedef. */
export function btfTracepointExists(name: string): boolean {
  return btfTracepoints().has(name);
}

let btfTraceNames: Set<string> | undefined;

/** Every raw tracepoint name kernel BTF knows, collected in one pass (tools asking about many
 * tracepoints, like `count 't:vmscan:*'`, would otherwise search 5 MB of BTF for each). */
function btfTracepoints(): Set<string> {
  if (!btfTraceNames) {
    btfTraceNames = new Set();
    const b = btf();
    const marker = Buffer.from('\0btf_trace_');
    for (let i = b ? b.indexOf(marker) : -1; b && i >= 0; i = b.indexOf(marker, i + 1)) {
      const start = i + marker.length;
      const end = b.indexOf(0, start);
      if (end > start) btfTraceNames.add(b.toString('latin1', start, end));
    }
  }
  return btfTraceNames;
}

export function hasKernelBtf(): boolean {
  return btf() !== null;
}

/** Kernel BTF contains the given identifier (a function, struct or enumerator name). */
export function btfHasName(name: string): boolean {
  const b = btf();
  return b !== null && b.indexOf(`\0${name}\0`) >= 0;
}
