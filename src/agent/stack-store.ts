// SPDX-License-Identifier: Apache-2.0
// Stacks read out of the kernel's count maps at every collection, kept raw (addresses, or build
// id + offset) per process while it lives and symbolized only when asked for (a profile, an OOM
// post-mortem): collecting stays cheap however many processes fault. Bounded: processes, stacks
// per process, and a grace period after a process exits.
import { parseUserFramesText, type UserFrame } from '../core/frames';

export interface RawStack {
  /** innermost first; null when the kernel could not store the stack (see missed) */
  user: UserFrame[] | null;
  /** the stack id's error when the kernel could not store it */
  missed?: number;
  count: number;
  /** what was counted, when a store holds several kinds (vmgrowth: brk, mmap) */
  kind?: string;
  /** the thread's name (a process before exec has its parent's) */
  comm: string;
  /** the program image a walked stack's frames are of (the low 32 bits of mm->start_stack, as BPF
   * stores it); 0 or absent for stacks that need no maps (build ids): named only in maps of that
   * image (nameUserStack), never in those of a program its process exec'd since */
  image?: number;
}

export interface RawSample extends RawStack {
  pid: number;
}

export interface ProcessStacks {
  pid: number;
  comm: string;
  /** the memory cgroup (below the hierarchy's root), named again when BPF reports another id */
  cgroup: string | null;
  /** the memory cgroup's id BPF reported for it, if any */
  cgid?: bigint;
  stacks: Map<string, RawStack>;
  total: number;
  /** events not kept (or evicted) because the process already had maxStacks stacks */
  dropped: number;
  /** Date.now() when the process was found gone, else 0 */
  goneAt: number;
  /** with stacks full: no kept stack has fewer events than this (counts only grow, and a stack
   * comes in only in place of a lighter one), so a new stack of no more events is dropped without
   * a scan of all its stacks */
  minCount?: number;
}

/**
 * A sample as a collection reads it: its frames are the reader's string (userFramesText), parsed
 * only if someone reads them (a profile window, a trace). The stores key stacks by that string:
 * a collection made an object and a bigint per frame of each sample only to key it, most of the
 * agent's short-lived garbage in a storm of new processes.
 */
export class TextSample implements RawSample {
  constructor(
    readonly pid: number,
    public comm: string,
    public count: number,
    readonly kind: string | undefined,
    readonly frames: string,
    readonly image = 0,
  ) {}

  get user(): UserFrame[] {
    return parseUserFramesText(this.frames);
  }
}

/** A copy of a sample whose count can change (a class's getter is not copied by a spread). */
export function copySample(s: RawSample): RawSample {
  return s instanceof TextSample ? new TextSample(s.pid, s.comm, s.count, s.kind, s.frames, s.image) : { ...s };
}

/** The key's head: `${comm}/${kind}`, then `@image` (hex) for a walked stack: the same addresses
 * in another program image are another stack. */
function keyHead(s: { kind?: string; comm: string; image?: number }): string {
  return s.image ? `${s.comm}/${s.kind ?? ''}@${s.image.toString(16)}` : `${s.comm}/${s.kind ?? ''}`;
}

export function rawKey(s: { user: UserFrame[] | null; missed?: number; kind?: string; comm: string; image?: number }): string {
  if (s instanceof TextSample) return s.frames === '' ? keyHead(s) : [keyHead(s), s.frames].join(',');
  if (!s.user) return `${s.comm}/${s.kind ?? ''}!${s.missed}`;
  // joined, not built with +=: that makes a rope of one cons cell per frame, which a Map keeps as
  // it is (~2 KiB per 32-frame key against ~450 bytes flat; 1,024 processes x 256 stacks are kept)
  const parts = new Array<string>(s.user.length + 1);
  parts[0] = keyHead(s);
  for (let i = 0; i < s.user.length; i++) {
    const f = s.user[i];
    parts[i + 1] = 'ip' in f ? f.ip.toString(16) : `${f.buildId}+${f.fileOffset.toString(16)}`;
  }
  return parts.join(',');
}

/**
 * A stack as the store keeps it: its key and its count, nothing else. Its frames are not kept as
 * objects (an object and a bigint per frame, ~2 KiB for 32 frames), nor its comm, kind and missed
 * id as fields of their own: all are read back from the key, which holds them already, when someone
 * asks (a profile, a post-mortem: rare beside the collections that add stacks). A fork storm keeps
 * ~90,000 of these (1,024 processes in each of two stores): 40 bytes each instead of 72, and no
 * comm string of its own (~24 bytes more each).
 * The key is `${comm}/${kind}`, `@image` for a walked stack, then `,frame...` or `!missed`: neither
 * kind, image, frames nor the missed id hold a '/', so the last '/' ends the comm (which may hold
 * any character).
 */
class KeptStack implements RawStack {
  constructor(
    private readonly key: string,
    public count: number,
  ) {}

  /** what follows `${comm}/`: `${kind}`, `@image`, then `,frames` or `!missed` */
  private get tail(): string {
    return this.key.slice(this.key.lastIndexOf('/') + 1);
  }

  get comm(): string {
    return this.key.slice(0, this.key.lastIndexOf('/'));
  }

  get kind(): string | undefined {
    const m = /^[^,!@]*/.exec(this.tail)![0];
    return m === '' ? undefined : m;
  }

  get image(): number | undefined {
    const m = /^[^,!@]*@([0-9a-f]+)/.exec(this.tail);
    return m ? parseInt(m[1], 16) : undefined;
  }

  get missed(): number | undefined {
    const tail = this.tail;
    const bang = tail.indexOf('!');
    const v = bang < 0 ? 'undefined' : tail.slice(bang + 1);
    return v === 'undefined' ? undefined : Number(v);
  }

  get user(): UserFrame[] | null {
    const tail = this.tail;
    if (tail.includes('!')) return null;
    const comma = tail.indexOf(',');
    return comma < 0 ? [] : parseUserFramesText(tail.slice(comma + 1));
  }
}

export class StackStore {
  private readonly procs = new Map<number, ProcessStacks>();
  private readonly windows = new Set<(b: RawSample[]) => void>();
  private droppedTotal = 0;

  /** Events of every process whose stacks were not kept, or were evicted for heavier ones, its
   * maxStacksPerProcess stacks taken (the sum of ProcessStacks.dropped, kept past the processes'
   * own eviction: a counter). */
  get dropped(): number {
    return this.droppedTotal;
  }

  constructor(private readonly limits: { maxProcesses: number; maxStacksPerProcess: number; graceMs?: number }) {}

  /** Adds one collection's stacks (counts since the last collection). `cgidOf`: the memory cgroup
   * id BPF reports for a process now; a process whose id changed (it moved: `docker exec`) has its
   * cgroup named again, so its samples carry the container it is in, not the one it was first seen in. */
  add(samples: RawSample[], cgroupOf: (pid: number) => string | null, cgidOf: (pid: number) => bigint | undefined = () => undefined): void {
    for (const w of this.windows) w(samples);
    for (const s of samples) {
      let p = this.procs.get(s.pid);
      if (!p) {
        if (this.procs.size >= this.limits.maxProcesses) this.evict();
        if (this.procs.size >= this.limits.maxProcesses) continue;
        p = { pid: s.pid, comm: s.comm, cgroup: cgroupOf(s.pid), cgid: cgidOf(s.pid), stacks: new Map(), total: 0, dropped: 0, goneAt: 0 };
        this.procs.set(s.pid, p);
      } else {
        const id = cgidOf(s.pid);
        if (id !== undefined && id !== p.cgid) {
          p.cgid = id;
          p.cgroup = cgroupOf(s.pid);
        }
      }
      // one string per process while its comm stays (each sample brings a copy of its own)
      if (p.comm !== s.comm) p.comm = s.comm;
      p.total += s.count;
      const key = rawKey(s);
      const prev = p.stacks.get(key);
      if (prev) prev.count += s.count;
      else if (p.stacks.size < this.limits.maxStacksPerProcess) {
        p.stacks.set(key, new KeptStack(key, s.count));
        p.minCount = 0; // a light stack may have come in
      } else if (s.count > (p.minCount ?? 0) && this.evictStack(p, s.count)) {
        p.stacks.set(key, new KeptStack(key, s.count));
      } else {
        p.dropped += s.count;
        this.droppedTotal += s.count;
      }
    }
  }

  /** A full process keeps its heaviest stacks: the lightest goes if the new one has more events
   * (a process's first faults before exec are its parent's code, many stacks of few faults).
   * The scan's minimum is kept (minCount): a process full of stacks taking new ones of one fault
   * each (a busy host's JIT, a fork storm's parent) scanned all 256 for each of them, most of
   * StackStore.add's time (70% of its profile ticks at load 10). */
  private evictStack(p: ProcessStacks, count: number): boolean {
    let minKey: string | undefined;
    let min = Infinity;
    for (const [k, s] of p.stacks) {
      if (s.count < min) {
        min = s.count;
        minKey = k;
      }
    }
    p.minCount = min; // still a lower bound after the swap below: the new stack has more than min
    if (minKey === undefined || min >= count) return false;
    p.stacks.delete(minKey);
    p.dropped += min;
    this.droppedTotal += min;
    return true;
  }

  get(pid: number): ProcessStacks | undefined {
    return this.procs.get(pid);
  }

  get size(): number {
    return this.procs.size;
  }

  /** Receives every collection's samples until the returned function is called. */
  openWindow(f: (b: RawSample[]) => void): () => void {
    this.windows.add(f);
    return () => this.windows.delete(f);
  }

  /** Marks exited processes and forgets those gone longer than the grace period. */
  sweep(isAlive: (pid: number) => boolean, forget: (pid: number) => void): void {
    const now = Date.now();
    for (const p of this.procs.values()) {
      if (!p.goneAt && !isAlive(p.pid)) p.goneAt = now;
      if (p.goneAt && now - p.goneAt > (this.limits.graceMs ?? 60_000)) {
        this.procs.delete(p.pid);
        forget(p.pid);
      }
    }
  }

  /** Makes room for a tenth of maxProcesses at once: the processes gone longest first, then the
   * live ones with the fewest events. One pass per many new processes, not one per process (a
   * host starting thousands of short-lived processes a second made this a scan of the whole
   * store for each). */
  private evict(): void {
    const n = Math.max(1, Math.ceil(this.limits.maxProcesses / 10));
    const order = [...this.procs.values()].sort((a, b) => {
      if (a.goneAt && b.goneAt) return a.goneAt - b.goneAt;
      if (a.goneAt || b.goneAt) return a.goneAt ? -1 : 1;
      return a.total - b.total;
    });
    for (let i = 0; i < n && i < order.length; i++) this.procs.delete(order[i].pid);
  }
}
