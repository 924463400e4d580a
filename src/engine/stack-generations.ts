// SPDX-License-Identifier: Apache-2.0
// Emptying the walked stack stores between interval reports (stacks.h ms_stack_gen, issue 10):
// without it a store filled over a long run (16,384 stacks of every process seen since the start)
// and later intervals lost their stacks as "stack map full". Kernel stacks (ms_kstacks, -K) are
// stored the same way (ms_store_stack, with the generation bit) and let go the same way.
import type { BpfObject } from './bpf-object';
import type { StackReader } from './stacks';

/** Bit 30 of a stack id: the generation it was stored in (stacks.h MS_GEN_BIT). */
const GEN_BIT = 0x4000_0000;
const USER_STORE = 'ms_walked_ustacks';
const KERNEL_STORE = 'ms_kstacks';

const genOf = (id: number) => (id & GEN_BIT ? 1 : 0);

/**
 * An interval tool's store of walked user stacks, one generation per interval: flip() before the
 * interval's counts are read (events from then on store their stacks anew, under ids of the new
 * generation), saw() each user stack id the read met, freeOld() once the report is out. Every
 * stored stack is met in a count read: the event that stored it adds to a count map just after
 * (a count the map had no room for is lost with its stack id, which then stays to the end).
 */
export class StackGenerations {
  private gen = 0;
  private readonly ids: [Set<number>, Set<number>] = [new Set(), new Set()];
  private readonly kernelIds: [Set<number>, Set<number>] = [new Set(), new Set()];

  constructor(private readonly obj: BpfObject) {}

  /** Whether the object stores its walked stacks in generations (stacks.h with ms_stack_gen): its
   * user stacks walked (ms_plain_ustacks; build-id ids carry no generation), or none wanted (-K). */
  static usable(obj: BpfObject, user = true): boolean {
    return obj.hasGlobal('ms_plain_ustacks') && (!user || obj.readGlobalU8('ms_plain_ustacks') !== 0);
  }

  /** New stacks go to the other generation from now on. The pause lets an event that read the
   * old generation just before finish adding its count (a BPF program runs for microseconds), so
   * the read that follows meets its stack id. */
  async flip(): Promise<void> {
    this.gen ^= 1;
    const k = Buffer.alloc(4);
    const v = Buffer.alloc(4);
    v.writeUInt32LE(this.gen);
    this.obj.update('ms_stack_gen', k, v);
    await new Promise((r) => setTimeout(r, 10));
  }

  /** The stack ids a count read met (negative: none stored; kstack absent: a tool without -K). */
  saw(ustack: number, kstack = -1): void {
    if (ustack >= 0) this.ids[genOf(ustack)].add(ustack);
    if (kstack >= 0) this.kernelIds[genOf(kstack)].add(kstack);
  }

  /** Deletes the stacks of the generation left at the last flip from the store and from the
   * readers' caches; returns how many. Those of the current generation stay: events after the
   * flip meet them there until the next one. */
  freeOld(readers: Iterable<Pick<StackReader, 'forgetUser' | 'forgetKernel'>>): number {
    const users = [...readers];
    const old = this.ids[this.gen ^ 1];
    const oldKernel = this.kernelIds[this.gen ^ 1];
    for (const id of old) for (const r of users) r.forgetUser(id);
    for (const id of oldKernel) for (const r of users) r.forgetKernel(id);
    const n = this.deleteAll(USER_STORE, old) + this.deleteAll(KERNEL_STORE, oldKernel);
    old.clear();
    oldKernel.clear();
    return n;
  }

  private deleteAll(map: string, ids: Set<number>): number {
    if (!ids.size) return 0;
    const keys = Buffer.allocUnsafe(ids.size * 4);
    let j = 0;
    for (const id of ids) keys.writeUInt32LE(id, j++ * 4);
    return this.obj.deleteKeys(map, keys);
  }
}
