// SPDX-License-Identifier: Apache-2.0
// The user stack of the task that triggered an OOM kill, as oomkill prints it and the agent's
// post-mortems keep it. The trigger is often the victim, SIGKILLed at the event: gone before its
// /proc/PID/maps could be read, so a frame-pointer stack is a walked stack (ms_plain_ustacks) whose
// storing sends the mappings of its frames on the sample ring, then a note of the stack; each kill
// waits for that note (or for its DWARF sample, --unwind) before its stack is named.
import type { BpfObject } from '../engine/bpf-object';
import { sizeStackMaps, StackReader } from '../engine/stacks';
import type { Symbolizer } from '../symbols/symbolizer';
import type { DwarfStacks } from '../unwind/dwarf-stacks';
import { EventStacks } from '../unwind/event-stacks';
import { nameStackId } from '../engine/stack-counts';

/** Distinct walked trigger stacks kept (one per process and stack; allocated as stored). */
const WALKED_STACKS = 1024;
/** How long a kill waits for its trigger's DWARF sample or stack note before it is given without. */
const WAIT_MS = 500;

/** Frame-pointer trigger stacks as walked stacks, their mappings on the sample ring (before load). */
export function configureWalkedTriggers(obj: BpfObject): void {
  sizeStackMaps(obj, { walked: WALKED_STACKS });
  // mappings (each ~2 KiB) sent once per process (an LRU map: preallocated, so sized for OOMs' rate)
  obj.setMaxEntries('ms_dwarf_samples', 1 << 20).setMaxEntries('ms_sent_maps', 1024);
}

/** Kills held until their trigger's stack can be named, then handed to `emit` with its frames. */
export class TriggerStacks<E> {
  private reader: StackReader | undefined;
  private readonly kills: EventStacks<E>;

  /** walked: the object was configured with configureWalkedTriggers (else DWARF samples or
   * build-id stacks) */
  constructor(
    private readonly dwarf: DwarfStacks,
    symbolizer: Symbolizer,
    emit: (kill: E, ustack: string[] | undefined) => void,
    walked: boolean,
  ) {
    this.kills = new EventStacks<E>(
      dwarf,
      (pid, ustack) => (ustack >= 0 && this.reader ? nameStackId(symbolizer, this.reader, pid, ustack) : []),
      emit,
      WAIT_MS,
      walked,
    );
  }

  /** After load: the object's stack maps and its sample ring (DWARF samples, or the mappings and
   * notes of walked stacks). exits: see DwarfStacks.listen. */
  listen(obj: BpfObject, exits = true): void {
    this.reader = new StackReader(obj);
    this.dwarf.listen(obj, exits);
  }

  push(kill: E, e: { trig_tid: number; trig_pid: number; trig_ustack: number; trig_seq: number }): void {
    this.kills.push(kill, e.trig_tid, e.trig_pid, e.trig_ustack, e.trig_seq);
  }

  /** Kills shown with [stack lost], and trigger samples that joined no kill (EventStacks). */
  get lost(): number {
    return this.kills.lost;
  }

  get unjoined(): number {
    return this.kills.unjoined;
  }

  /** Kills shown with EXECED: the trigger's walked stack was of a program it had left (EventStacks). */
  get execed(): number {
    return this.kills.execed;
  }

  /** Frees a walked stack once its kill was named (a long-running reader: the map does not fill).
   * The next kill with that stack stores and notes it again. */
  free(obj: BpfObject, ustack: number): void {
    if (ustack < 0) return;
    const k = Buffer.alloc(4);
    k.writeInt32LE(ustack);
    obj.deleteKeys('ms_walked_ustacks', k);
    this.reader?.forgetUser(ustack);
  }

  /** At the end: the kills still waiting get what arrived (the sample ring drained first). */
  async close(obj: BpfObject): Promise<void> {
    if (this.kills.waiting) await this.dwarf.drain(obj);
    this.kills.close();
  }
}
