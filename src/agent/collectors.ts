// SPDX-License-Identifier: Apache-2.0
// What the agent knows, gathered from the loaded sources: per-cgroup totals (read from the
// kernel at scrape time), fault and growth stacks (drained every collectInterval into per-process
// stores), reclaim and compaction histograms, OOM kills (delivered as they happen).
import { BpfObject } from '../engine/bpf-object';
import { missed, nameUserStack, STACK_KEY } from '../engine/stack-counts';
import { StackReader, stacksLost } from '../engine/stacks';
import { eachEntry } from '../engine/struct';
import { procNotePid } from '../engine/proc-note';
import { ContainerResolver, DEFAULT_DIRS } from '../containers';
import { Symbolizer } from '../symbols/symbolizer';
import type { Frame } from '../core/frames';
import { DwarfStacks } from '../unwind/dwarf-stacks';
import { OOM_EVENT } from '../tools/oomkill';
import { TriggerStacks } from '../tools/_oom-trigger';
import type { AgentConfig } from './config';
import { FAULT_PERF_PROGRAM, loadSources, Loaded, SourceName } from './sources';
import { RawSample, RawStack, StackStore, TextSample } from './stack-store';
import { logEvent } from './log';
import { OomStore } from './oom-store';
import { AliveCache } from './alive';
import * as fs from 'node:fs';
import type { MapEntries } from '../engine/native';

/** An OOM kill's record (copied out of its delivery) and its trigger's stack id. */
interface OomRecord {
  rec: Buffer;
  ustack: number;
}

/** enum of MS_CG_* in bpf/include/memscope.h */
/** How often the host's fault rate is measured for the fault program's sample period: a burst runs
 * every fault through it for at most about twice this (one read of a 3-slot per-CPU array each). */
export const FAULT_RATE_MS = 250;

export const CG_KIND = { faults: 0, swapin: 1, hugetlbFaults: 2, brkBytes: 3, mmapBytes: 4, reclaimStallNs: 5, reclaimStalls: 6 } as const;

/** Stacks per object whose frames stay read between collections (up to ~1.5 KiB each at the
 * 32 frames the agent keeps: ~6 MiB at most per object). */
const READER_CACHE = 4096;

/** Processes with samples in one collection up to which their memory cgroups are looked up one by
 * one (a system call each) rather than by reading ms_pid_cgroup whole: with the map full (16,384),
 * 2,048 lookups cost ~8 ms of CPU against ~15 ms for the whole map's two copies. */
const PID_LOOKUPS = 2048;

/** Map entries, stacks or samples handled between two looks at the event loop in a collection
 * on the timer: a full fault map (65,536 entries) took 60 s of a collection in a fork storm at load
 * 20, and SIGTERM waited for all of it (systemd's stop timeout is 90 s). A slice of 256 took at most
 * ~35 ms of CPU in a storm on a quiet host, where 1,024 took up to 140 ms (7 s of an agent held to 2%
 * of a CPU, as test/agent-stop holds it). Yielding costs a setImmediate per slice, not a timer
 * (5-ms timer slices made /metrics slower). */
const SLICE = 256;

/** Process notes handled per ring delivery (each a /proc read): with 65,536, an agent held to 2% of
 * a CPU in a fork storm did not act on SIGTERM within 90 s; with 256, 5-16 s. */
const NOTES_PER_DELIVERY = 256;

/** Runs a collection's steps to the end at once (a caller that needs its data now). */
function drain<T>(g: Generator<void, T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}


/** Whether pid lives now (one file read; a collection uses AliveCache for many). */
export function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/s.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export class Collectors {
  readonly symbolizer = new Symbolizer();
  readonly containers: ContainerResolver;
  readonly faults: StackStore;
  readonly growth: StackStore;
  readonly ooms: OomStore;
  private readonly dwarf = new DwarfStacks(this.symbolizer);
  /** the vmgrowth object's sample ring: the mappings and notes of its walked stacks (a ring of its
   * own, so DwarfStacks of its own; the same symbolizer) */
  private readonly growthDwarf = new DwarfStacks(this.symbolizer);
  private sources: Loaded[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** adjustFaultPeriod's, every FAULT_RATE_MS */
  private rateTimer: NodeJS.Timeout | null = null;
  /** per object and stack map: stack id → the collection that last saw a count entry refer to it
   * (by object: the faults and vmgrowth objects both have an ms_walked_ustacks, with ids of their own) */
  private stackRefs = new Map<BpfObject, Map<string, Map<number, number>>>();
  /** per count map: raw key → the count read at the last collection, and that collection's number.
   * Updated in place: rebuilt at every collection, its 65,536 keys and entries lived just long
   * enough (one interval) to be promoted to V8's old space, and the heap grew by that much garbage
   * every two seconds until a full collection (the agent's RSS was mostly this). */
  private lastCounts = new Map<string, Map<string, number>>();
  /** per count map: which of two marks its entries read in the latest read carry. An entry holds
   * count * 2 + mark, a number, not an object ({ n, at }: 48,000 of them, 2.3 MiB, in a fork storm):
   * an entry is either read in the latest read or deleted, so one bit tells this read from the last. */
  private lastMark = new Map<string, number>();
  private lostSeen = new Map<string, bigint>();
  /** one reader per object and stack map, kept across collections: a stack id is read from the
   * kernel once while it lives (freeStacks forgets the ids it deletes), not once per collection */
  private readers = new Map<BpfObject, Map<string, StackReader>>();
  /** pid → the fault traces open on it (traceFaults): their faults are counted in maps of their own */
  private faultTraces = new Map<number, Set<(b: RawSample[]) => void>>();
  /** OOM kills waiting for their trigger's stack (the oomkill source's) */
  private oomTriggers: { obj: BpfObject; stacks: TriggerStacks<OomRecord> } | undefined;
  private collecting = false;
  /** the collection on the timer under way, run a slice at a time */
  private sliced: Generator<void, void> | null = null;
  /** set by abandon() (SIGTERM): nothing is collected any more */
  private stopping = false;
  private collections = 0;
  private readonly alive = new AliveCache();
  /** the sample period the host's fault rate asks for (adjustFaultPeriod), the one set on the
   * faults object's perf events, and the faults counted when the rate was last measured */
  private ratePeriod = 1;
  private periodSet = 1;
  private faultsSeen: { n: number; at: number } | null = null;

  constructor(private config: AgentConfig) {
    const limits = { maxProcesses: config.maxProcesses, maxStacksPerProcess: config.maxStacksPerProcess };
    this.faults = new StackStore(limits);
    this.growth = new StackStore(limits);
    this.ooms = new OomStore(config.maxOoms);
    this.containers = new ContainerResolver(undefined, { ...DEFAULT_DIRS, docker: config.dockerRoot ?? DEFAULT_DIRS.docker });
  }

  start(): void {
    this.sources = loadSources(this.config, (name, obj) => this.setup(name, obj));
    if (this.sources.length === 0) throw new Error('no source could be loaded');
    this.schedule();
    const faults = this.source('faults');
    if (faults) this.rateTimer = setInterval(() => !faults.destroyed && this.adjustFaultPeriod(faults), FAULT_RATE_MS);
  }

  loaded(): Loaded[] {
    return this.sources;
  }

  source(name: SourceName): BpfObject | undefined {
    return this.sources.find((s) => s.name === name)?.obj;
  }

  reconfigure(config: AgentConfig): void {
    this.config = config;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.collectSliced(), this.config.collectInterval * 1000);
  }

  private setup(name: SourceName, obj: BpfObject): void {
    if (name === 'faults' || name === 'vmgrowth') {
      // maps only: a file is opened when a profile or post-mortem names a frame in it (note())
      obj.onRecords('ms_new_procs', (recs) => recs.forEach((r) => this.symbolizer.note(procNotePid(r))), NOTES_PER_DELIVERY);
    }
    if (name === 'faults') this.dwarf.listen(obj); // executable-mapping notes of plain-address stacks
    // the same for growth stacks; processes' ends are noted by the faults object's ring
    if (name === 'vmgrowth') this.growthDwarf.listen(obj, false);
    if (name === 'oomkill') {
      // the trigger's stack as oomkill --unwind fp takes it (the trigger is often the victim, gone
      // before its maps could be read): each kill waits for the note of its walked stack, sent on
      // the object's sample ring after the mappings of its frames (a ring of its own: DwarfStacks
      // of its own, same symbolizer; processes' ends are noted by the faults object's)
      const triggers = new TriggerStacks<OomRecord>(
        new DwarfStacks(this.symbolizer),
        this.symbolizer,
        ({ rec, ustack: id }, ustack) => {
          try {
            // the victim's last faults are still in the kernel's map: collect them first
            this.collect();
            this.ooms.record(rec, id >= 0 ? ustack : undefined, this);
          } catch (e) {
            // one bad post-mortem must not lose the others
            logEvent('oom_error', { error: (e as Error).message });
          } finally {
            triggers.free(obj, id);
          }
        },
        true,
      );
      triggers.listen(obj, false);
      this.oomTriggers = { obj, stacks: triggers };
      // copied: a record waits beyond the delivery it came in
      obj.onRecords('oom_events', (recs) =>
        recs.forEach((r) => {
          const e = OOM_EVENT.decode(r);
          triggers.push({ rec: Buffer.from(r), ustack: e.trig_ustack }, e);
        }),
      );
    }
  }

  /** A collection run a slice at a time between the event loop's turns, so that a signal is acted
   * on within a slice: abandon() ends it at the next turn. */
  private collectSliced(): void {
    if (this.collecting || this.stopping) return;
    this.consumeRings();
    const g = (this.sliced = this.steps());
    const step = () => {
      if (this.sliced !== g) return; // finished by a caller of collect() meanwhile, or abandoned
      if (this.stopping) {
        g.return();
        this.sliced = null;
        return;
      }
      if (g.next().done) this.sliced = null;
      else setImmediate(step);
    };
    step();
  }

  /** Drains the stack maps into the stores now (a profile, an OOM kill's victim): the collection on
   * the timer under way, if any, is run to its end first (its entries were read when it began: the
   * caller wants the counts up to now, so a new one follows); nothing once stopping. */
  collect(): void {
    if (this.stopping) return;
    this.consumeRings();
    const g = this.sliced;
    if (g) {
      this.sliced = null;
      drain(g);
    }
    if (this.collecting) return;
    drain(this.steps());
  }

  /** Reads what the sources' rings hold now: their BPF wakes the agent only once a ring fills
   * (ms_batch_wakeups), so the process and mapping notes of a quiet host wait for a collection,
   * and a collection never reads maps whose processes' notes are still in a ring. oomkill's ring
   * wakes at each kill and is left to its wake-ups (this runs inside its deliveries: an OOM kill
   * collects its victim's faults). */
  private consumeRings(): void {
    for (const s of this.sources) if (s.name !== 'oomkill' && !s.obj.destroyed) s.obj.consumeRings();
  }

  /** Stops collecting at once (SIGTERM): a collection under way is dropped at its next slice, and
   * no new one starts (close() then unloads without reading a full map first). The rings of every
   * source but oomkill's deliver nothing more, now or in their last drain at close: in a storm
   * they hold seconds of process and mapping notes (28 s of mapping notes in one measured stop,
   * the agent held to 2% of a CPU), for profiles no one will ask for. OOM kills are still logged. */
  abandon(): void {
    this.stopping = true;
    for (const s of this.sources) if (s.name !== 'oomkill' && !s.obj.destroyed) s.obj.discardRings();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.rateTimer) clearInterval(this.rateTimer);
    this.rateTimer = null;
  }

  /** Drains the stack maps into the stores; frees stack ids unused for a while; reports lost events.
   * Yields between slices of the work (collectSliced); drain() runs it at once. */
  private *steps(): Generator<void, void> {
    if (this.collecting) return;
    this.collecting = true;
    try {
      this.collections++;
      const faults = this.source('faults');
      const growth = this.source('vmgrowth');
      // the maps first, then the list of living processes: a pid the maps hold and the list does
      // not has exited (one started after the list could not be in the maps already)
      // the traced processes' own maps first (small): their windows do not wait for the rest
      this.collectTraced();
      // a yield after each read of a whole map: a full one is a slice's worth of work on its own
      const faultEntries = faults?.entries('fault_counts');
      yield;
      const brkEntries = growth?.entries('brk_grow');
      const mmapEntries = growth?.entries('mmap_grow');
      yield;
      this.alive.refresh();
      const isAlive = this.alive.isAlive;
      yield;
      const faultSamples = faults ? yield* this.readRaw(faults, 'fault_counts', faultEntries!, 'ms_walked_ustacks', isAlive) : [];
      let growthSamples: RawSample[] = [];
      if (growth) {
        const brk = yield* this.readRaw(growth, 'brk_grow', brkEntries!, 'ms_walked_ustacks', isAlive, 'brk');
        const mmap = yield* this.readRaw(growth, 'mmap_grow', mmapEntries!, 'ms_walked_ustacks', isAlive, 'mmap');
        // shrinkage is not a profile the agent serves: emptied so its map never fills
        // (their stacks are freed below unless a growth entry refers to them too)
        const refs = this.refsOf(growth, 'ms_walked_ustacks');
        for (const m of ['brk_shrink', 'munmap_shrink']) {
          for (const [k] of eachEntry(growth.entries(m, true), STACK_KEY)) if (k.ustack >= 0 && !refs.has(k.ustack)) refs.set(k.ustack, -1);
        }
        growthSamples = brk.concat(mmap);
      }
      // each process's memory cgroup read after its counts: BPF records a process's new cgroup
      // before it counts that process's event (ms_traced), so a process that moved (docker exec)
      // between two rounds is named in its new cgroup. Read before the counts, the move could be
      // missed for good: its second round counted here under the old id, and no later sample to
      // name it again.
      yield;
      const { cgroupOf, cgidOf } = this.pidCgroups([faults, growth], [faultSamples, growthSamples]);
      for (const [store, samples] of [[this.faults, faultSamples], [this.growth, growthSamples]] as const) {
        for (let i = 0; i < samples.length; i += SLICE) {
          yield;
          store.add(samples.slice(i, i + SLICE), cgroupOf, cgidOf);
        }
      }
      yield;
      if (faults) this.freeStacks(faults, 'ms_walked_ustacks');
      if (growth) this.freeStacks(growth, 'ms_walked_ustacks');
      yield;
      this.faults.sweep(isAlive, () => {});
      this.growth.sweep(isAlive, () => {});
      // mappings of exited processes no store holds any more
      if (this.collections % 10 === 0) {
        for (const pid of this.symbolizer.knownPids()) {
          if (!this.faults.get(pid) && !this.growth.get(pid) && !isAlive(pid)) this.symbolizer.forget(pid);
        }
      }
      this.dropRemovedCgroups();
      this.reportLost();
    } catch (e) {
      logEvent('collect_error', { error: (e as Error).message });
    } finally {
      this.collecting = false;
    }
  }

  /**
   * The faults of pid from now until the returned function is called, as they are collected: the
   * pid's faults are counted in the fault trace maps (bpf/faults.bpf.c fault_trace_*), which only
   * traced processes use, so a host-wide storm that fills fault_counts does not drop them. They go
   * to the fault store as well (the process's kept stacks stay whole). Closing reads the last of
   * them first. With every trace slot taken, the trace is a window on the shared map instead.
   */
  traceFaults(pid: number, f: (b: RawSample[]) => void): () => void {
    const obj = this.source('faults');
    let listeners = this.faultTraces.get(pid);
    if (!listeners && obj) {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(pid);
      // the count BPF tests before the pid map is raised first and lowered after: it never says
      // no trace is open while a pid is in the map
      this.setTracesOpen(obj, this.faultTraces.size + 1);
      try {
        obj.update('fault_trace_pids', key, Buffer.alloc(4));
        this.faultTraces.set(pid, (listeners = new Set()));
        logEvent('fault_trace_started', { pid });
      } catch (e) {
        logEvent('fault_trace_shared', { pid, error: (e as Error).message });
      }
      this.setTracesOpen(obj, this.faultTraces.size);
    }
    if (!listeners) {
      const close = this.faults.openWindow((b) => f(b.filter((s) => s.pid === pid)));
      return () => {
        this.collect();
        close();
      };
    }
    const set = listeners;
    set.add(f);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      if (set.size === 1 && this.faultTraces.get(pid) === set) {
        const key = Buffer.alloc(4);
        key.writeUInt32LE(pid);
        obj!.delete('fault_trace_pids', key);
      }
      // the faults counted up to here, to this trace too
      this.collectTraced();
      set.delete(f);
      if (!set.size && this.faultTraces.get(pid) === set) {
        this.faultTraces.delete(pid);
        this.setTracesOpen(obj!, this.faultTraces.size);
      }
    };
  }

  /** bpf/faults.bpf.c fault_trace_open: how many pids fault_trace_pids holds (0: BPF skips it).
   * While one is open every fault runs the program (period 1): a trace is exact. The period goes to
   * 1 before a pid is added and back after the last is removed, so no traced fault is sampled. */
  private setTracesOpen(obj: BpfObject, n: number): void {
    if (n > 0) this.setFaultPeriod(obj, 1);
    const v = Buffer.alloc(4);
    v.writeUInt32LE(n);
    obj.update('fault_trace_open', Buffer.alloc(4), v);
    if (n === 0) this.setFaultPeriod(obj, this.ratePeriod);
  }

  /**
   * The faults object's period from the host's fault rate over the last FAULT_RATE_MS (issue 13: a
   * program run per fault was most of the agent's cost at 200k faults/s): every fault walked while
   * the host takes at most faultStackRate a second, else one in faultStackSampleEvery on each CPU,
   * weighted by the period (fault profiles then estimate; per-cgroup counts are exact, from the
   * memcg event). The rate is what the program counted, its weights included.
   */
  private adjustFaultPeriod(obj: BpfObject): void {
    const n = obj.slots('fault_walk_stats')[2] ?? 0;
    const at = Date.now();
    const was = this.faultsSeen;
    this.faultsSeen = { n, at };
    if (!was || at <= was.at) return;
    const rate = ((n - was.n) * 1000) / (at - was.at);
    this.ratePeriod = rate > this.config.faultStackRate ? this.config.faultStackSampleEvery : 1;
    if (this.faultTraces.size === 0) this.setFaultPeriod(obj, this.ratePeriod);
  }

  private setFaultPeriod(obj: BpfObject, period: number): void {
    if (period === this.periodSet) return;
    // the weight BPF gives a run is at most this (bpf/faults.bpf.c fault_period_set), written first
    const v = Buffer.alloc(8);
    v.writeBigUInt64LE(BigInt(period));
    obj.update('fault_period_set', Buffer.alloc(4), v);
    obj.setPerfPeriod(FAULT_PERF_PROGRAM, period);
    this.periodSet = period;
    logEvent('fault_period', { period });
  }

  /** Faults counted in the fault trace maps dropped because they were full. */
  faultTraceLost(): number {
    const obj = this.source('faults');
    return obj?.hasGlobal('fault_trace_lost') ? Number(obj.readGlobalU64('fault_trace_lost')) : 0;
  }

  /** Reads the fault trace maps: to the traces of each pid, and to the fault store. A few
   * processes' stacks: cheap enough to run every second while a trace is open. */
  collectTraced(): void {
    const obj = this.source('faults');
    if (!obj || !obj.hasGlobal('fault_trace_lost')) return;
    const e = obj.entries('fault_trace_counts');
    if (!e.count) return;
    const alive = new Map<number, boolean>();
    const isLive = (pid: number) => {
      let a = alive.get(pid);
      if (a === undefined) alive.set(pid, (a = isAlive(pid)));
      return a;
    };
    // a traced process's entries are kept while it lives, idle or not: deleting an entry while BPF
    // adds to it loses those adds, and a trace's count is exact
    const samples = drain(this.readRaw(obj, 'fault_trace_counts', e, 'fault_trace_ustacks', isLive, undefined, (pid) => this.faultTraces.has(pid)));
    this.freeStacks(obj, 'fault_trace_ustacks');
    if (!samples.length) return;
    const byPid = new Map<number, RawSample[]>();
    for (const s of samples) {
      let l = byPid.get(s.pid);
      if (!l) byPid.set(s.pid, (l = []));
      l.push(s);
    }
    for (const [pid, l] of byPid) for (const f of this.faultTraces.get(pid) ?? []) f(l);
    const { cgroupOf, cgidOf } = this.pidCgroups([obj], [samples]);
    this.faults.add(samples, cgroupOf, cgidOf);
  }

  /** The memory cgroup of each process that has samples, as BPF reports it now (ms_pid_cgroup of
   * the given objects; a later object's answer wins): the id, and its path named once per id; /proc
   * for a process BPF has none for. Only those processes are looked up: the map is an LRU of every
   * process seen (16,384 once the host has run a while), and reading it whole at every collection,
   * a Map entry and a BigInt per process, cost 15-19 ms of CPU per collection (~0.8% of one CPU at
   * the 2 s interval, with nothing happening). A storm of processes reads it whole again. */
  private pidCgroups(
    objs: (BpfObject | undefined)[],
    samples: RawSample[][],
  ): { cgroupOf: (pid: number) => string | null; cgidOf: (pid: number) => bigint | undefined } {
    const pids = new Set<number>();
    for (const l of samples) for (const s of l) pids.add(s.pid);
    const ids = new Map<number, bigint>();
    for (const o of objs) {
      if (!o || !pids.size) continue;
      if (pids.size <= PID_LOOKUPS) {
        const keys = Buffer.allocUnsafe(pids.size * 4);
        let j = 0;
        for (const pid of pids) keys.writeUInt32LE(pid, 4 * j++);
        const { values, found } = o.lookupKeys('ms_pid_cgroup', keys);
        const vs = values.length / pids.size;
        j = 0;
        for (const pid of pids) {
          if (found[j]) ids.set(pid, values.readBigUInt64LE(j * vs));
          j++;
        }
        continue;
      }
      const e = o.entries('ms_pid_cgroup');
      for (let i = 0; i < e.count; i++) ids.set(e.keys.readUInt32LE(i * e.keySize), e.values.readBigUInt64LE(i * e.valueBytes));
    }
    const cgidOf = (pid: number) => ids.get(pid);
    const cgroupOf = (pid: number) => {
      const id = ids.get(pid);
      const byId = id === undefined ? undefined : this.containers.ofCgroupId(id)?.cgroup;
      return byId ?? this.containers.ofPid(pid)?.cgroup ?? null;
    };
    return { cgroupOf, cgidOf };
  }

  /**
   * The growth of a "count by stack" map (struct ms_stack_key) since the last collection, as raw
   * samples. Counts stay in the kernel (deleting an entry while BPF adds to it would lose those
   * adds); the entries of processes that have exited are deleted once their last growth is read,
   * and with them the stacks no entry refers to any more.
   */
  private *readRaw(
    obj: BpfObject,
    map: string,
    e: MapEntries,
    stackMap: string,
    isAlive: (pid: number) => boolean,
    kind?: string,
    pinned?: (pid: number) => boolean,
  ): Generator<void, RawSample[]> {
    const reader = this.reader(obj, stackMap);
    let last = this.lastCounts.get(map);
    if (!last) this.lastCounts.set(map, (last = new Map()));
    const mark = (this.lastMark.get(map) ?? 1) ^ 1;
    this.lastMark.set(map, mark);
    const out: RawSample[] = [];
    // the entries that grew, and by how much: their samples are made once their stacks are read
    const grew: number[] = [];
    const deltas: number[] = [];
    const wanted: number[] = [];
    const gone: number[] = [];
    const ids = this.refsOf(obj, stackMap);
    for (let i = 0; i < e.count; i++) {
      if (i % SLICE === SLICE - 1) yield;
      // struct ms_stack_key: u32 tgid, s32 ustack, s32 kstack, char comm[16]; the comm is decoded
      // only for entries that grew (a full map is 65,536 entries, most of them unchanged)
      const at = i * e.keySize;
      const tgid = e.keys.readUInt32LE(at);
      const ustack = e.keys.readInt32LE(at + 4);
      const id = e.keys.toString('latin1', at, at + e.keySize);
      // a u64 as a number without a BigInt per entry (exact below 2^53, as Number(bigint))
      const now = e.values.readUInt32LE(i * e.valueBytes) + e.values.readUInt32LE(i * e.valueBytes + 4) * 0x1_0000_0000;
      const was = last.get(id);
      const before = was === undefined ? 0 : Math.floor(was / 2);
      const delta = now >= before ? now - before : now; // smaller: deleted and created again
      const stored = ustack >= -1;
      if (delta > 0) {
        grew.push(i);
        deltas.push(delta);
        wanted.push(stored ? ustack : -2);
      }
      // idle for a whole interval: deleted too (an add racing the delete is the only loss), so
      // the maps hold only stacks in use and a new stack rarely finds its hash bucket taken
      if (isAlive(tgid) && (delta > 0 || was === undefined || pinned?.(tgid))) {
        last.set(id, now * 2 + mark);
        if (ustack >= 0) ids.set(ustack, this.collections);
      } else {
        if (was !== undefined) last.delete(id);
        gone.push(i);
        // its stack is freed below unless a kept entry refers to it (a process that lived and
        // died between two collections is never kept)
        if (ustack >= 0 && !ids.has(ustack)) ids.set(ustack, -1);
      }
    }
    // the stacks read a slice per call, all before any is freed
    for (let s = 0; s < grew.length; s += SLICE) {
      yield;
      const images: number[] = [];
      const stacks = reader.userStackTexts(wanted.slice(s, s + SLICE).map((id) => (id < -1 ? -1 : id)), images);
      for (let j = s; j < Math.min(grew.length, s + SLICE); j++) {
        const at = grew[j] * e.keySize;
        const tgid = e.keys.readUInt32LE(at);
        const comm = STACK_KEY.decode(e.keys, at).comm;
        out.push(wanted[j] >= -1 ? new TextSample(tgid, comm, deltas[j], kind, stacks[j - s], images[j - s]) : { pid: tgid, comm, count: deltas[j], kind, user: null, missed: e.keys.readInt32LE(at + 4) });
      }
    }
    if (gone.length) {
      const keys = Buffer.allocUnsafe(gone.length * e.keySize);
      gone.forEach((i, j) => e.keys.copy(keys, j * e.keySize, i * e.keySize, (i + 1) * e.keySize));
      obj.deleteKeys(map, keys);
    }
    // entries the kernel no longer holds
    for (const [id, v] of last) if (v % 2 !== mark) last.delete(id);
    return out;
  }

  private reader(obj: BpfObject, stackMap: string): StackReader {
    let m = this.readers.get(obj);
    if (!m) this.readers.set(obj, (m = new Map()));
    let r = m.get(stackMap);
    if (!r) m.set(stackMap, (r = new StackReader(obj, READER_CACHE, stackMap)));
    return r;
  }

  private refsOf(obj: BpfObject, stackMap: string): Map<number, number> {
    let m = this.stackRefs.get(obj);
    if (!m) this.stackRefs.set(obj, (m = new Map()));
    let ids = m.get(stackMap);
    if (!ids) m.set(stackMap, (ids = new Map()));
    return ids;
  }

  /** Deletes the stacks no count entry of any map using this stack map referred to in this collection. */
  private freeStacks(obj: BpfObject, stackMap: string): void {
    const ids = this.stackRefs.get(obj)?.get(stackMap);
    if (!ids) return;
    const reader = this.reader(obj, stackMap);
    const free: number[] = [];
    for (const [id, seen] of ids) {
      if (seen === this.collections) continue;
      free.push(id);
      ids.delete(id);
      reader.forgetUser(id);
    }
    if (!free.length) return;
    const keys = Buffer.allocUnsafe(free.length * 4);
    free.forEach((id, j) => keys.writeUInt32LE(id, j * 4));
    obj.deleteKeys(stackMap, keys);
  }

  /** The frames of a raw stack of pid, named (a walked stack only in maps of its program image). */
  symbolize(pid: number, s: RawStack): Frame[] {
    return s.user ? nameUserStack(this.symbolizer, pid, s.user, s.image ? BigInt(s.image) : undefined) : [missed('user', s.missed ?? 0)];
  }

  /** Faults whose stacks were not walked (sampled: bpf/faults.bpf.c fault_period_weights), the walks
   * that counted more than their own fault; null without the faults source. */
  faultWalkStats(): { notWalked: number; weighted: number; period: number } | null {
    const faults = this.source('faults');
    if (!faults) return null;
    const [notWalked, weighted] = faults.slots('fault_walk_stats');
    return { notWalked, weighted, period: this.periodSet };
  }

  /** Per source that stores walked user stacks (faults, vmgrowth, oomkill's triggers): the events
   * whose stack the kernel could not store, by why (stacks.h ms_store_stack). Each such event is
   * still counted, under [missed user stack: ...] in profiles. */
  stacksLost(): Map<SourceName, { full: number; collided: number }> {
    const out = new Map<SourceName, { full: number; collided: number }>();
    for (const s of this.sources) {
      if (s.obj.destroyed || !s.obj.hasGlobal('ms_plain_ustacks') || !s.obj.readGlobalU8('ms_plain_ustacks')) continue;
      const l = stacksLost(s.obj);
      out.set(s.name, { full: l.user_full, collided: l.user_collided });
    }
    return out;
  }

  lostEvents(): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.sources) out.set(s.name, Number(s.obj.readGlobalU64('lost_events')));
    return out;
  }

  private reportLost(): void {
    for (const s of this.sources) {
      const n = s.obj.readGlobalU64('lost_events');
      const before = this.lostSeen.get(s.name) ?? 0n;
      if (n > before) logEvent('events_lost', { source: s.name, lost: Number(n - before), total: Number(n) });
      this.lostSeen.set(s.name, n);
    }
  }

  /** Deletes the kernel's totals of cgroups that were removed: their series end, and a host that
   * keeps creating cgroups does not fill the map (new cgroups would go uncounted). */
  private dropRemovedCgroups(): void {
    const gone = new Set(this.containers.removedCgroupIds());
    if (!gone.size) return;
    for (const s of this.sources) {
      const e = s.obj.entries('ms_cgroup_totals');
      // one batch per map: a tenth of 1,000 cgroups removed at once was a system call per key,
      // for each of the nine sources
      const keys = Buffer.allocUnsafe(e.count * e.keySize);
      let n = 0;
      for (let i = 0; i < e.count; i++) {
        if (gone.has(e.keys.readBigUInt64LE(i * e.keySize))) e.keys.copy(keys, n++ * e.keySize, i * e.keySize, (i + 1) * e.keySize);
      }
      s.obj.deleteKeys('ms_cgroup_totals', keys.subarray(0, n * e.keySize));
    }
  }

  /** Every kind's per-cgroup totals: kind → cgroup id → value. Each source's map is read once
   * (a scrape asks for seven kinds; reading the maps once per kind made it seven times slower). */
  allCgroupTotals(): Map<number, Map<bigint, number>> {
    const out = new Map<number, Map<bigint, number>>();
    for (const s of this.sources) {
      const e = s.obj.entries('ms_cgroup_totals');
      for (let i = 0; i < e.count; i++) {
        const kind = e.keys.readUInt32LE(i * e.keySize + 8); // struct: u64 cgid, u32 kind, u32 pad
        const id = e.keys.readBigUInt64LE(i * e.keySize);
        let m = out.get(kind);
        if (!m) out.set(kind, (m = new Map()));
        m.set(id, (m.get(id) ?? 0) + Number(e.values.readBigUInt64LE(i * e.valueBytes)));
      }
    }
    return out;
  }

  /**
   * The end of a run (SIGTERM): OOM kills still in the ring or waiting for their trigger's stack are
   * recorded and logged before anything is unloaded (stopping before the other sources, so a kill's
   * victim's faults can still be collected), then everything is detached and unloaded.
   */
  async close(): Promise<void> {
    const oom = this.oomTriggers;
    this.oomTriggers = undefined;
    if (oom && !oom.obj.destroyed) {
      oom.obj.detach(); // delivers what the rings still hold
      await oom.stacks.close(oom.obj);
    }
    this.stop();
  }

  /** Detaches and unloads everything at once (a failed start; close() at the end of a run). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.rateTimer) clearInterval(this.rateTimer);
    this.rateTimer = null;
    this.oomTriggers = undefined;
    for (const s of this.sources) s.obj.destroy();
    this.sources = [];
    this.readers.clear();
    this.stackRefs.clear();
  }
}
