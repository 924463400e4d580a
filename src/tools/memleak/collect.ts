// SPDX-License-Identifier: Apache-2.0
// Reading memleak's maps into rows: outstanding bytes and allocations per stack (from the running
// totals, or from each allocation when -o/-a need them), symbolized and merged by their frames.
import * as fs from 'node:fs';
import type { BpfObject } from '../../engine/bpf-object';
import { StackReader } from '../../engine/stacks';
import { USTACK_DWARF } from '../../unwind/dwarf-stacks';
import { eachEntry, struct } from '../../engine/struct';
import { Frame, formatFrame } from '../../core/frames';
import type { Symbolizer } from '../../symbols/symbolizer';
import type { Settings } from './options';
import type { UserStacks } from './stacks';
import { SAMPLER_MODULE } from './sampler';
import { pendingFrees } from './pending';

/** struct ml_key, ml_total, ml_alloc (bpf/memleak.bpf.c). */
const KEY = struct(
  [
    ['tgid', 'u32'],
    ['ustack', 's32'],
    ['kstack', 's32'],
    ['pad', 'u32'],
    ['caller', 'addr'],
  ] as const,
  { c: 'ml_key', bpf: 'memleak' },
);
const TOTAL = struct(
  [
    ['bytes', 'u64'],
    ['count', 'u64'],
    ['alloc_bytes', 'u64'],
    ['alloc_count', 'u64'],
  ] as const,
  { c: 'ml_total', bpf: 'memleak' },
);
const ALLOC = struct(
  [
    ['size', 'u64'],
    ['bytes', 'u64'],
    ['count', 'u64'],
    ['ts', 'addr'],
    ['tgid', 'u32'],
    ['ustack', 's32'],
    ['kstack', 's32'],
    ['pad', 'u32'],
    ['caller', 'addr'],
  ] as const,
  { c: 'ml_alloc', bpf: 'memleak' },
);
const ADDR = struct([['addr', 'addr']] as const);

/** One stack's outstanding allocations in a report. */
export interface Row {
  id: string;
  pid: number;
  comm: string;
  bytes: number;
  count: number;
  /** every allocation from this stack while traced, freed or not: from the running totals
   * (--unwind fp); where each allocation is read instead (DWARF stacks, -o, -a), the outstanding ones */
  allocBytes: number;
  allocCount: number;
  user: Frame[];
  kernel: Frame[];
  allocs?: { addr: bigint; size: number; ageMs: number }[];
}

type Key = { tgid: number; ustack: number; kstack: number; caller: bigint };

export class Collector {
  private comms = new Map<number, string>();

  constructor(
    private readonly s: Settings,
    private readonly symbolizer: Symbolizer,
    private readonly stacks: UserStacks,
  ) {
    // the target's name, known now, for reports made after it exited
    if (s.opts.pid !== undefined) this.commOf(s.opts.pid);
  }

  private execs = 0n;
  private execComm = '';

  /** The name of a process: read while it lives (it changes at exec), else the last one known. */
  commOf(pid: number): string {
    let c = this.comms.get(pid);
    if (c === undefined || this.s.user) {
      let now = '';
      try {
        now = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      } catch {
        /* exited: the name known before */
      }
      if (now) this.comms.set(pid, (c = now));
    }
    return c || (this.s.user ? this.execComm : '');
  }

  /** After an exec of the target, the name it had before is gone with its records. */
  private checkExec(obj: BpfObject): void {
    const execs = obj.readGlobalU64('execs');
    if (execs === this.execs) return;
    this.execs = execs;
    this.comms.clear();
    this.execComm = obj.readGlobalString('exec_comm');
  }

  /** Outstanding allocations by stack, those younger than `older` ms left out. */
  // `older` is always passed: undefined means "all" (a default parameter would turn an explicit
  // undefined back into -o, and the report after the target exited would hide young allocations)
  rows(obj: BpfObject, older: number | undefined): Row[] {
    const { opts } = this.s;
    if (this.s.user) this.checkExec(obj);
    const stacks = new StackReader(obj);
    const rows = new Map<string, Row>();
    const add = (k: Key, bytes: number, n: number, allocBytes = bytes, allocCount = n) => {
      const id = `${k.tgid}/${k.ustack}/${k.kstack}/${k.caller}`;
      let r = rows.get(id);
      if (!r) {
        r = { id, pid: k.tgid, comm: '', bytes: 0, count: 0, allocBytes: 0, allocCount: 0, user: [], kernel: [] };
        rows.set(id, r);
      }
      r.bytes += bytes;
      r.count += n;
      r.allocBytes += allocBytes;
      r.allocCount += allocCount;
      return r;
    };
    // DWARF-sampled allocations have a key each and no running total: sum them from allocs
    const sampled = new Set<bigint>();
    if (older === undefined && !opts.showAllocs && this.s.unwind === 'fp') {
      const pids = new Set<number>();
      for (const [k, v] of eachEntry(obj.entries('combined'), KEY)) {
        const t = TOTAL.decode(v);
        // stacks whose allocations were all freed stay: they count in alloc_* of a heap profile
        const live = t.count > 0 && t.bytes > 0;
        if (live || t.alloc_count > 0) add(k, live ? t.bytes : 0, live ? t.count : 0, t.alloc_bytes, t.alloc_count);
        pids.add(k.tgid);
      }
      // the sampler's frees still waiting in the process are frees all the same (pending.ts)
      for (const pid of this.s.sampler ? pids : []) {
        for (const addr of pendingFrees(pid)) {
          const v = obj.lookup('allocs', ADDR.encode({ addr }));
          const a = v ? ALLOC.decode(v) : undefined;
          const r = a && a.tgid === pid ? rows.get(`${a.tgid}/${a.ustack}/${a.kstack}/${a.caller}`) : undefined;
          if (!a || !r) continue;
          r.bytes = Math.max(0, r.bytes - a.bytes);
          r.count = Math.max(0, r.count - a.count);
        }
      }
    } else {
      const waiting = new Map<number, Set<bigint>>();
      const freed = (pid: number, addr: bigint) => {
        if (!this.s.sampler) return false;
        let w = waiting.get(pid);
        if (!w) waiting.set(pid, (w = new Set(pendingFrees(pid))));
        return w.has(addr);
      };
      const now = process.hrtime.bigint();
      const minAge = BigInt(older ?? 0) * 1_000_000n;
      for (const [k, v] of eachEntry(obj.entries('allocs'), ADDR)) {
        const a = ALLOC.decode(v);
        const age = now > a.ts ? now - a.ts : 0n;
        if (age < minAge || freed(a.tgid, k.addr)) continue;
        if (a.ustack === USTACK_DWARF) sampled.add(a.caller);
        const r = add(a, a.bytes, a.count);
        if (opts.showAllocs) (r.allocs ??= []).push({ addr: k.addr, size: a.size, ageMs: Number(age / 1_000_000n) });
      }
    }
    const out = this.merge([...rows.values()], stacks);
    if (this.s.unwind !== 'fp') this.stacks.prune(sampled);
    return out;
  }

  /** Symbolizes, then merges rows whose frames read the same (kernel mode: across processes). */
  private merge(rows: Row[], stacks: StackReader): Row[] {
    const { user, perProcess, rate } = this.s;
    const merged = new Map<string, Row>();
    for (const r of rows) {
      const [tgid, ustack, kstack, caller] = r.id.split('/');
      r.user = user ? this.userFrames(stacks, r.pid, Number(ustack), BigInt(caller)) : [];
      r.kernel = Number(kstack) >= 0 || !user ? kernelFrames(this.symbolizer.kernel(stacks.kernelStack(Number(kstack)))) : [];
      r.comm = perProcess ? this.commOf(Number(tgid)) : '';
      const pid = perProcess ? r.pid : 0;
      const key = [pid, ...r.kernel.map((f) => formatFrame(f)), '|', ...r.user.map((f) => formatFrame(f))].join('\n');
      const m = merged.get(key);
      if (m) {
        m.bytes += r.bytes;
        m.count += r.count;
        m.allocBytes += r.allocBytes;
        m.allocCount += r.allocCount;
        if (r.allocs) (m.allocs ??= []).push(...r.allocs);
      } else merged.set(key, { ...r, id: key, pid });
    }
    const out = this.s.unwind === 'auto' ? joinCutStacks([...merged.values()]) : [...merged.values()];
    if (rate > 1) {
      for (const r of out) {
        r.bytes *= rate;
        r.count *= rate;
        r.allocBytes *= rate;
        r.allocCount *= rate;
      }
    }
    return out;
  }

  private userFrames(stacks: StackReader, pid: number, ustack: number, caller: bigint): Frame[] {
    // sampler mode: no frame of the shim itself belongs in the stack
    const own = (frames: Frame[]) => (this.s.sampler ? frames.filter((f) => f.module !== SAMPLER_MODULE) : frames);
    if (ustack === USTACK_DWARF) return own(this.stacks.sampled(caller));
    // the walk starts at the caller's frame; the caller itself is the return address at [sp]
    // (or, from the sampler, the return address of the malloc call)
    // (a copy: the reader caches the walk, and rows of other callers share it)
    const ips = (stacks.userStackPlain(ustack, 'ml_stacks') as { ip: bigint }[]).map((f) => f.ip);
    if (caller !== 0n) ips.unshift(caller);
    return own(
      this.stacks.trusted(
        pid,
        this.symbolizer.user(
          pid,
          ips.map((ip) => ({ ip })),
        ),
        ips,
      ),
    );
  }
}

/**
 * --unwind auto: a site past the rate shows as a frame-pointer stack cut with the "no frame
 * pointer" marker beside the DWARF stack of the same site. A cut stack whose frames begin exactly
 * one full stack of the same process (and kernel stack) is that site: it joins that row. With
 * more than one such stack the cut one stays apart (joining it to one would name a caller the walk
 * never saw).
 */
function joinCutStacks(rows: Row[]): Row[] {
  const isCut = (r: Row) => {
    const last = r.user[r.user.length - 1];
    return !!last?.note && last.symbol?.startsWith('[unwind stopped: no frame pointer in') === true;
  };
  const cut = rows.filter(isCut);
  if (!cut.length) return rows;
  const text = (r: Row, n = r.user.length) => [r.pid, ...r.kernel.map((f) => formatFrame(f)), '|', ...r.user.slice(0, n).map((f) => formatFrame(f))].join('\n');
  const gone = new Set<Row>();
  for (const c of cut) {
    const n = c.user.length - 1; // without the marker
    const prefix = text(c, n);
    const full = rows.filter((r) => r !== c && !isCut(r) && !gone.has(r) && r.user.length > n && text(r, n) === prefix);
    if (full.length !== 1) continue;
    const into = full[0];
    into.bytes += c.bytes;
    into.count += c.count;
    if (c.allocs) (into.allocs ??= []).push(...c.allocs);
    gone.add(c);
  }
  return gone.size ? rows.filter((r) => !gone.has(r)) : rows;
}

/** Kernel frames from the allocation on: without the BPF program and tracepoint plumbing above it. */
function kernelFrames(frames: Frame[]): Frame[] {
  let i = 0;
  while (i < frames.length - 1 && (frames[i].module === 'bpf' || /^(bpf_trace_run\d|__bpf_trace_|__traceiter_|trace_)/.test(frames[i].symbol ?? ''))) i++;
  return frames.slice(i);
}
