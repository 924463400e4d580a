// SPDX-License-Identifier: Apache-2.0
// Reading a "count by stack" map (key struct ms_stack_key) into symbolized stacks.
import type { BpfObject } from './bpf-object';
import { StackReader } from './stacks';
import { struct, eachEntry } from './struct';
import type { CountedStack, Frame, UserFrame } from '../core/frames';
import { sameImage, type PinnedStack, type Symbolizer } from '../symbols/symbolizer';
import type { Mapping } from '../procfs/maps';
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

/** A count map's reader that pins its stacks as BPF stores them (DwarfStacks.nameWhileAlive). */
export interface StackNamer {
  /** BPF stored user stack ustack of tgid (struct ms_stack_note, after the mappings of its frames). */
  noteNew(tgid: number, ustack: number): void;
  /** Every NAME_EVERY_MS (DwarfStacks): pins what noteNew left over, and stacks whose notes were lost.
   * A namer without it (EventStacks: notes only) starts no timer. */
  nameNew?(): void;
}

export interface StackCountReader extends StackNamer {
  nameNew(): void;
  /** Reads (and with clear, empties) the map; stacks are symbolized as they are read. */
  read(opts?: { clear?: boolean; onIds?: (ustack: number, kstack: number) => void; quiet?: boolean; limit?: number }): CountedStack[];
  /** What the last read with a limit left out: its stacks (by count, the smallest) and their
   * events, counted under overLimit, one line per process (overLimitStacks). */
  readonly omitted: { stacks: number; events: number };
  /** How many events had no user stack because the stack map was full. */
  readonly stacks: StackReader;
  /** Events read so far whose walked stacks were of a program image their process had left before
   * its maps were known (shown as EXECED: accounting.process_execd). */
  readonly execed: number;
}

const NOT_WANTED = -1; // ms_count_stack's key when no stack was asked for

/** Time spent pinning noted stacks per NAME_EVERY_MS (250 ms) before the rest waits for the next
 * period: a burst of new stacks (a fork storm) never holds the event loop for long. A stack that
 * waits keeps its process's mappings (Symbolizer.hold), so waiting costs no name. */
const PIN_BUDGET_MS = 50;
/** Noted stacks waiting to be pinned (so processes whose mappings are held); past it a note is
 * dropped and the count map scanned for its stack instead. */
const MAX_WAITING = 16_384;
/** The count map is read to find stacks whose notes were lost (ring full) at most this often: that
 * whole-map read, every NAME_EVERY_MS, is what stalled the event loop under storms (issue 10). */
const SCAN_EVERY_MS = 2_000;

/** In place of the stacks a read with a limit left out (an interval report's cap: their counts are
 * kept, their frames never named, so an interval report's memory is bounded whatever the rate). */
export function overLimit(stacks: number, limit: number): Frame {
  const n = (v: number) => v.toLocaleString('en-US');
  const f: Frame = { addr: 0n, symbol: `[${n(stacks)} other stacks: over the interval report's limit of ${n(limit)}]`, offset: 0, module: null, note: true };
  overLimitFrames.set(f, stacks);
  return f;
}

/** overLimit's frames, with their stack counts (foldOverLimit). */
const overLimitFrames = new WeakMap<Frame, number>();

/** For a report not per process: the per-process overLimit lines as one (pid 0). */
export function foldOverLimit(stacks: CountedStack[], limit: number): CountedStack[] {
  const over = stacks.filter((s) => s.user.length === 1 && overLimitFrames.has(s.user[0]));
  if (over.length < 2) return stacks;
  const n = over.reduce((a, s) => a + overLimitFrames.get(s.user[0])!, 0);
  const count = over.reduce((a, s) => a + s.count, 0);
  const folded = new Set(over);
  const rest = stacks.filter((s) => !folded.has(s));
  return [...rest, { pid: 0, comm: '', count, user: [overLimit(n, limit)], kernel: [] }];
}

/** The stacks a read with a limit left out, one line per process (so a tool's per-process totals,
 * vmgrowth's rows, still add up): each a CountedStack of its events under overLimit. */
export function overLimitStacks(rest: Iterable<{ pid: number; comm: string; count: number }>, limit: number): CountedStack[] {
  const by = new Map<string, { pid: number; comm: string; count: number; stacks: number }>();
  for (const r of rest) {
    const k = `${r.pid}/${r.comm}`;
    const g = by.get(k) ?? { pid: r.pid, comm: r.comm, count: 0, stacks: 0 };
    g.count += r.count;
    g.stacks++;
    by.set(k, g);
  }
  return [...by.values()].map((g) => ({ pid: g.pid, comm: g.comm, count: g.count, user: [overLimit(g.stacks, limit)], kernel: [] }));
}

/** A stack the kernel could not store (its errno), shown as BCC does, not as empty. */
export function missed(kind: string, id: number): Frame {
  const why = id === -17 ? 'its ids taken by other stacks (hash collision)' : id === -12 ? 'stack map full' : id === -14 ? 'stack not readable' : `error ${-id}`;
  return { addr: 0n, symbol: `[missed ${kind} stack: ${why}]`, offset: 0, module: null, note: true };
}

/** In place of the frames of a stack whose process exited before they were named, its mappings
 * forgotten (MAX_PROCESSES): said, never guessed (counted in the accounting's fp_unnamed). */
export const UNNAMED: Frame = { addr: 0n, symbol: '[process exited before its stack was named]', offset: 0, module: null, note: true };

/** In place of the frames of a stack taken in a program its process has exec'd away from before
 * memscope read or recorded its maps: the maps known are of the new program, which may hold other
 * code at the same addresses (two non-PIE programs). Said, never guessed (accounting.process_execd). */
export const EXECED: Frame = { addr: 0n, symbol: "[process exec'd before its stack was named]", offset: 0, module: null, note: true };

/**
 * A user stack of pid pinned to its mappings (Symbolizer.pin), to be named later; null when it
 * holds bare addresses and pid's mappings are no longer known (reading another process's maps, or
 * guessing, could give wrong frames: it is shown as UNNAMED). Build-id frames need no mappings.
 * image: the program image the stack is of, where known (Symbolizer.pin).
 */
export function pinUserStack(symbolizer: Symbolizer, pid: number, frames: UserFrame[], at?: readonly Mapping[], image?: bigint): PinnedStack | null {
  if (frames.some((f) => !('buildId' in f)) && !at && !symbolizer.hasMaps(pid)) return null;
  return symbolizer.pin(pid, frames, at, image);
}

/**
 * Whether a walked stack of pid, of program image `image` (its low 32 bits, as BPF stores it), was
 * taken in a program pid has left: the maps it would be named in are of another image, perhaps with
 * other code at the same addresses (two non-PIE programs, issue 10). Those maps are `at` (recorded
 * when its note came, told their image by it: DwarfStacks.take), else those of its image known now
 * (mapsForImage: /proc read again once if need be). No image (a build-id or DWARF stack): false.
 * The one check of every tool that names walked stacks.
 */
export function leftImage(symbolizer: Symbolizer, pid: number, image: bigint | undefined, at?: readonly Mapping[]): boolean {
  if (!image) return false;
  const maps = at ?? symbolizer.mapsForImage(pid, image);
  return !!maps && !sameImage(symbolizer.imageOf(maps), image);
}

/** A user stack of pid named now (per-event tools, the agent's stores): a walked stack of program
 * image `image` only in maps of that image, else [EXECED] (leftImage). */
export function nameUserStack(symbolizer: Symbolizer, pid: number, frames: UserFrame[], image?: bigint): Frame[] {
  return leftImage(symbolizer, pid, image) ? [EXECED] : symbolizer.user(pid, frames);
}

/** nameUserStack of a user stack id of `stacks` (per-event tools: mmapsnoop -U, oomkill, trace). */
export function nameStackId(symbolizer: Symbolizer, stacks: StackReader, pid: number, ustack: number): Frame[] {
  const frames = stacks.userStack(ustack); // (reads its image too)
  return nameUserStack(symbolizer, pid, frames, stacks.userStackImage(ustack) || undefined);
}

/** One number for (tgid, user stack id): pids are below 2^22, ids below 2^31. */
const keyOf = (tgid: number, ustack: number) => tgid * 2 ** 31 + ustack;

export function stackCounts(obj: BpfObject, map: string, symbolizer: Symbolizer): StackCountReader {
  const stacks = new StackReader(obj);
  // stacks pinned while their process lived (at most the walked-stack map's entries)
  const pinned = new Map<number, PinnedStack>();
  // stacks pinned, waiting, or found unpinnable (process gone, mappings forgotten): not queued again
  const seen = new Set<number>();
  // stacks of a program image their process had left when they were pinned (EXECED)
  const execed = new Set<number>();
  let execedCount = 0;
  // from waitHead on; held: hold(tgid) was called; at: tgid's mappings when the note arrived
  const waiting: { tgid: number; ustack: number; held: boolean; at?: readonly Mapping[] }[] = [];
  let waitHead = 0;
  let spent = 0; // ms spent pinning in this NAME_EVERY_MS period
  let overflow = false;
  let notesLost = 0n;
  let notesSaid = 0n; // notes lost already said: an interval mode's reads say only the growth
  let lastScan = 0;
  const pin = (tgid: number, ustack: number, at?: readonly Mapping[]) => {
    const key = keyOf(tgid, ustack);
    let p = pinned.get(key);
    if (!p && !execed.has(key)) {
      seen.add(key);
      const frames = stacks.userStack(ustack); // (reads its image too)
      const image = stacks.userStackImage(ustack) || undefined;
      if (leftImage(symbolizer, tgid, image, at)) {
        execed.add(key);
        return null;
      }
      const now = pinUserStack(symbolizer, tgid, frames, at, image);
      if (!now) return null;
      pinned.set(key, (p = now));
    }
    return p;
  };
  const pinTimed = (tgid: number, ustack: number, at?: readonly Mapping[]) => {
    const t0 = performance.now();
    pin(tgid, ustack, at);
    spent += performance.now() - t0;
  };
  const wait = (tgid: number, ustack: number, hold: boolean) => {
    if (waiting.length - waitHead >= MAX_WAITING) overflow = true;
    else if (hold) {
      symbolizer.hold(tgid);
      // pinned later against the mappings of this point of the ring, not against whatever was
      // recorded meanwhile (an exec's new program at the same addresses, a later /proc read)
      waiting.push({ tgid, ustack, held: true, at: symbolizer.mapsNow(tgid) });
    } else waiting.push({ tgid, ustack, held: false });
  };
  const pinWaiting = (budget: number) => {
    while (waitHead < waiting.length && spent < budget) {
      const { tgid, ustack, held, at } = waiting[waitHead++];
      pinTimed(tgid, ustack, at);
      if (held) symbolizer.release(tgid);
    }
    if (waitHead >= 8192 || waitHead >= waiting.length) {
      waiting.splice(0, waitHead);
      waitHead = 0;
    }
  };
  // the stacks in the count map neither pinned nor waiting: only keys are looked at
  const scan = () => {
    const e = obj.entries(map, false);
    const [ot, ou] = [STACK_KEY.offsets.tgid, STACK_KEY.offsets.ustack];
    for (let i = 0, o = 0; i < e.count; i++, o += e.keySize) {
      const tgid = e.keys.readUInt32LE(o + ot);
      const ustack = e.keys.readInt32LE(o + ou);
      if (ustack < 0 || seen.has(keyOf(tgid, ustack))) continue;
      seen.add(keyOf(tgid, ustack));
      wait(tgid, ustack, false); // its note was lost: its process may be gone, nothing to hold
    }
  };
  const hasLostCount = obj.hasGlobal('ms_stack_notes_lost');
  let omitted = { stacks: 0, events: 0 };
  return {
    stacks,
    get omitted() {
      return omitted;
    },
    get execed() {
      return execedCount;
    },
    noteNew(tgid, ustack) {
      const key = keyOf(tgid, ustack);
      if (ustack < 0 || pinned.has(key)) return;
      seen.add(key);
      // at once while the period's budget lasts and nothing older waits (notes come in order),
      // against the mappings recorded up to this point of the ring (Symbolizer.pin: a frame
      // outside ring-sent ones is not looked up in /proc now, which may show a program exec'd since)
      if (spent < PIN_BUDGET_MS && waitHead >= waiting.length) pinTimed(tgid, ustack, symbolizer.mapsNow(tgid));
      else wait(tgid, ustack, true);
    },
    nameNew() {
      spent = 0;
      const lost = hasLostCount ? obj.readGlobalU64('ms_stack_notes_lost') : 0n;
      const now = Date.now();
      if ((lost > notesLost || overflow) && now - lastScan >= SCAN_EVERY_MS) {
        [notesLost, overflow, lastScan] = [lost, false, now];
        scan();
      }
      pinWaiting(PIN_BUDGET_MS);
    },
    read(opts = {}) {
      pinWaiting(Infinity); // their holds released
      const out: CountedStack[] = [];
      const toName: { pid: number; stack: PinnedStack }[] = [];
      const named: CountedStack[] = [];
      let entries: { k: ReturnType<typeof STACK_KEY.decode>; count: number }[] = [];
      for (const [k, v] of eachEntry(obj.entries(map, opts.clear ?? false), STACK_KEY)) {
        entries.push({ k, count: Number(v.readBigUInt64LE(0)) });
        opts.onIds?.(k.ustack, k.kstack);
      }
      omitted = { stacks: 0, events: 0 };
      if (opts.limit !== undefined && entries.length > opts.limit) {
        // the most counted are named; the rest only counted (their frames never read)
        entries.sort((a, b) => b.count - a.count);
        const rest = entries.slice(opts.limit).map((e) => ({ pid: e.k.tgid, comm: e.k.comm, count: e.count }));
        for (const e of rest) [omitted.stacks, omitted.events] = [omitted.stacks + 1, omitted.events + e.count];
        entries = entries.slice(0, opts.limit);
        out.push(...overLimitStacks(rest, opts.limit));
      }
      for (const { k, count } of entries) {
        const p = k.ustack >= 0 ? pin(k.tgid, k.ustack) : null;
        let user = k.ustack < NOT_WANTED ? [missed('user', k.ustack)] : k.ustack === NOT_WANTED ? [] : p ? [] : null;
        if (!user && execed.has(keyOf(k.tgid, k.ustack))) {
          user = [EXECED];
          execedCount += count;
        } else if (!user) {
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
      if (opts.clear) {
        pinned.clear();
        seen.clear();
        execed.clear();
      }
      // stacks the kernel could not store are counted there, and said once at the end of the run
      // by the tool (tools/_stack-report.ts reportStacksLost), not at every read
      // mapping notes the full sample ring refused: a process that exited before its maps were
      // read then has its stacks shown with the marker; said, so the marker has its reason
      const notes = obj.hasGlobal('ms_notes_lost') ? obj.readGlobalU64('ms_notes_lost') : 0n;
      if (notes > notesSaid && !opts.quiet) {
        const since = notesSaid > 0n ? ` (${notes - notesSaid} since the last report)` : '';
        process.stderr.write(
          `memscope: ${notes} notes of process mappings were lost${since} (the sample ring was full): stacks of processes that exited unread show ${UNNAMED.symbol}\n`,
        );
        notesSaid = notes;
      }
      return out;
    },
  };
}
