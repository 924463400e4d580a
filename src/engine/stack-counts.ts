// SPDX-License-Identifier: Apache-2.0
// Reading a "count by stack" map (key struct ms_stack_key) into symbolized stacks.
import type { BpfObject } from './bpf-object';
import { StackReader } from './stacks';
import { struct, eachEntry } from './struct';
import type { CountedStack, Frame } from '../core/frames';
import type { Symbolizer } from '../symbols/symbolizer';

export const STACK_KEY = struct([
  ['tgid', 'u32'],
  ['ustack', 's32'],
  ['kstack', 's32'],
  ['comm', 'char[16]'],
] as const, { c: 'ms_stack_key' });

export interface StackCountReader {
  /** Reads (and with clear, empties) the map; stacks are symbolized as they are read. */
  read(opts?: { clear?: boolean; onIds?: (ustack: number, kstack: number) => void; quiet?: boolean }): CountedStack[];
  /** How many events had no user stack because the stack map was full. */
  readonly stacks: StackReader;
}

const NOT_WANTED = -1; // ms_count_stack's key when no stack was asked for

/** A stack the kernel could not store (bpf_get_stackid's errno), shown as BCC does, not as empty. */
export function missed(kind: string, id: number): Frame {
  const why = id === -17 ? 'stack map bucket taken (hash collision)' : id === -12 ? 'stack map full' : id === -14 ? 'stack not readable' : `error ${-id}`;
  return { addr: 0n, symbol: `[missed ${kind} stack: ${why}]`, offset: 0, module: null, note: true };
}

export function stackCounts(obj: BpfObject, map: string, symbolizer: Symbolizer): StackCountReader {
  const stacks = new StackReader(obj);
  return {
    stacks,
    read(opts = {}) {
      const out: CountedStack[] = [];
      let lost = 0;
      for (const [k, v] of eachEntry(obj.entries(map, opts.clear ?? false), STACK_KEY)) {
        const count = Number(v.readBigUInt64LE(0));
        opts.onIds?.(k.ustack, k.kstack);
        if (k.ustack < NOT_WANTED || k.kstack < NOT_WANTED) lost += count;
        out.push({
          pid: k.tgid,
          comm: k.comm,
          count,
          user: k.ustack < NOT_WANTED ? [missed('user', k.ustack)] : symbolizer.user(k.tgid, stacks.userStack(k.ustack)),
          kernel: k.kstack < NOT_WANTED ? [missed('kernel', k.kstack)] : symbolizer.kernel(stacks.kernelStack(k.kstack)),
        });
      }
      if (lost > 0 && !opts.quiet)
        process.stderr.write(`memscope: ${lost} events were counted without a stack the kernel could not store (see [missed ... stack] entries)\n`);
      return out;
    },
  };
}
