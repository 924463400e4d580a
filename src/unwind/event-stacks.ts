// SPDX-License-Identifier: Apache-2.0
// Per-event tools that print each event with its user stack (mmapsnoop -U, oomkill's trigger).
// An event whose stack is a DWARF sample waits, in order, for that sample: the event and sample
// ring buffers are delivered separately, so the sample may arrive just after its event, and it is
// unwound later, from DwarfStacks' queue (an event whose sample is queued waits until it is
// unwound). So does an event whose walked frame-pointer stack BPF notes on the sample ring
// (stackNotes): the mappings its frames lie in come there first, and naming it before them would
// need /proc/PID/maps, gone if the process died at the event (oomkill's trigger is often its victim).
import { formatFrame } from '../core/frames';
import { DwarfStacks, USTACK_DWARF } from './dwarf-stacks';

interface Waiting<E> {
  event: E;
  tid: number;
  pid: number;
  /** A stack id, USTACK_DWARF, or null when the tool wants no stack for it. */
  ustack: number | null;
  at: number;
}

export class EventStacks<E> {
  private queue: Waiting<E>[] = [];
  private sampled = new Map<number, string[][]>();
  /** "tgid/ustack" of the walked stacks whose notes arrived (their mappings are recorded). */
  private noted = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param frameStack formats a frame-pointer stack id (from the object's stack map)
   * @param emit prints one event with its stack (undefined when no stack was wanted)
   * @param waitMs how long an event waits for its DWARF sample (or stack note) to arrive before printing without it
   * @param stackNotes frame-pointer stacks are walked stacks noted on the sample ring
   *   (ms_note_new_stack, after their mappings; DwarfStacks.listen delivers the notes): an event
   *   waits for its stack's note before the stack is named
   */
  constructor(
    private readonly dwarf: DwarfStacks,
    private readonly frameStack: (pid: number, ustack: number) => string[],
    private readonly emit: (event: E, ustack: string[] | undefined) => void,
    private readonly waitMs = 250,
    private readonly stackNotes = false,
  ) {
    // a stack is stored and noted once per process: later events with it find it noted already
    if (stackNotes)
      dwarf.nameWhileAlive({
        noteNew: (tgid, ustack) => {
          this.noted.add(`${tgid}/${ustack}`);
          this.flush(false);
        },
        nameNew: () => {},
      });
    dwarf.perEvent = (tid, frames) => {
      const list = this.sampled.get(tid) ?? [];
      list.push(frames.map((f) => formatFrame(f)));
      this.sampled.set(tid, list);
      this.flush(false);
    };
  }

  get waiting(): number {
    return this.queue.length;
  }

  push(event: E, tid: number, pid: number, ustack: number | null): void {
    this.queue.push({ event, tid, pid, ustack, at: performance.now() });
    this.flush(false);
  }

  /** Prints what is left, without waiting for samples that did not come (for finish). */
  close(): void {
    clearTimeout(this.timer);
    this.flush(true);
  }

  private flush(force: boolean): void {
    while (this.queue.length) {
      const { event, tid, pid, ustack, at } = this.queue[0];
      let frames: string[] | undefined;
      if (ustack === USTACK_DWARF) {
        frames = this.sampled.get(tid)?.shift();
        if (!frames) {
          // its sample arrived and waits in DwarfStacks' queue: perEvent flushes once it is unwound
          if (!force && this.dwarf.queuedFor(tid) > 0) return;
          if (!this.waited(force, at)) return;
          frames = ['[unwind stopped: no stack sample arrived]'];
        }
      } else if (ustack !== null) {
        if (this.stackNotes && ustack >= 0 && !this.noted.has(`${pid}/${ustack}`) && !this.waited(force, at)) return;
        frames = this.frameStack(pid, ustack);
      }
      this.queue.shift();
      this.emit(event, frames);
    }
  }

  /** Whether an event queued at `at` has waited long enough for its sample or note; if not, the
   * queue is looked at again shortly. */
  private waited(force: boolean, at: number): boolean {
    if (force || performance.now() - at >= this.waitMs) return true;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush(false);
    }, 20);
    return false;
  }
}
