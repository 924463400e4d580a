// SPDX-License-Identifier: Apache-2.0
// Per-event tools that print each event with its user stack (mmapsnoop -U, oomkill's trigger).
// An event whose stack is a DWARF sample waits, in order, for that sample: the event and sample
// ring buffers are delivered separately, so the sample may arrive just after its event, and it is
// unwound later, from DwarfStacks' queue (an event whose sample is queued waits until it is
// unwound). The two are joined on the number BPF wrote into both (ms_dwarf_event_sample), never
// by order: an event lost on its ring leaves a sample no event takes, a sample that never came
// leaves its event marked [stack lost]; neither hands a stack to another event (both counted).
// So does an event whose walked frame-pointer stack BPF notes on the sample ring
// (stackNotes): the mappings its frames lie in come there first, and naming it before them would
// need /proc/PID/maps, gone if the process died at the event (oomkill's trigger is often its victim).
import { formatFrame, type Frame } from '../core/frames';
import { EXECED } from '../engine/stack-counts';
import { DwarfStacks, USTACK_DWARF } from './dwarf-stacks';

interface Waiting<E> {
  event: E;
  tid: number;
  pid: number;
  /** A stack id, USTACK_DWARF, or null when the tool wants no stack for it. */
  ustack: number | null;
  /** USTACK_DWARF: the number its sample carries (the sample's delta, low 32 bits). */
  seq: number;
  at: number;
}

interface Sampled {
  seq: number;
  frames: string[];
}

/** The marker of an event whose DWARF sample never came (lost, or later than waitMs). */
export const STACK_LOST = '[stack lost]';
/** Unwound samples kept waiting for their events at most: past it the oldest is forgotten (its
 * event, if it still comes, is marked [stack lost]). Only samples whose event was lost stay long. */
const MAX_UNJOINED = 16_384;

/** Test hooks: the consumer drops every Nth DWARF-stacked event, every Nth unwound sample, or
 * every Nth walked stack's note, before joining (a loss on either ring, on demand). */
const DROP_EVENT_EVERY = Number(process.env.MEMSCOPE_TEST_DROP_EVENT_EVERY) || 0;
const DROP_SAMPLE_EVERY = Number(process.env.MEMSCOPE_TEST_DROP_SAMPLE_EVERY) || 0;
const DROP_NOTE_EVERY = Number(process.env.MEMSCOPE_TEST_DROP_NOTE_EVERY) || 0;

/** Whether sample number a was taken before b (32-bit numbers that may wrap). */
function before(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export class EventStacks<E> {
  private queue: Waiting<E>[] = [];
  /** Unwound samples not yet joined, per thread, oldest (lowest number) first. */
  private sampled = new Map<number, Sampled[]>();
  private sampledCount = 0;
  private eventsPushed = 0;
  private samplesTaken = 0;
  private notesSeen = 0;
  /** Events printed with STACK_LOST: their sample never came (or came after waitMs). */
  lost = 0;
  /** Samples that joined no event: their event was lost (or had stopped waiting). */
  unjoined = 0;
  /** Events printed with EXECED: their walked stack was of a program their process had left
   * before it was named (nameStackId). */
  execed = 0;
  /** "tgid/ustack" of the walked stacks whose notes arrived (their mappings are recorded). */
  private noted = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param frameStack names a frame-pointer stack id (from the object's stack map: nameStackId)
   * @param emit prints one event with its stack (undefined when no stack was wanted)
   * @param waitMs how long an event waits for its DWARF sample (or stack note) to arrive before printing without it
   * @param stackNotes frame-pointer stacks are walked stacks noted on the sample ring
   *   (ms_note_new_stack, after their mappings; DwarfStacks.listen delivers the notes): an event
   *   waits for its stack's note before the stack is named
   */
  constructor(
    private readonly dwarf: DwarfStacks,
    private readonly frameStack: (pid: number, ustack: number) => Frame[],
    private readonly emit: (event: E, ustack: string[] | undefined) => void,
    private readonly waitMs = 250,
    private readonly stackNotes = false,
  ) {
    // a stack is stored and noted once per process: later events with it find it noted already
    if (stackNotes)
      dwarf.nameWhileAlive({
        noteNew: (tgid, ustack) => {
          if (DROP_NOTE_EVERY && ++this.notesSeen % DROP_NOTE_EVERY === 0) return;
          this.noted.add(`${tgid}/${ustack}`);
          this.flush(false);
        },
      });
    dwarf.perEvent = (tid, frames, delta) => {
      if (DROP_SAMPLE_EVERY && ++this.samplesTaken % DROP_SAMPLE_EVERY === 0) return this.flush(false);
      if (this.sampledCount >= MAX_UNJOINED) this.forgetOldest();
      const list = this.sampled.get(tid) ?? [];
      list.push({ seq: Number(BigInt.asUintN(32, delta)), frames: frames.map((f) => formatFrame(f)) });
      this.sampled.set(tid, list);
      this.sampledCount++;
      this.flush(false);
    };
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** @param seq with ustack USTACK_DWARF: the number BPF gave the event and its sample */
  push(event: E, tid: number, pid: number, ustack: number | null, seq = 0): void {
    if (DROP_EVENT_EVERY && ustack === USTACK_DWARF && ++this.eventsPushed % DROP_EVENT_EVERY === 0) return;
    this.queue.push({ event, tid, pid, ustack, seq, at: performance.now() });
    this.flush(false);
  }

  /** Prints what is left, without waiting for samples that did not come (for finish); the samples
   * still unjoined then had no event. */
  close(): void {
    clearTimeout(this.timer);
    this.flush(true);
    this.unjoined += this.sampledCount;
    this.sampled.clear();
    this.sampledCount = 0;
  }

  /** The frames of sample seq of thread tid, if it came; the thread's older samples, whose events
   * were lost, are forgotten (events come in order per thread). */
  private take(tid: number, seq: number): string[] | undefined {
    const list = this.sampled.get(tid);
    if (!list) return undefined;
    let i = 0;
    while (i < list.length && before(list[i].seq, seq)) i++;
    const found = i < list.length && list[i].seq === seq;
    const gone = i + (found ? 1 : 0);
    this.unjoined += i;
    this.sampledCount -= gone;
    const frames = found ? list[i].frames : undefined;
    if (gone === list.length) this.sampled.delete(tid);
    else if (gone) list.splice(0, gone);
    return frames;
  }

  /** Whether a sample of tid taken after event seq came: then seq's own sample never will. */
  private passed(tid: number, seq: number): boolean {
    const list = this.sampled.get(tid);
    return !!list && before(seq, list[list.length - 1].seq);
  }

  /** Forgets the oldest thread's oldest unjoined sample (MAX_UNJOINED). */
  private forgetOldest(): void {
    const [tid, list] = this.sampled.entries().next().value as [number, Sampled[]];
    list.shift();
    if (!list.length) this.sampled.delete(tid);
    this.sampledCount--;
    this.unjoined++;
  }

  private flush(force: boolean): void {
    while (this.queue.length) {
      const { event, tid, pid, ustack, seq, at } = this.queue[0];
      let frames: string[] | undefined;
      if (ustack === USTACK_DWARF) {
        frames = this.take(tid, seq);
        if (!frames) {
          // its sample arrived and waits in DwarfStacks' queue: perEvent flushes once it is unwound
          if (!force && this.dwarf.queuedFor(tid) > 0) return;
          // a later sample of the thread came: this one was lost; else it may still be on its way
          if (!this.passed(tid, seq) && !this.waited(force, at)) return;
          frames = [STACK_LOST];
          this.lost++;
        }
      } else if (ustack !== null) {
        if (this.stackNotes && ustack >= 0 && !this.noted.has(`${pid}/${ustack}`) && !this.waited(force, at)) return;
        const named = this.frameStack(pid, ustack);
        if (named[0] === EXECED) this.execed++;
        frames = named.map((f) => formatFrame(f));
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
