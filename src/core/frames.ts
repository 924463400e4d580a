// SPDX-License-Identifier: Apache-2.0
// Stack frames and counted stacks: the shapes the symbolizer produces, the unwinder and the
// stack-count readers fill, and the renderers print. They live here, below every layer, so that
// none of those layers has to import another one sideways or upward just for a type.

/** A user frame as the kernel recorded it: by build id and file offset, or a bare address. */
export type UserFrame = { buildId: string; fileOffset: bigint } | { ip: bigint };

export interface Frame {
  addr: bigint;
  /** Function name, or null when nothing is known about the address. */
  symbol: string | null;
  offset: number;
  /** Basename of the binary or kernel module; null when unknown. */
  module: string | null;
  /** Not a frame but a note in its place (e.g. where unwinding stopped), printed as the symbol alone. */
  note?: boolean;
}

export const UNKNOWN = '[unknown]';

/** "func+0x1c [module]" as BCC prints frames; "[unknown] [module]" or "[unknown]" when unresolved. */
export function formatFrame(f: Frame, opts: { offset?: boolean; module?: boolean } = {}): string {
  if (f.note) return f.symbol ?? UNKNOWN;
  const name = f.symbol ?? UNKNOWN;
  const off = opts.offset !== false && f.symbol ? `+0x${f.offset.toString(16)}` : '';
  const mod = opts.module !== false && f.module ? ` [${f.module}]` : '';
  return `${name}${off}${mod}`;
}

/** Frame name for folded stacks and flame graphs: the function, or [module] when only that is known. */
export function frameName(f: Frame): string {
  if (f.symbol) return f.symbol;
  return f.module ? `[${f.module}]` : UNKNOWN;
}

export interface CountedStack {
  pid: number;
  comm: string;
  /** Events (or bytes, for allocation tools) attributed to this stack. */
  count: number;
  /** Innermost first, as captured. */
  user: Frame[];
  kernel: Frame[];
  /** Extra per-stack fields for JSON (e.g. allocations alongside bytes). */
  extra?: Record<string, unknown>;
}

/** User frames as one string, innermost first, comma-separated: `ip` in hex, or `buildId+offset`
 * (offset in hex). A stack kept or compared by this string costs one flat string instead of an
 * object and a bigint per frame (the agent's stack stores key and keep their stacks this way). */
export function userFramesText(frames: readonly UserFrame[]): string {
  const parts = new Array<string>(frames.length);
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    parts[i] = 'ip' in f ? f.ip.toString(16) : `${f.buildId}+${f.fileOffset.toString(16)}`;
  }
  return parts.join(',');
}

/** The frames userFramesText wrote. */
export function parseUserFramesText(text: string): UserFrame[] {
  if (text === '') return [];
  return text.split(',').map((f) => {
    const plus = f.indexOf('+');
    return plus < 0 ? { ip: BigInt(`0x${f}`) } : { buildId: f.slice(0, plus), fileOffset: BigInt(`0x${f.slice(plus + 1)}`) };
  });
}
