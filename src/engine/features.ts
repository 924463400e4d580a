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

function btf(): Buffer | null {
  if (vmlinuxBtf === undefined) {
    try {
      vmlinuxBtf = fs.readFileSync('/sys/kernel/btf/vmlinux');
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
