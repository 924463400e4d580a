// What the running kernel offers, probed once per process and cached.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

const TRACEFS_ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

let tracefsRoot: string | null | undefined;

/** The tracefs mount (classic tracepoints are found through it), mounted here if nobody has. */
export function tracefs(): string | null {
  if (tracefsRoot === undefined) {
    tracefsRoot = TRACEFS_ROOTS.find((r) => fs.existsSync(`${r}/events`)) ?? null;
    if (tracefsRoot === null && fs.existsSync(TRACEFS_ROOTS[0])) {
      spawnSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS_ROOTS[0]], { stdio: 'ignore' });
      if (fs.existsSync(`${TRACEFS_ROOTS[0]}/events`)) tracefsRoot = TRACEFS_ROOTS[0];
    }
  }
  return tracefsRoot;
}

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
    } catch {
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
