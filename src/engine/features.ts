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
/** btf_trace_NAME typedefs mark the raw tracepoints (bpf_probe.h); only their names are kept. The
 * NUL that starts each string is checked apart: a needle beginning with NUL matches at every one
 * of the section's ~100,000 string ends, and Buffer.indexOf then took 3 times as long (10 ms). */
const MARKER = Buffer.from('btf_trace_');

/** The names after every "\0btf_trace_" in the string section of a raw BTF file, read through one
 * small buffer: a raw tracepoint's name is all that is asked here, and holding the whole 2-3 MB
 * section cost `count 't:vmscan:*'` as much as 100 ms on a VM where first touching fresh memory is
 * dear (sysfs gives the file 4 KiB per read() either way). A file without a BTF header: none.
 * With `wanted`, the reading stops once every name in it has been seen: the btf_trace_ names sit
 * in the first half of the section, a subsystem's together (vmscan's 17 within 700 bytes, 400 KB
 * in), so `count 't:vmscan:*'` reads a sixth of it; `complete` says whether the whole was read. */
export function btfTraceNamesIn(file: string, wanted?: ReadonlySet<string>): Set<string> & { complete?: boolean } {
  const names: Set<string> & { complete?: boolean } = new Set<string>();
  names.complete = true;
  let missing = wanted?.size ?? -1;
  const fd = fs.openSync(file, 'r');
  try {
    const hdr = Buffer.alloc(24);
    if (fs.readSync(fd, hdr, 0, 24, 0) !== 24 || hdr.readUInt16LE(0) !== 0xeb9f) return names;
    const strStart = hdr.readUInt32LE(4) + hdr.readUInt32LE(16);
    const strEnd = strStart + hdr.readUInt32LE(20);
    const buf = Buffer.alloc(64 * 1024);
    let pos = strStart;
    let kept = 0; // bytes carried over from the previous chunk
    for (;;) {
      const n = pos < strEnd ? fs.readSync(fd, buf, kept, Math.min(buf.length - kept, strEnd - pos), pos) : 0;
      pos += n;
      const len = kept + n;
      const last = n === 0 || pos >= strEnd;
      const view = buf.subarray(0, len);
      // Every chunk after the first starts with the last MARKER.length bytes of the one before: a
      // marker cut by the boundary is whole here, with the byte before it (the NUL that makes it
      // a string's start). A match at 0 was found in the chunk before (at offset 0 of the section
      // is the empty string, so the first chunk has none there either).
      let carry = last ? len : Math.max(0, len - MARKER.length);
      for (let i = view.indexOf(MARKER, 1); i >= 0; i = view.indexOf(MARKER, i + 1)) {
        if (view[i - 1] !== 0) continue;
        const start = i + MARKER.length;
        const end = view.indexOf(0, start);
        if (end < 0) {
          carry = Math.min(carry, i - 1); // the name runs on into the next chunk
          break;
        }
        if (end > start) {
          const name = view.toString('latin1', start, end);
          names.add(name);
          if (wanted?.has(name) && --missing === 0) {
            names.complete = false; // the rest of this chunk and file unread
            return names;
          }
        }
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
  return btfTracepointsAmong([name]).has(name);
}

/** Raw tracepoint names known to exist, and whether that is all of them (the whole file was read). */
const btfSeen = new Set<string>();
let btfSeenAll = false;

/** Those of `names` kernel BTF knows as raw tracepoints. Tools asking about many (`count
 * 't:vmscan:*'`) ask at once: one pass, which stops once all of them are found. No kernel BTF (or
 * not readable): none, so tp_btf sources are not offered. */
export function btfTracepointsAmong(names: readonly string[]): Set<string> {
  const unknown = new Set(names.filter((n) => !btfSeen.has(n)));
  if (unknown.size > 0 && !btfSeenAll) {
    try {
      const found = btfTraceNamesIn(VMLINUX_BTF, unknown);
      for (const n of found) btfSeen.add(n);
      btfSeenAll = found.complete === true;
    } catch {
      btfSeenAll = true;
    }
  }
  return new Set(names.filter((n) => btfSeen.has(n)));
}
