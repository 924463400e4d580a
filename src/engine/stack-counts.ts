// SPDX-License-Identifier: Apache-2.0
// Reading a "count by stack" map (key struct ms_stack_key) into symbolized stacks.
import type { BpfObject } from './bpf-object';
import { StackReader } from './stacks';
import { struct, eachEntry } from './struct';
import type { CountedStack, Frame, UserFrame } from '../core/frames';
import type { PinnedStack, Symbolizer } from '../symbols/symbolizer';
import { evictions } from '../symbols/cache-caps';

export const STACK_KEY = struct(
  [
    ['tgid', 'u32'],
    ['ustack', 's32'],
    ['kstack', 's32'],
    ['comm', 'char[16]'],
  ] as const,
  { c: 'ms_stack_key' },
);

export interface StackCountReader {
  /** Reads (and with clear, empties) the map; stacks are symbolized as they are read. */
  read(opts?: { clear?: boolean; onIds?: (ustack: number, kstack: number) => void; quiet?: boolean }): CountedStack[];
  /** How many events had no user stack because the stack map was full. */
  readonly stacks: StackReader;
  /** Names the user stacks counted since the last call while their processes live (runs every
   * NAME_EVERY_MS from DwarfStacks.nameWhileAlive): an exited process's mappings may be forgotten
   * past MAX_PROCESSES before the end of the run. */
  nameNew(): void;
}

const NOT_WANTED = -1; // ms_count_stack's key when no stack was asked for

/** A stack the kernel could not store (bpf_get_stackid's errno), shown as BCC does, not as empty. */
export function missed(kind: string, id: number): Frame {
  const why = id === -17 ? 'stack map bucket taken (hash collision)' : id === -12 ? 'stack map full' : id === -14 ? 'stack not readable' : `error ${-id}`;
  return { addr: 0n, symbol: `[missed ${kind} stack: ${why}]`, offset: 0, module: null, note: true };
}

/** In place of the frames of a stack whose process exited before they were named, its mappings
 * forgotten (MAX_PROCESSES): said, never guessed (counted in the accounting's fp_unnamed). */
export const UNNAMED: Frame = { addr: 0n, symbol: '[process exited before its stack was named]', offset: 0, module: null, note: true };

/**
 * A user stack of pid pinned to its mappings (Symbolizer.pin), to be named later; null when it
 * holds bare addresses and pid's mappings are no longer known (reading another process's maps, or
 * guessing, could give wrong frames: it is shown as UNNAMED). Build-id frames need no mappings.
 */
export function pinUserStack(symbolizer: Symbolizer, pid: number, frames: UserFrame[]): PinnedStack | null {
  if (frames.some((f) => !('buildId' in f)) && !symbolizer.hasMaps(pid)) return null;
  return symbolizer.pin(pid, frames);
}

export function stackCounts(obj: BpfObject, map: string, symbolizer: Symbolizer): StackCountReader {
  const stacks = new StackReader(obj);
  // stacks pinned while their process lived, by `tgid/ustack` (at most the count map's entries)
  const pinned = new Map<string, PinnedStack>();
  const pin = (tgid: number, ustack: number) => {
    const key = `${tgid}/${ustack}`;
    let p = pinned.get(key);
    if (!p) {
      const now = pinUserStack(symbolizer, tgid, stacks.userStack(ustack));
      if (!now) return null;
      pinned.set(key, (p = now));
    }
    return p;
  };
  return {
    stacks,
    nameNew() {
      for (const [k] of eachEntry(obj.entries(map, false), STACK_KEY)) if (k.ustack >= 0) pin(k.tgid, k.ustack);
    },
    read(opts = {}) {
      const out: CountedStack[] = [];
      const toName: { pid: number; stack: PinnedStack }[] = [];
      const named: CountedStack[] = [];
      let lost = 0;
      for (const [k, v] of eachEntry(obj.entries(map, opts.clear ?? false), STACK_KEY)) {
        const count = Number(v.readBigUInt64LE(0));
        opts.onIds?.(k.ustack, k.kstack);
        if (k.ustack < NOT_WANTED || k.kstack < NOT_WANTED) lost += count;
        const p = k.ustack >= 0 ? pin(k.tgid, k.ustack) : null;
        let user = k.ustack < NOT_WANTED ? [missed('user', k.ustack)] : k.ustack === NOT_WANTED ? [] : p ? [] : null;
        if (!user) {
          user = [UNNAMED];
          evictions.unnamed += count;
        }
        const s: CountedStack = {
          pid: k.tgid,
          comm: k.comm,
          count,
          user,
          kernel: k.kstack < NOT_WANTED ? [missed('kernel', k.kstack)] : symbolizer.kernel(stacks.kernelStack(k.kstack)),
        };
        out.push(s);
        if (p) {
          toName.push({ pid: k.tgid, stack: p });
          named.push(s);
        }
      }
      // named one file at a time (Symbolizer.nameAll)
      symbolizer.nameAll(toName).forEach((frames, i) => (named[i].user = frames));
      if (opts.clear) pinned.clear();
      if (lost > 0 && !opts.quiet)
        process.stderr.write(`memscope: ${lost} events were counted without a stack the kernel could not store (see [missed ... stack] entries)\n`);
      return out;
    },
  };
}
