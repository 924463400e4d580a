// Reading a "count by stack" map (key struct ms_stack_key) into symbolized stacks.
import type { BpfObject } from './bpf-object';
import { StackReader } from './stacks';
import { struct, eachEntry } from './struct';
import type { Symbolizer } from '../symbols/symbolizer';
import type { CountedStack } from '../render/stacks';

export const STACK_KEY = struct([
  ['tgid', 'u32'],
  ['ustack', 's32'],
  ['kstack', 's32'],
  ['comm', 'char[16]'],
] as const);

export interface StackCountReader {
  /** Reads (and with clear, empties) the map; stacks are symbolized as they are read. */
  read(opts?: { clear?: boolean }): CountedStack[];
  /** How many events had no user stack because the stack map was full. */
  readonly stacks: StackReader;
}

export function stackCounts(obj: BpfObject, map: string, symbolizer: Symbolizer): StackCountReader {
  const stacks = new StackReader(obj);
  return {
    stacks,
    read(opts = {}) {
      const out: CountedStack[] = [];
      for (const [k, v] of eachEntry(obj.entries(map, opts.clear ?? false), STACK_KEY)) {
        out.push({
          pid: k.tgid,
          comm: k.comm,
          count: Number(v.readBigUInt64LE(0)),
          user: symbolizer.user(k.tgid, stacks.userStack(k.ustack)),
          kernel: symbolizer.kernel(stacks.kernelStack(k.kstack)),
        });
      }
      return out;
    },
  };
}
