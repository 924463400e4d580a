// SPDX-License-Identifier: Apache-2.0
// The userspace half of DWARF stack capture (bpf/include/stacks.h, ms_count_stack_unwind):
// the --unwind options, the constants they set before load, and the consumer of the
// ms_dwarf_samples ring buffer: it copies each sample into a bounded queue as it arrives, and
// unwinds from there (counting identical stacks, or handing each to a per-event tool).
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseCount } from '../core/options';
import type { BpfObject } from '../engine/bpf-object';
import { decodeProcNote, NOTE_NAME_MAX, noteComponents, PROC_NOTE } from '../engine/proc-note';
import { struct } from '../engine/struct';
import { sizeStackMaps, StackReader } from '../engine/stacks';
import { EXECED, missed, overLimitStacks, pinUserStack, StackNamer, UNNAMED } from '../engine/stack-counts';
import type { CountedStack, Frame } from '../core/frames';
import { sameImage, type PinnedStack, type Symbolizer } from '../symbols/symbolizer';
import type { Mapping } from '../procfs/maps';
import { NO_MAPPING, NREGS, Unwinder, UnwindResult } from './unwinder';
import { SampleQueue } from './sample-queue';
import { evictions, MAX_PROCESSES, MODULE_CACHE_BYTES, moduleCache, UNWIND_QUEUE_BYTES } from '../symbols/cache-caps';

export type UnwindMode = 'fp' | 'dwarf' | 'auto';

export interface UnwindOptions {
  unwind: UnwindMode;
  unwindBytes: number;
  unwindRate: number;
}

const MODES: Record<UnwindMode, number> = { fp: 0, dwarf: 1, auto: 2 };
export const MAX_STACK_BYTES = 16384;
/**
 * memscope's memory bound for DWARF stacks (ARCHITECTURE.md, "Memory bound"): at most MAX_STACKS
 * distinct unwound stacks holding MAX_FRAMES return addresses in all, and MAX_PENDING_BYTES of
 * samples set aside until their process's mappings are known. An event beyond a limit is counted
 * as dropped (a pending sample falls back to its frame-pointer stack) and the end-of-run
 * accounting line says how many.
 */
export const MAX_STACKS = 32_768;
export const MAX_FRAMES = 500_000;
export const MAX_PENDING_BYTES = 16 << 20;
/** memscope's documented peak RSS for a stack-counting run (faults, stackcount, brkstack) in any
 * --unwind mode at any event rate: above the larger of the two phases' sums in ARCHITECTURE.md's
 * "Memory bound" table (tracing ≈ 515 MiB, the report ≈ 561 MiB), with room to spare. */
export const MEMORY_BOUND_BYTES = 768 << 20;
/** MS_USTACK_DWARF (stacks.h): the event's user stack is a DWARF sample of the same thread. */
export const USTACK_DWARF = -2;

/** struct ms_dwarf_sample's header (the stack bytes follow it) and struct ms_dwarf_map, checked
 * against BTF when an object opens (engine/layout-check.ts). */
const KIND_SAMPLE = 1;
const KIND_MAP = 2;
const KIND_STACK = 3;
/** A traced process ended (struct ms_stack_note with this kind, stack_samples.h ms_note_exit). */
const KIND_EXIT = 4;
const SAMPLE = struct(
  [
    ['kind', 'u32'],
    ['tgid', 'u32'],
    ['tid', 'u32'],
    ['kstack', 's32'],
    ['delta', 'u64'],
    ['size', 'u32'],
    ['ustack', 's32'],
    ['regs', `bytes[${NREGS * 8}]`],
    ['comm', 'char[16]'],
    ['base', 'u64'],
    ['start_stack', 'u64'],
  ] as const,
  { c: 'ms_dwarf_sample', prefix: true },
);
const DWARF_MAP = struct(
  [
    ['kind', 'u32'],
    ['tgid', 'u32'],
    ['start', 'u64'],
    ['end', 'u64'],
    ['pgoff', 'u64'],
    ['ino', 'u64'],
    ['path', `bytes[${PROC_NOTE.size}]`],
    ['dev', 'u32'],
    ['sb_whole', 'u32'],
    ['size', 'u64'],
    ['sb_path', `bytes[${PROC_NOTE.size}]`],
  ] as const,
  { c: 'ms_dwarf_map' },
);
/** struct ms_stack_note: a walked user stack stored for the first time (stacks.h). */
const STACK_NOTE = struct(
  [
    ['kind', 'u32'],
    ['tgid', 'u32'],
    ['ustack', 's32'],
    ['image', 'u32'],
  ] as const,
  { c: 'ms_stack_note' },
);
const OFF_TGID = SAMPLE.offsets.tgid;
const OFF_TID = SAMPLE.offsets.tid;
const OFF_KSTACK = SAMPLE.offsets.kstack;
const OFF_DELTA = SAMPLE.offsets.delta;
const OFF_SIZE = SAMPLE.offsets.size;
const OFF_USTACK = SAMPLE.offsets.ustack;
const OFF_REGS = SAMPLE.offsets.regs;
const OFF_COMM = SAMPLE.offsets.comm;
const OFF_BASE = SAMPLE.offsets.base;
const OFF_START_STACK = SAMPLE.offsets.start_stack;
const HEADER = SAMPLE.size; // where stack[] begins

/** The bucket key's stack id of such samples (no frame-pointer stack of theirs is named either). */
const EXEC_USTACK = -1000;
const MAP_PATH = DWARF_MAP.offsets.path;

function parseStackBytes(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 256 || n > MAX_STACK_BYTES || n % 8) {
    throw new InvalidArgumentError(`expected a multiple of 8 from 256 to ${MAX_STACK_BYTES}.`);
  }
  return n;
}

/** --unwind, --unwind-bytes and --unwind-rate, the same in every tool that offers them. */
export function addUnwindOptions(cmd: Command, defaultMode: UnwindMode = 'auto'): Command {
  return cmd
    .addOption(
      new Option(
        '--unwind <MODE>',
        'user stacks: dwarf (CFI, works without frame pointers), fp (frame pointers, in the kernel), ' + 'auto (dwarf while the event rate allows, then fp)',
      )
        .choices(['dwarf', 'fp', 'auto'])
        .default(defaultMode),
    )
    .option('--unwind-bytes <N>', `user stack bytes copied per event for dwarf unwinding (max ${MAX_STACK_BYTES})`, parseStackBytes, 8192)
    .option('--unwind-rate <N>', 'auto: dwarf-unwound events per second per CPU before falling back to fp', parseCount, 1000);
}

/** The `const volatile` settings of stacks.h for these options. */
export function unwindConsts(o: UnwindOptions): Record<string, number> {
  return { ms_unwind: MODES[o.unwind], ms_unwind_bytes: o.unwindBytes, ms_unwind_rate: o.unwindRate };
}

/** Samples the ring buffer holds: bursts (and the consumer's pauses) are absorbed up to this many
 * full samples before events fall back to frame pointers. */
export const RING_SAMPLES = 2048;
/** The sample ring's largest size: kernel memory mapped into memscope, so part of its bound. */
export const MAX_RING_BYTES = 32 << 20;

/** Ring buffer size for samples: room for RING_SAMPLES full samples (a power of two, at most
 * MAX_RING_BYTES). */
export function ringBytes(o: UnwindOptions): number {
  let n = 1 << 20;
  while (n < (o.unwindBytes + HEADER) * RING_SAMPLES && n < MAX_RING_BYTES) n *= 2;
  return n;
}

/** A sample's registers, read for Unwinder.unwind (which copies them). */
const REGS = new Float64Array(NREGS);

/** A 32-bit FNV-1a hash of a DWARF stack's bucket: its process, kernel stack id, comm's bytes and
 * addresses. A number, so a sample's lookup builds no string: a text key (the addresses hashed to
 * base 36 in it, pid and comm decoded) was ~5% of memscope's CPU at 20k samples/s. Equal hashes
 * share a list, each bucket checked whole (sameBucket): a collision never merges two stacks. */
function bucketHash(pid: number, kstack: number, rec: Buffer, ips: number[]): number {
  let h = Math.imul(0x811c9dc5 ^ pid, 0x01000193);
  h = Math.imul(h ^ kstack, 0x01000193);
  for (let o = OFF_COMM; o < OFF_COMM + 16; o += 4) h = Math.imul(h ^ rec.readUInt32LE(o), 0x01000193);
  for (const ip of ips) {
    h = Math.imul(h ^ (ip >>> 0), 0x01000193);
    h = Math.imul(h ^ Math.floor(ip / 0x100000000), 0x01000193);
  }
  return h >>> 0;
}

/** Whether b is the bucket of this sample's stack: same process, kernel stack, comm bytes, stop
 * and addresses. */
function sameBucket(b: Bucket, pid: number, kstack: number, rec: Buffer, ips: number[], stop: string | null): boolean {
  const sig = b.sig!;
  if (b.pid !== pid || b.kstack !== kstack || b.stop !== stop || sig.length !== ips.length) return false;
  const c = b.commWords!;
  for (let i = 0; i < 4; i++) if (c[i] !== rec.readUInt32LE(OFF_COMM + 4 * i)) return false;
  for (let i = 0; i < ips.length; i++) if (sig[i] !== ips[i]) return false;
  return true;
}

/** Test hook: milliseconds every unwind is made to take (a slow unwind or symbol load, on demand),
 * so a test can show that the ring's consumer never waits behind unwinding. */
const UNWIND_DELAY_MS = Math.min(1000, Number(process.env.MEMSCOPE_TEST_UNWIND_DELAY_MS) || 0);
const sleeper = UNWIND_DELAY_MS > 0 ? new Int32Array(new SharedArrayBuffer(4)) : null;

function stopMarker(stop: string): Frame {
  return { addr: 0n, symbol: `[unwind stopped: ${stop}]`, offset: 0, module: null, note: true };
}

function commOf(rec: Buffer): string {
  const end = rec.indexOf(0, OFF_COMM);
  return rec.toString('utf8', OFF_COMM, end < 0 || end > OFF_COMM + 16 ? OFF_COMM + 16 : end);
}

interface Bucket {
  pid: number;
  comm: string;
  kstack: number;
  ustack: number;
  count: number;
  /** The stack named when it was first counted (a DWARF one) or soon after (a frame-pointer
   * fallback, by the consumer between samples): the process's mappings are known then, and need
   * not be kept until the end. null: not named yet. */
  user: Frame[] | null;
  /** A frame-pointer fallback pinned to its process's mappings (Symbolizer.pin), named at read. */
  pinned?: PinnedStack | null;
  /** A DWARF stack: its addresses and the mapping each lies in, pinned when first counted (the
   * process's mappings are known then, and need not be kept until the end); named at read, with
   * the marker of where it stopped early. */
  ips?: Float64Array;
  maps?: PinnedStack['maps'];
  stop?: string | null;
  /** A DWARF bucket's addresses and comm bytes, as its samples are matched (sameBucket): ips is
   * the same array when the stack could be pinned. */
  sig?: Float64Array;
  commWords?: number[];
  /** Why the frame-pointer stack (ustack) was used: the process exited before its maps were
   * read, or the unwind queue was full. */
  fallback: Fallback | null;
  /** A frame-pointer fallback's program image (its sample's mm->start_stack): it is pinned in maps
   * of that image only. */
  image?: bigint;
}

/** Why a sample's event was counted without DWARF unwinding: its process exited before its maps
 * were read, the unwind queue was full, or the maps known are of another program image (exec). */
type Fallback = 'exited' | 'queue' | 'exec';

/** How often the stacks of a kernel count map left unpinned are pinned (stackCounts' nameNew):
 * most are pinned as their notes arrive (noteNew); this takes what a burst left over. */
const NAME_EVERY_MS = 250;
/** The sample ring's deliveries: at most this many bytes of records each, in one buffer reused. */
const DELIVERY_BYTES = 1 << 20;
/** How long the emptied sample ring is left unread (ringbufOpen idleMs): BPF wakes the reader for
 * a record written into an empty ring, and a reader that keeps up empties it every time (at 20k
 * samples/s, -p: ~9k wake-ups a second, a third of memscope's CPU). A batch then carries many
 * processes' records at once: past MAX_PROCESSES the symbolizer forgot live ones' ring-sent
 * mappings before their stack notes in the same batch were read, and a fork storm's children lost
 * their names (faults-conditions' 4-process case: 1 of 12 runs at 2 ms, 6 of 6 at 20 ms); it now
 * keeps such a process until its exit note is read (Symbolizer.keepMaps). MEMSCOPE_TEST_IDLE_MS:
 * a test hook, a longer wait under which such a race shows. */
const IDLE_MS = Math.min(100, Number(process.env.MEMSCOPE_TEST_IDLE_MS ?? 2) || 0);
/** Longest run of unwinding before the consumer lets the event loop drain the ring again. */
const SLICE_MS = 8;

export class DwarfStacks {
  readonly unwinder: Unwinder;
  private buckets = new Map<string, Bucket>();
  /** The DWARF buckets (also in buckets, by a serial key) by bucketHash: one, or those sharing it. */
  private dwarfByHash = new Map<number, Bucket | Bucket[]>();
  private dwarfSerial = 0;
  /** Processes with a bucket (DWARF or frame-pointer): past MAX_STACKS only their samples can
   * still be counted. */
  private pidsKept = new Set<number>();
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Frames held by the buckets (MAX_FRAMES). */
  private framesKept = 0;
  samples = 0;
  /** Events counted in buckets (by their delta), whatever stack they got. */
  counted = 0;
  frames = 0;
  truncated = 0;
  /** Events not kept because MAX_STACKS distinct stacks (or MAX_FRAMES frames) were already kept. */
  dropped = 0;
  /** Events whose process exited before its maps were read: their frame-pointer stacks were used. */
  fpFallbacks = 0;
  /** Of fpFallbacks: samples of a program image their process had exec'd away from (EXECED). */
  execed = 0;
  /** Events whose samples found the unwind queue full (UNWIND_QUEUE_BYTES): counted with their
   * frame-pointer stacks. */
  queueFull = 0;
  /** Per-event tools: samples unwound in the ring's callback because the unwind queue was full
   * (the ring waited meanwhile; events that found it full used frame pointers, fp_ring_full). */
  waited = 0;
  /** Samples received and not unwound yet, oldest first (copies, UNWIND_QUEUE_BYTES of them). */
  private readonly queue = new SampleQueue(UNWIND_QUEUE_BYTES);
  /** Per-event tools: samples queued per thread, not yet handed to perEvent (queuedFor). */
  private queuedByTid = new Map<number, number>();
  /** Samples queued and unwound since the start (caughtUp). */
  private queuedTotal = 0;
  private unwoundTotal = 0;
  private pumping = false;
  private obj: BpfObject | null = null;
  private fpReader: StackReader | null = null;
  private unnamed: Bucket[] = [];
  private namers: StackNamer[] = [];
  private timer: NodeJS.Timeout | null = null;
  unwindMs = 0;

  constructor(
    private readonly symbolizer: Symbolizer,
    maxFrames = 127,
  ) {
    this.unwinder = new Unwinder(symbolizer, maxFrames);
  }

  /** The `const volatile` settings for runTrace's consts. */
  consts(o: UnwindOptions): Record<string, number> {
    return unwindConsts(o);
  }

  /** Lets the event loop deliver the samples still in the ring buffer, then reads (for finish).
   * last: the run's end; once every sample is unwound, the caches only unwinding uses (CFI rows,
   * address ranges: up to 70 MiB) are dropped before the stacks are named, so they do not add to
   * the report's memory (ARCHITECTURE.md, "Memory bound"). */
  async drain(obj: BpfObject, last = false, limit?: number): Promise<CountedStack[]> {
    for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 15));
    if (last) {
      this.unwindReceived(obj);
      this.unwinder.releaseCaches();
    }
    return this.read(obj, limit);
  }

  /** What the last read with a limit left out (an interval report's cap, stack-counts.ts overLimit). */
  omitted = { stacks: 0, events: 0 };

  /**
   * Pins a kernel map's frame-pointer stacks while their processes' mappings are known: each as its
   * note arrives (noteNew), and what a burst left over every NAME_EVERY_MS (nameNew), from
   * listen() on. The end of the run may come after an exited process's mappings were forgotten
   * (MAX_PROCESSES).
   */
  nameWhileAlive(namer: StackNamer): void {
    this.namers.push(namer);
    if (this.obj) this.startNaming(this.obj);
  }

  /** The NAME_EVERY_MS timer, only while there is something to name: the agent's two objects have
   * neither namers nor fallback buckets, and their two idle timers woke it 8 times a second; its
   * oomkill object's namer (EventStacks) only takes notes, and its timer woke it 4 times a second. */
  private startNaming(obj: BpfObject): void {
    if (this.timer || (!this.namers.some((n) => n.nameNew) && !this.unnamed.length)) return;
    this.timer = setInterval(() => {
      if (obj.destroyed) return this.stopNaming();
      for (const n of this.namers) n.nameNew?.();
      this.nameFallbacks();
    }, NAME_EVERY_MS);
    this.timer.unref();
  }

  private stopNaming(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** For tools: sets the constants and ring size before load (from runTrace's configure). */
  static configure(obj: BpfObject, o: UnwindOptions): void {
    if (o.unwind !== 'fp') obj.setMaxEntries('ms_dwarf_samples', ringBytes(o)).setMaxEntries('ms_dwarf_exec_vm', 8192);
  }

  /**
   * Walked frame-pointer stacks (ms_plain_ustacks): cheap at high event rates, resolved through the
   * executable mappings BPF sends on this object's sample ring (listen() records them).
   */
  static configurePlainStacks(obj: BpfObject, o: UnwindOptions, stacks: number): void {
    sizeStackMaps(obj, { walked: stacks });
    // with DWARF on, configure() sized the ring for samples already; mapping records: 8 MiB
    // (about 7,800 records, ahead of a consumer that is busy symbolizing)
    if (o.unwind === 'fp') obj.setMaxEntries('ms_dwarf_samples', 8 << 20);
  }

  /** Starts consuming samples (from runTrace's setup, after load). exits: processes' ends noted
   * on this ring (ms_note_exit); false where another object of the same symbolizer notes them
   * already (the agent's faults), as one exit program run per process exit is enough. */
  listen(obj: BpfObject, exits = true): void {
    this.obj = obj;
    // take() copies what it keeps (the queue, pending samples), so the deliveries can share one
    // buffer: 1 MiB, a few hundred samples, stays in the CPU's cache until take() has copied it.
    // emptied, the ring is left IDLE_MS unread, so samples wake memscope once per batch
    obj.onRecords(
      'ms_dwarf_samples',
      (recs) => {
        for (const r of recs) this.take(r);
        this.schedule();
      },
      undefined,
      { bytes: DELIVERY_BYTES, recordBytes: HEADER + MAX_STACK_BYTES, idleMs: IDLE_MS },
    );
    // processes' ends, on this ring after their last records (ms_note_exit)
    if (exits && obj.hasProgram('ms_note_exit')) obj.attach('ms_note_exit');
    this.startNaming(obj);
  }

  /**
   * The consumer's half that runs as records arrive: mappings are recorded at once, samples join
   * the unwind queue, so the ring is emptied as fast as it is delivered and never waits behind
   * unwinding or naming. Past UNWIND_QUEUE_BYTES a sample's event is counted with its
   * frame-pointer stack (queueFull). A tool that prints each event (perEvent) gets its samples
   * from the same queue, in order (takeForEvent).
   */
  private take(rec: Buffer): void {
    if (rec.length >= 8 && rec.readUInt32LE(0) === KIND_MAP) {
      this.addMapping(rec);
      return;
    }
    if (rec.length >= STACK_NOTE.size && rec.readUInt32LE(0) === KIND_STACK) {
      // after the mappings its frames lie in (same ring, sent first): pinned now, while known
      const tgid = rec.readUInt32LE(STACK_NOTE.offsets.tgid);
      const ustack = rec.readInt32LE(STACK_NOTE.offsets.ustack);
      // the ring records of this process received since its last sample or note are of the stack's
      // program image (the low 32 bits of its mm->start_stack): of it only, they name the stack
      const image = BigInt(rec.readUInt32LE(STACK_NOTE.offsets.image));
      if (image) this.symbolizer.sampledImage(tgid, image);
      for (const n of this.namers) n.noteNew(tgid, ustack);
      return;
    }
    if (rec.length >= STACK_NOTE.size && rec.readUInt32LE(0) === KIND_EXIT) {
      // nothing of it follows on the ring: its mappings may be forgotten first (MAX_PROCESSES)
      this.symbolizer.ended(rec.readUInt32LE(STACK_NOTE.offsets.tgid));
      return;
    }
    // the ring records of this process received since its last sample are of this sample's image
    if (rec.length >= HEADER) this.symbolizer.sampledImage(rec.readUInt32LE(OFF_TGID), rec.readBigUInt64LE(OFF_START_STACK));
    if (this.perEvent) {
      this.takeForEvent(rec);
      return;
    }
    // copied: a view would keep its whole delivery (up to 16 MiB) for one queued sample
    if (this.queue.push(rec)) {
      this.queuedTotal++;
      // its process may exit before the sample is unwound: its maps are kept until then
      this.symbolizer.hold(rec.readUInt32LE(OFF_TGID));
    } else this.fallBack(rec, 'queue');
  }

  /**
   * take() for a per-event tool. Past UNWIND_QUEUE_BYTES the oldest queued samples are unwound here,
   * the ring waiting meanwhile (counted in waited): so BPF's own fallback takes over, a frame-pointer
   * stack for each event that finds the ring full (memleak's samples carry none of their own, and
   * mmapsnoop's events are joined to their samples in order: none may be skipped).
   */
  private takeForEvent(rec: Buffer): void {
    if (rec.length < HEADER || rec.readUInt32LE(0) !== KIND_SAMPLE) return;
    while (!this.queue.push(rec)) {
      if (!this.queue.length) return; // larger than the whole queue: cannot happen (16 KiB at most)
      this.unwindNext();
      this.waited++;
    }
    this.queuedTotal++;
    const tid = rec.readUInt32LE(OFF_TID);
    this.queuedByTid.set(tid, (this.queuedByTid.get(tid) ?? 0) + 1);
    this.symbolizer.hold(rec.readUInt32LE(OFF_TGID));
  }

  /** Per-event tools: samples of this thread received and not yet handed to perEvent. Its event
   * waits for them, however long unwinding takes. */
  queuedFor(tid: number): number {
    return this.queuedByTid.get(tid) ?? 0;
  }

  /** Unwinds every sample received so far (at the end, once nothing more arrives). */
  flush(): void {
    this.pump(Infinity);
  }

  /** Resolves once every sample received by now is unwound, the ring's consumer running meanwhile
   * (a report made while tracing goes on). */
  async caughtUp(): Promise<void> {
    const target = this.queuedTotal;
    while (this.unwoundTotal < target) await new Promise((r) => setTimeout(r, 5));
  }

  /** Unwinds the oldest queued sample. */
  private unwindNext(): void {
    const rec = this.queue.peek()!;
    this.unwoundTotal++;
    const pid = rec.readUInt32LE(OFF_TGID);
    try {
      this.add(rec); // its bytes are the queue's until shift: add keeps a copy if it keeps one
    } finally {
      this.queue.shift();
    }
    this.symbolizer.release(pid);
  }

  private schedule(): void {
    if (this.pumping || !this.queue.length) return;
    this.pumping = true;
    setImmediate(() => this.pump(SLICE_MS));
  }

  /** Unwinds queued samples for up to ms (Infinity: all), then lets the event loop deliver more. */
  private pump(ms: number): void {
    this.pumping = false;
    const end = performance.now() + ms;
    while (this.queue.length) {
      this.unwindNext();
      if (performance.now() >= end) break;
    }
    this.schedule();
  }

  /** Counts a sample's event by its frame-pointer stack (named later, by nameFallbacks). */
  private fallBack(rec: Buffer, why: Fallback): void {
    const pid = rec.readUInt32LE(OFF_TGID);
    // its frame-pointer stack would be named in the maps known now: of another program, perhaps
    if (why !== 'exec' && this.ofAnotherImage(rec, this.symbolizer.mapsNow(pid))) why = 'exec';
    const image = rec.readBigUInt64LE(OFF_START_STACK) || undefined;
    const comm = commOf(rec);
    const kstack = rec.readInt32LE(OFF_KSTACK);
    const ustack = why === 'exec' ? EXEC_USTACK : rec.readInt32LE(OFF_USTACK);
    const count = Number(rec.readBigUInt64LE(OFF_DELTA));
    const key = `${pid}/${comm}/${kstack}/fp${ustack}`;
    const b = this.buckets.get(key);
    if (b) b.count += count;
    else if (this.buckets.size < MAX_STACKS) {
      const user = why === 'exec' ? [EXECED] : ustack < 0 ? [missed('user', ustack)] : null;
      const nb: Bucket = { pid, comm, kstack, ustack, count, user, fallback: why, image };
      this.buckets.set(key, nb);
      this.pidsKept.add(pid);
      // pinned now, while its process most likely lives (once per distinct stack)
      if (!nb.user) {
        if (this.obj && !this.obj.destroyed) {
          this.fpReader ??= new StackReader(this.obj);
          nb.pinned = pinUserStack(this.symbolizer, pid, this.fpReader.userStack(ustack), undefined, image);
        } else this.unnamed.push(nb);
      }
    } else {
      this.dropped += count;
      return;
    }
    this.counted += count;
    if (why === 'queue') this.queueFull += count;
    else this.fpFallbacks += count;
    if (why === 'exec') this.execed += count;
  }

  /** Whether maps are of another program image than the sample (its process exec'd before they
   * were read or recorded): the sample's mm->start_stack against the maps' (Symbolizer.imageOf). */
  private ofAnotherImage(rec: Buffer, maps: readonly Mapping[] | undefined): boolean {
    const mine = rec.readBigUInt64LE(OFF_START_STACK);
    // maps whose image could not be told (a /proc read in the middle of an exec: startstack 0, or
    // changing around it) are not taken for the sample's: they may be the new program's. No maps
    // at all name nothing (the process exited first: its frame-pointer stack is UNNAMED)
    return maps !== undefined && mine !== 0n && !sameImage(this.symbolizer.imageOf(maps), mine);
  }

  /** A sample of another image than its process's maps: marked, for a per-event tool or counted. */
  private markExeced(rec: Buffer): void {
    if (this.perEvent) {
      this.samples++; // handed on as a DWARF sample is (EventStackAccounting's parts add up)
      this.toEvent(rec, [EXECED]);
    } else this.fallBack(rec, 'exec');
  }

  /** Names the frame-pointer fallbacks counted since the last call (UNNAMED once the process's
   * mappings are gone: counted in evictions.unnamed). */
  private nameFallbacks(): void {
    if (!this.unnamed.length || !this.obj || this.obj.destroyed) return;
    this.fpReader ??= new StackReader(this.obj);
    for (const b of this.unnamed) b.pinned = pinUserStack(this.symbolizer, b.pid, this.fpReader.userStack(b.ustack), undefined, b.image);
    this.unnamed = [];
  }

  /**
   * For tools that print each event's stack instead of counting: called with each unwound and
   * symbolized sample (then not counted). Events carry MS_USTACK_DWARF and are joined by thread
   * (or, memleak, by the number the BPF side put in the sample's delta).
   */
  perEvent?: (tid: number, frames: Frame[], delta: bigint) => void;

  /** Hands a per-event sample's frames to perEvent (its thread has one sample fewer queued). */
  private toEvent(rec: Buffer, frames: Frame[]): void {
    const tid = rec.readUInt32LE(OFF_TID);
    const n = this.queuedFor(tid);
    if (n <= 1) this.queuedByTid.delete(tid);
    else this.queuedByTid.set(tid, n - 1);
    this.perEvent!(tid, frames, rec.readBigUInt64LE(OFF_DELTA));
  }

  /** Records an executable mapping the BPF side sent (struct ms_dwarf_map). */
  private addMapping(rec: Buffer): void {
    const pid = rec.readUInt32LE(OFF_TGID);
    const inode = Number(rec.readBigUInt64LE(32));
    const [, file] = decodeProcNote(rec.subarray(MAP_PATH));
    // where the file lies on its own device: how it is found again once the process (and its
    // /proc/PID/root) is gone; a path cut at MS_PATH_DEPTH is no use
    const whole = rec.length >= DWARF_MAP.size && inode !== 0 && rec.readUInt32LE(DWARF_MAP.offsets.sb_whole) === 1;
    this.symbolizer.recordMapping(pid, {
      start: rec.readBigUInt64LE(8),
      end: rec.readBigUInt64LE(16),
      perms: 'r-xp',
      offset: rec.readBigUInt64LE(24) * 4096n,
      dev: '',
      inode,
      path: inode === 0 ? '[vdso]' : file,
      onDevice: whole
        ? {
            dev: rec.readUInt32LE(DWARF_MAP.offsets.dev),
            ino: inode,
            size: Number(rec.readBigUInt64LE(DWARF_MAP.offsets.size)),
            comps: noteComponents(rec.subarray(DWARF_MAP.offsets.sb_path)),
            nameMax: NOTE_NAME_MAX,
          }
        : undefined,
    });
    this.unwinder.forget(pid);
  }

  /** Unwinds and counts one ring-buffer record (or records a mapping). */
  add(rec: Buffer, retry = false): UnwindResult | null {
    if (rec.length >= 8 && rec.readUInt32LE(0) === KIND_MAP) {
      this.addMapping(rec);
      return null;
    }
    if (rec.length < HEADER || rec.readUInt32LE(0) !== KIND_SAMPLE) return null;
    const pid = rec.readUInt32LE(OFF_TGID);
    // MAX_STACKS reached and no stack of this process kept: whatever its stack, the event is
    // dropped (every path below makes a new bucket or drops), so it is not unwound first.
    // System-wide, the rest of the machine's new stacks past the limit were a whole unwind each
    // (166,627 events in one 20-s run of bench:storm at 20k/s, at ~10 µs an event)
    if (!this.perEvent && this.buckets.size >= MAX_STACKS && !this.pidsKept.has(pid)) {
      this.dropped += Number(rec.readBigUInt64LE(OFF_DELTA));
      return null;
    }
    const image = rec.readBigUInt64LE(OFF_START_STACK) || undefined;
    // unwound in the process's maps now: they must be of the sample's program image (read again
    // if they were read at an older one)
    if (this.ofAnotherImage(rec, this.symbolizer.mapsForImage(pid, image ?? 0n))) {
      this.markExeced(rec);
      return null;
    }
    const size = Math.min(rec.readUInt32LE(OFF_SIZE), rec.length - HEADER);
    const regs = REGS; // copied by unwind
    for (let i = 0; i < NREGS; i++) {
      const o = OFF_REGS + i * 8;
      regs[i] = rec.readUInt32LE(o + 4) * 0x100000000 + rec.readUInt32LE(o);
    }
    moduleCache.nextEpoch(); // one sample: the CFI of its files stays while it is unwound
    const t0 = performance.now();
    const base = rec.readUInt32LE(OFF_BASE + 4) * 0x100000000 + rec.readUInt32LE(OFF_BASE);
    // every address looked up in maps of the sample's image only: a frame outside them (a library
    // loaded since) reads /proc again, by then perhaps of the program the process exec'd
    const res = this.unwinder.unwind(pid, regs, rec, base, image, HEADER, size);
    if (sleeper) Atomics.wait(sleeper, 0, 0, UNWIND_DELAY_MS);
    this.unwindMs += performance.now() - t0;
    // such a read is kept as the process's maps: of another image, the sample is marked (its
    // frames are named in maps of its own image only: pin's image)
    if (this.ofAnotherImage(rec, this.symbolizer.mapsNow(pid))) {
      this.markExeced(rec);
      return null;
    }
    if (this.perEvent) {
      this.samples++;
      this.frames += res.ips.length;
      if (res.stop) this.truncated++;
      this.toEvent(rec, this.symbolize(pid, res.ips, res.stop, image));
      return res;
    }
    if (!retry && res.stop === NO_MAPPING && this.pendingBytes + rec.length <= MAX_PENDING_BYTES) {
      // the process's maps are not known yet (its note may come later): try again at the end
      this.pending.push(Buffer.from(rec));
      this.pendingBytes += rec.length;
      return res;
    }
    // a process gone before its maps were read: its frame-pointer stack is all there is
    if (res.stop === NO_MAPPING && res.ips.length === 1) {
      this.fallBack(rec, 'exited');
      return res;
    }
    this.samples++;
    this.frames += res.ips.length;
    if (res.stop) this.truncated++;
    const kstack = rec.readInt32LE(OFF_KSTACK);
    const count = Number(rec.readBigUInt64LE(OFF_DELTA));
    const stop = res.stop ?? null;
    const h = bucketHash(pid, kstack, rec, res.ips);
    const same = this.dwarfByHash.get(h);
    let b: Bucket | undefined;
    if (same) {
      if (!Array.isArray(same)) b = sameBucket(same, pid, kstack, rec, res.ips, stop) ? same : undefined;
      else b = same.find((x) => sameBucket(x, pid, kstack, rec, res.ips, stop));
    }
    if (b) {
      b.count += count;
      this.counted += count;
    } else if (this.buckets.size < MAX_STACKS && this.framesKept + res.ips.length <= MAX_FRAMES) {
      const p = this.symbolizer.pin(
        pid,
        res.ips.map((ip) => ({ ip: BigInt(ip) })),
        undefined,
        image,
      );
      const sig = Float64Array.from(res.ips);
      const commWords = [0, 4, 8, 12].map((o) => rec.readUInt32LE(OFF_COMM + o));
      const nb: Bucket = { pid, comm: commOf(rec), kstack, ustack: -1, count, user: null, stop, fallback: null, sig, commWords };
      if (p) [nb.ips, nb.maps] = [sig, p.maps]; // else UNNAMED
      this.buckets.set(`d${this.dwarfSerial++}`, nb);
      this.pidsKept.add(pid);
      if (!same) this.dwarfByHash.set(h, nb);
      else if (Array.isArray(same)) same.push(nb);
      else this.dwarfByHash.set(h, [same, nb]);
      this.framesKept += res.ips.length;
      this.counted += count;
    } else this.dropped += count;
    return res;
  }

  /** Forgets what was read of a walked stack id deleted from its store (StackGenerations.freeOld:
   * a later stack may take the id). */
  forgetUser(id: number): void {
    this.fpReader?.forgetUser(id);
  }

  forgetKernel(id: number): void {
    this.fpReader?.forgetKernel(id);
  }

  /** Forgets the stacks counted so far (a tool's per-interval report, after read). */
  reset(): void {
    this.buckets.clear();
    this.dwarfByHash.clear();
    this.pidsKept.clear();
    this.unnamed = [];
    this.framesKept = 0;
  }

  /** Unwinds every sample received, the pending ones too, and pins the fallbacks left unpinned. */
  private unwindReceived(obj?: BpfObject): void {
    if (obj) this.obj = obj;
    this.pump(Infinity);
    const retry = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const r of retry) this.add(r, true);
    this.nameFallbacks();
  }

  /** limit: name at most this many stacks, the most counted; the rest are summed per process
   * under overLimit (an interval report's cap: ARCHITECTURE.md, "Memory bound"). */
  read(obj?: BpfObject, limit?: number): CountedStack[] {
    this.unwindReceived(obj); // every sample received is unwound before the report
    const kernel = obj ? new StackReader(obj) : null;
    const out: CountedStack[] = [];
    let buckets: Iterable<Bucket> = this.buckets.values();
    this.omitted = { stacks: 0, events: 0 };
    if (limit !== undefined && this.buckets.size > limit) {
      const all = [...this.buckets.values()].sort((a, b) => b.count - a.count);
      const rest = all.slice(limit);
      for (const b of rest) [this.omitted.stacks, this.omitted.events] = [this.omitted.stacks + 1, this.omitted.events + b.count];
      buckets = all.slice(0, limit);
      out.push(...overLimitStacks(rest, limit));
    }
    buckets = [...buckets];
    // pinned stacks, named one file at a time (Symbolizer.nameAll)
    const toName: { pid: number; stack: PinnedStack }[] = [];
    const bucketOf: Bucket[] = [];
    for (const b of buckets) {
      const stack = b.ips ? { frames: Array.from(b.ips, (ip) => ({ ip: BigInt(ip) })), maps: b.maps! } : b.user ? null : b.pinned;
      if (stack) {
        toName.push({ pid: b.pid, stack });
        bucketOf.push(b);
      }
    }
    const names = new Map<Bucket, Frame[]>();
    this.symbolizer.nameAll(toName).forEach((frames, i) => {
      const b = bucketOf[i];
      if (b.stop) frames.push(stopMarker(b.stop));
      names.set(b, frames);
    });
    for (const b of buckets) {
      let user = b.user ?? names.get(b) ?? null;
      if (!user) {
        user = [UNNAMED];
        evictions.unnamed += b.count;
      }
      out.push({
        pid: b.pid,
        comm: b.comm,
        count: b.count,
        user,
        kernel: kernel && b.kstack >= 0 ? this.symbolizer.kernel(kernel.kernelStack(b.kstack)) : [],
      });
    }
    return out;
  }

  /** Frames of an unwound stack, with the marker of where it stopped early. */
  private symbolize(pid: number, ips: number[], stop: string | null, image: bigint | undefined): Frame[] {
    const frames = ips.map((ip) => ({ ip: BigInt(ip) }));
    // pinned in maps of the sample's image only (pin's image), named at once
    const p = this.symbolizer.pin(pid, frames, undefined, image) ?? { frames, maps: frames.map(() => undefined) };
    const user = this.symbolizer.name(pid, p);
    if (stop) user.push(stopMarker(stop));
    return user;
  }

  /** One line for --verbose: what was unwound how. */
  summary(obj: BpfObject, o: UnwindOptions): string[] {
    const lines: string[] = [];
    const overRate = obj.readGlobalU64('ms_dwarf_over_rate');
    const full = obj.readGlobalU64('ms_dwarf_ring_full');
    lines.push(
      `user stacks: ${this.samples} events unwound with DWARF CFI (${this.frames} frames, ${this.truncated} stopped early, ` +
        `${this.unwinder.modulesLoaded} modules' CFI read, ${this.unwindMs.toFixed(0)} ms)`,
    );
    const exited = this.fpFallbacks - this.execed;
    if (exited > 0) lines.push(`user stacks: ${exited} events of processes that exited before their maps were read used frame pointers`);
    if (this.execed > 0) lines.push(`user stacks: ${this.execed} events of a program their process exec'd away from before its maps were read are unnamed`);
    if (overRate > 0n) lines.push(`user stacks: ${overRate} events over ${o.unwindRate}/s per CPU used frame pointers instead`);
    if (full > 0n) lines.push(`user stacks: ${full} events found the sample ring buffer full and used frame pointers instead`);
    if (this.queueFull > 0) lines.push(`user stacks: ${this.queueFull} events found the unwind queue full and used frame pointers instead`);
    if (this.waited > 0) lines.push(`user stacks: ${this.waited} samples were unwound while the sample ring waited (unwind queue full)`);
    return lines;
  }
}

/** Where every event of a "count by stack" run went: the parts add up to `events`. */
export interface EventAccounting {
  /** Events the BPF program saw (ms_events_seen). */
  events: number;
  /** Counted with a DWARF-unwound user stack. */
  dwarf: number;
  /** Counted with a frame-pointer stack: --unwind fp, or a fallback (the parts below). */
  frame_pointer: number;
  fp_ring_full: number;
  fp_over_rate: number;
  fp_process_exited: number;
  /** Of frame_pointer: samples taken in a program their process exec'd away from before memscope
   * read its maps, shown as "[process exec'd before its stack was named]" (never named in the new
   * program's maps). */
  process_execd: number;
  /** Of frame_pointer: the sample found memscope's unwind queue full (UNWIND_QUEUE_BYTES). */
  fp_queue_full: number;
  /** Of the counted: stacks shown as UNNAMED, their process exited and its mappings forgotten
   * (MAX_PROCESSES) before they were named. */
  unnamed: number;
  /** Not counted: over memscope's limit of distinct DWARF stacks (MAX_STACKS, MAX_FRAMES). */
  dropped_stack_limit: number;
  /** Not counted: a kernel map or ring buffer was full (lost_events). */
  dropped_kernel: number;
  /** Symbol tables and CFI evicted from the module cache (MODULE_CACHE_BYTES) and read again. */
  modules_evicted: number;
  /** Processes whose recorded mappings were forgotten past MAX_PROCESSES (least recently seen). */
  processes_evicted: number;
  /** memscope's own peak resident memory so far (getrusage's maxrss), against its documented bound. */
  peak_rss_bytes: number;
}

/**
 * The end-of-run accounting of a tool whose events went through ms_count_stack_unwind: fpCounted is
 * the sum of the counts read from its count map (events counted there by frame-pointer stack), of
 * which fpExeced were marked EXECED (the reader's execed).
 */
export function accountEvents(obj: BpfObject, dwarf: DwarfStacks, fpCounted: number, fpExeced = 0): EventAccounting {
  const g = (name: string) => Number(obj.readGlobalU64(name));
  return {
    events: g('ms_events_seen'),
    dwarf: dwarf.counted - dwarf.fpFallbacks - dwarf.queueFull,
    frame_pointer: fpCounted + dwarf.fpFallbacks + dwarf.queueFull,
    fp_ring_full: g('ms_dwarf_ring_full'),
    fp_over_rate: g('ms_dwarf_over_rate'),
    fp_process_exited: dwarf.fpFallbacks - dwarf.execed,
    process_execd: dwarf.execed + fpExeced,
    fp_queue_full: dwarf.queueFull,
    unnamed: evictions.unnamed,
    dropped_stack_limit: dwarf.dropped,
    dropped_kernel: g('lost_events'),
    modules_evicted: evictions.modules,
    processes_evicted: evictions.processes,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  };
}

/**
 * Says the accounting in one line on stderr (a JSON object with --json, stdout keeping only stack
 * records): always when DWARF unwinding was on, else only when events were dropped.
 */
export function reportAccounting(a: EventAccounting, o: UnwindOptions & { json?: boolean }): void {
  a.peak_rss_bytes = process.resourceUsage().maxRSS * 1024; // after the report was rendered
  a.modules_evicted = evictions.modules; // naming the report may have evicted more
  a.processes_evicted = evictions.processes;
  a.unnamed = evictions.unnamed;
  const dropped = a.dropped_stack_limit + a.dropped_kernel;
  if (o.unwind === 'fp' && dropped === 0) return;
  if (o.json) {
    process.stderr.write(JSON.stringify({ accounting: a }) + '\n');
    return;
  }
  const n = (v: number) => v.toLocaleString('en-US');
  process.stderr.write(
    `memscope: ${n(a.events)} events: ${n(a.dwarf)} DWARF-unwound, ${n(a.frame_pointer)} with frame-pointer stacks ` +
      `(${n(a.fp_ring_full)} sample ring full, ${n(a.fp_queue_full)} unwind queue full over ${n(UNWIND_QUEUE_BYTES >> 20)} MiB, ` +
      `${n(a.fp_over_rate)} over the rate, ${n(a.fp_process_exited)} process exited, ${n(a.process_execd)} process exec'd: unnamed), ` +
      `${n(dropped)} dropped (${n(a.dropped_stack_limit)} over memscope's limit of ${n(MAX_STACKS)} stacks, ${n(a.dropped_kernel)} kernel map full); ` +
      `${n(a.modules_evicted)} symbol/CFI tables evicted over ${n(MODULE_CACHE_BYTES >> 20)} MiB, ` +
      `${n(a.processes_evicted)} processes' mappings forgotten over ${n(MAX_PROCESSES)} ` +
      `(${n(a.unnamed)} events' stacks unnamed: process exited first); ` +
      `memscope's peak RSS ${n(Math.round(a.peak_rss_bytes / 1048576))} MiB\n`,
  );
}

/** Where the stacks of a per-event tool's events came from (mmapsnoop -U): the parts add up to
 * the events BPF took a DWARF sample for or fell back on. */
export interface EventStackAccounting {
  dwarf: number;
  fp_ring_full: number;
  fp_over_rate: number;
  /** Of dwarf: samples unwound while the ring waited, the unwind queue full (UNWIND_QUEUE_BYTES). */
  unwound_queue_full: number;
  /** Events printed with [stack lost]: their sample never came (EventStacks.lost). */
  stack_lost: number;
  /** Of dwarf: samples that joined no event, their event lost on its ring (EventStacks.unjoined). */
  samples_unjoined: number;
  /** Events printed with "[process exec'd before its stack was named]": their walked stack was of a
   * program their process had left, never named in the new one's maps (EventStacks.execed). */
  process_execd: number;
}

/** @param joined the tool's EventStacks (its join of events and samples), if it has one */
export function accountEventStacks(obj: BpfObject, dwarf: DwarfStacks, joined?: { lost: number; unjoined: number; execed: number }): EventStackAccounting {
  return {
    dwarf: dwarf.samples,
    fp_ring_full: Number(obj.readGlobalU64('ms_dwarf_ring_full')),
    fp_over_rate: Number(obj.readGlobalU64('ms_dwarf_over_rate')),
    unwound_queue_full: dwarf.waited,
    stack_lost: joined?.lost ?? 0,
    samples_unjoined: joined?.unjoined ?? 0,
    process_execd: joined?.execed ?? 0,
  };
}

/** Says a per-event tool's stack accounting in one line on stderr (JSON with --json). */
export function reportEventStacks(what: string, a: EventStackAccounting, json: boolean): void {
  if (json) {
    process.stderr.write(JSON.stringify({ accounting: a }) + '\n');
    return;
  }
  const n = (v: number) => v.toLocaleString('en-US');
  const total = a.dwarf + a.fp_ring_full + a.fp_over_rate;
  process.stderr.write(
    `memscope: ${n(total)} ${what} stacks: ${n(a.dwarf)} DWARF-unwound (${n(a.unwound_queue_full)} while the ring waited, unwind queue full ` +
      `over ${n(UNWIND_QUEUE_BYTES >> 20)} MiB), ${n(total - a.dwarf)} with frame-pointer stacks (${n(a.fp_ring_full)} sample ring full, ${n(a.fp_over_rate)} over the rate); ` +
      `${n(a.stack_lost)} events shown with [stack lost] (their sample never came), ${n(a.samples_unjoined)} samples joined no event (their event lost), ` +
      `${n(a.process_execd)} shown with "[process exec'd before its stack was named]" (of a program their process had left)\n`,
  );
}

/** The --verbose line that says how user stacks are taken. */
export function describeUnwind(o: UnwindOptions): string {
  if (o.unwind === 'fp') return 'user stacks: frame pointers (in the kernel)';
  const how = `DWARF CFI unwinding of ${o.unwindBytes} stack bytes per event`;
  return o.unwind === 'dwarf' ? `user stacks: ${how}` : `user stacks: ${how}, frame pointers above ${o.unwindRate} events/s per CPU`;
}
