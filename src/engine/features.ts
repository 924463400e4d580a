// SPDX-License-Identifier: Apache-2.0
// What the running kernel offers, probed once per process and cached.
import * as fs from 'node:fs';
import { tracefs } from '../procfs/tracefs';

/** Classic tracepoint "category/name" exists (its format file is readable). */
export function tracepointExists(tp: string): boolean {
  const root = tracefs();
  return root !== null && fs.existsSync(`${root}/events/${tp}/format`);
}

const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';
/** btf_trace_NAME typedefs mark the raw tracepoints (bpf_probe.h); only their names are kept. */
const MARKER = Buffer.from('\0btf_trace_');

/** The names after every "\0btf_trace_" in the string section of a raw BTF file, read through one
 * small buffer: a raw tracepoint's name is all that is asked here, and holding the whole 2-3 MB
 * section cost `count 't:vmscan:*'` as much as 100 ms on a VM where first touching fresh memory is
 * dear (sysfs gives the file 4 KiB per read() either way). A file without a BTF header: none. */
export function btfTraceNamesIn(file: string): Set<string> {
  const names = new Set<string>();
  const fd = fs.openSync(file, 'r');
  try {
    const hdr = Buffer.alloc(24);
    if (fs.readSync(fd, hdr, 0, 24, 0) !== 24 || hdr.readUInt16LE(0) !== 0xeb9f) return names;
    const strStart = hdr.readUInt32LE(4) + hdr.readUInt32LE(16);
    const strEnd = strStart + hdr.readUInt32LE(20);
    const buf = Buffer.alloc(64 * 1024);
    let pos = strStart;
    let kept = 0; // bytes of an unfinished name carried over from the previous chunk
    for (;;) {
      const n = pos < strEnd ? fs.readSync(fd, buf, kept, Math.min(buf.length - kept, strEnd - pos), pos) : 0;
      pos += n;
      const len = kept + n;
      const last = n === 0 || pos >= strEnd;
      const view = buf.subarray(0, len);
      // a marker may straddle two chunks: its first bytes are kept for the next
      let carry = last ? len : Math.max(0, len - MARKER.length + 1);
      for (let i = view.indexOf(MARKER); i >= 0; i = view.indexOf(MARKER, i + 1)) {
        const start = i + MARKER.length;
        const end = view.indexOf(0, start);
        if (end < 0) {
          carry = Math.min(carry, i); // the name runs on into the next chunk
          break;
        }
        if (end > start) names.add(view.toString('latin1', start, end));
      }
      if (last) break;
      buf.copy(buf, 0, carry, len);
      kept = len - carry;
      if (kept >= buf.length / 2) kept = 0; // no name is that long: drop it rather than loop
    }
  } finally {
    fs.closeSync(fd);
  }
  return names;
}

/** Kernel BTF knows the raw tracepoint `name` (what tp_btf/NAME needs): it has a btf_trace_NAME typedef. */
export function btfTracepointExists(name: string): boolean {
  return btfTracepoints().has(name);
}

let btfTraceNames: Set<string> | undefined;

/** Every raw tracepoint name kernel BTF knows, collected in one pass (tools asking about many
 * tracepoints, like `count 't:vmscan:*'`, would otherwise search 5 MB of BTF for each). No kernel
 * BTF (or not readable): none, so tp_btf sources are not offered. */
function btfTracepoints(): Set<string> {
  if (!btfTraceNames) {
    try {
      btfTraceNames = btfTraceNamesIn(VMLINUX_BTF);
    } catch {
      btfTraceNames = new Set();
    }
  }
  return btfTraceNames;
}
