// SPDX-License-Identifier: Apache-2.0
// A loaded BPF object as tools see it: typed constants, source selection, attachment,
// map reads, ring buffers and a destroy() that always runs.
import * as fs from 'node:fs';
import { native, bpfObjectPath, Handle, MapEntries } from './native';
import { MemscopeError } from '../core/errors';
import { chooseSource, ProbeGroup, Source } from './sources';
import { Btf } from './btf';
import { checkLayouts } from './layout-check';

export type ConstValue = number | bigint | boolean | Buffer;

const live = new Set<BpfObject>();
let exitHookInstalled = false;

/** Destroys every BPF object still alive; runs on process exit, whatever the cause. */
export function destroyAll(): void {
  for (const o of [...live]) o.destroy();
}

function encodeConst(value: ConstValue, size: number): Buffer {
  if (Buffer.isBuffer(value)) return value;
  const b = Buffer.alloc(size);
  const v = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
  if (size === 1) b.writeUInt8(Number(v));
  else if (size === 2) b.writeUInt16LE(Number(v));
  else if (size === 4) b.writeUInt32LE(Number(BigInt.asUintN(32, v)));
  else if (size === 8) b.writeBigUInt64LE(BigInt.asUintN(64, v));
  else throw new Error(`cannot encode a constant of ${size} bytes`);
  return b;
}

export class BpfObject {
  private handle: Handle | null;
  readonly chosen: { group: ProbeGroup; source: Source }[] = [];

  /** Globals the object defines (from its BTF), for hasGlobal without asking the addon to fail. */
  private readonly globals: Set<string>;

  private constructor(
    readonly name: string,
    handle: Handle,
    btf: Btf,
  ) {
    this.handle = handle;
    this.globals = btf.globals();
    live.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', destroyAll);
    }
  }

  static open(name: string): BpfObject {
    const file = bpfObjectPath(name);
    if (!fs.existsSync(file)) {
      throw new MemscopeError(`BPF object ${file} is missing: run the README's setup command`);
    }
    const btf = Btf.ofObject(file);
    checkLayouts(name, btf);
    const obj = new BpfObject(name, native().open(file), btf);
    // memscope never traces itself (memscope.h ms_traced): set here, where every object is opened,
    // so no caller can forget it (the agent's sources once did, and counted its own page faults)
    if (obj.hasGlobal('ms_self_tgid')) obj.setConst('ms_self_tgid', process.pid);
    return obj;
  }

  private h(): Handle {
    if (!this.handle) throw new Error(`BPF object ${this.name} was destroyed`);
    return this.handle;
  }

  /** Sets a `const volatile` global before load; integers are sized from the variable itself. */
  setConst(name: string, value: ConstValue): this {
    const size = native().readGlobal(this.h(), name).length;
    native().setConst(this.h(), name, encodeConst(value, size));
    return this;
  }

  /** Includes or leaves out one program at load (selectSources does this per probe group). */
  setAutoload(prog: string, on: boolean): this {
    native().setAutoload(this.h(), prog, on);
    return this;
  }

  /** Sizes a map before load, e.g. stack storage for a busy tool. */
  setMaxEntries(map: string, n: number): this {
    native().setMaxEntries(this.h(), map, n);
    return this;
  }

  /** Sets a map's value size before load (a stack map's depth in frames x 8). */
  setValueSize(map: string, bytes: number): this {
    native().setValueSize(this.h(), map, bytes);
    return this;
  }

  /** Whether the object has a program of this name (loaded unless a probe group left it out). */
  hasProgram(name: string): boolean {
    return native()
      .programNames(this.h())
      .some((p) => p.name === name);
  }

  hasGlobal(name: string): boolean {
    return this.globals.has(name);
  }

  readGlobalU8(name: string): number {
    return native().readGlobal(this.h(), name).readUInt8(0);
  }

  /** A char array global, up to its first NUL. */
  readGlobalString(name: string): string {
    const b = native().readGlobal(this.h(), name);
    const end = b.indexOf(0);
    return b.toString('utf8', 0, end < 0 ? b.length : end);
  }

  readGlobalU64(name: string): bigint {
    return native().readGlobal(this.h(), name).readBigUInt64LE(0);
  }

  /** Resolves each probe group to the first source this kernel offers; switches the others off.
   * Programs named by no group are helpers and stay on; groups marked `off` load nothing. */
  selectSources(groups: ProbeGroup[], prefer?: string): void {
    const enabled = new Set<string>();
    const mentioned = new Set<string>();
    for (const group of groups) {
      for (const s of group.sources) s.programs.forEach((p) => mentioned.add(p));
      if (group.off) continue;
      const choice = chooseSource(group, prefer);
      if (typeof choice === 'string') throw new MemscopeError(choice);
      choice.programs.forEach((p) => enabled.add(p));
      this.chosen.push({ group, source: choice });
    }
    for (const p of native().programNames(this.h())) {
      native().setAutoload(this.h(), p.name, enabled.has(p.name) || !mentioned.has(p.name));
    }
  }

  load(): void {
    try {
      native().load(this.h());
    } catch (e) {
      throw new MemscopeError(`the kernel refused the ${this.name} BPF programs: ${firstLines(e)}`);
    }
  }

  /** Attaches the programs of every chosen source. */
  attachChosen(pid = -1): void {
    for (const { source } of this.chosen) {
      for (const prog of source.programs) {
        const how = source.attach ?? 'auto';
        if (how === 'manual') continue;
        if (how === 'auto') this.attach(prog);
        else this.attachPerfEvent(prog, how.perfEvent.type, how.perfEvent.config, how.perfEvent.period, { pid });
      }
    }
  }

  attach(prog: string): void {
    try {
      native().attach(this.h(), prog);
    } catch (e) {
      throw new MemscopeError(`cannot attach ${prog}: ${firstLines(e)}`);
    }
  }

  /** Attaches a uprobe by function name (func) or by file offset (func '' and offset). */
  attachUprobe(prog: string, file: string, func: string, opts: { pid?: number; retprobe?: boolean; offset?: number; cookie?: number } = {}): void {
    try {
      native().attachUprobe(this.h(), prog, opts.retprobe ?? false, opts.pid ?? -1, file, func, opts.offset ?? 0, opts.cookie ?? 0);
    } catch (e) {
      throw new MemscopeError(`cannot attach a uprobe to ${func || `offset ${opts.offset}`} in ${file}: ${firstLines(e)}`);
    }
  }

  /** Attaches to a classic tracepoint "category:name" given at run time; cookie identifies it in BPF. */
  attachTracepoint(prog: string, category: string, name: string, cookie = 0): void {
    try {
      native().attachTracepoint(this.h(), prog, category, name, cookie);
    } catch (e) {
      throw new MemscopeError(`cannot attach to tracepoint ${category}:${name}: ${firstLines(e)}`);
    }
  }

  /** Attaches a raw_tp program to the raw tracepoint `name` given at run time (its link detaches at once). */
  attachRawTracepoint(prog: string, name: string): void {
    try {
      native().attachRawTracepoint(this.h(), prog, name);
    } catch (e) {
      throw new MemscopeError(`cannot attach to raw tracepoint ${name}: ${firstLines(e)}`);
    }
  }

  attachPerfEvent(prog: string, type: number, config: number, period: number, opts: { pid?: number; cookie?: number } = {}): number {
    return native().attachPerfEvent(this.h(), prog, type, config, period, opts.pid ?? -1, opts.cookie ?? 0);
  }

  /** Changes the sample period of every perf event prog was attached to (attachPerfEvent), in place;
   * returns how many. */
  setPerfPeriod(prog: string, period: number): number {
    return native().setPerfPeriod(this.h(), prog, period);
  }

  attachUsdt(prog: string, file: string, provider: string, name: string, pid = -1, cookie = 0): void {
    try {
      native().attachUsdt(this.h(), prog, pid, file, provider, name, cookie);
    } catch (e) {
      throw new MemscopeError(`cannot attach USDT probe ${provider}:${name} in ${file}: ${firstLines(e)}`);
    }
  }

  entries(map: string, deleteAfterRead = false): MapEntries {
    return native().mapEntries(this.h(), map, deleteAfterRead);
  }

  /** An array map of u64 values as numbers, slot i at index i (a per-CPU array's summed over
   * CPUs), read in one batch: histograms and totals. Exact below 2^53, as Number(bigint). */
  slots(map: string): number[] {
    const e = this.entries(map);
    const out = new Array<number>(e.count).fill(0);
    for (let i = 0; i < e.count; i++) {
      let sum = 0;
      for (let o = i * e.valueBytes; o + 8 <= (i + 1) * e.valueBytes; o += 8) sum += e.values.readUInt32LE(o) + e.values.readUInt32LE(o + 4) * 0x1_0000_0000;
      out[e.keys.readUInt32LE(i * e.keySize)] = sum;
    }
    return out;
  }

  lookup(map: string, key: Buffer): Buffer | null {
    return native().mapLookup(this.h(), map, key);
  }

  update(map: string, key: Buffer, value: Buffer): void {
    native().mapUpdate(this.h(), map, key, value);
  }

  delete(map: string, key: Buffer): boolean {
    return native().mapDelete(this.h(), map, key);
  }

  /** Deletes many keys (back to back in one buffer) in one batch; returns how many were there. */
  deleteKeys(map: string, keys: Buffer): number {
    return keys.length ? native().mapDeleteKeys(this.h(), map, keys) : 0;
  }

  /** Looks many keys up in one call: one value slot per key, found[i] 1 where key i was there. */
  lookupKeys(map: string, keys: Buffer): { values: Buffer; found: Buffer } {
    return native().mapLookupKeys(this.h(), map, keys);
  }

  /** Calls handler with the ring's records as they come, at most maxRecords a call (65,536 by
   * default): fewer for records that are costly to handle, so that a signal or a timer waits for
   * a short call (native/src/ringbuf.c). reuse: every call's records lie in the same buffer, so
   * they are valid only during the call (a handler that keeps one must copy it; without reuse a
   * view keeps its delivery alive), each call at most reuse.bytes of them plus one record of at
   * most reuse.recordBytes: no fresh memory per delivery, for a ring of many large records;
   * reuse.idleMs: after a call that emptied the ring, it is left unread that long, so a fast stream
   * of records wakes memscope once per batch rather than once per record or two. */
  onRecords(map: string, handler: (records: Buffer[]) => void, maxRecords?: number, reuse?: { bytes: number; recordBytes: number; idleMs?: number }): void {
    const deliver = (data: Buffer, lengths: Buffer) => {
      // views into the delivery's one buffer (at most 16 MiB): a handler that keeps a record
      // beyond its call copies it
      const recs: Buffer[] = new Array(lengths.length >> 2);
      let off = 0;
      for (let i = 0; i < recs.length; i++) {
        const n = lengths.readUInt32LE(i * 4);
        recs[i] = data.subarray(off, off + n);
        off += n;
      }
      handler(recs);
    };
    // the native function counts its arguments: maxRecords only when given
    if (reuse) native().ringbufOpen(this.h(), map, deliver, maxRecords ?? 65536, reuse.bytes, reuse.recordBytes, reuse.idleMs ?? 0);
    else if (maxRecords === undefined) native().ringbufOpen(this.h(), map, deliver);
    else native().ringbufOpen(this.h(), map, deliver, maxRecords);
  }

  /** Delivers what the object's rings hold now, without their wake-up (an object whose BPF wakes
   * its reader only past a fill level, ms_batch_wakeups: read on a timer too), at most
   * maxDeliveries bounded deliveries per ring. */
  consumeRings(maxDeliveries = 64): void {
    native().ringbufsConsume(this.h(), maxDeliveries);
  }

  /** From now on the object's rings deliver nothing, neither as they fill nor in the last drain
   * of detach() or destroy() (a daemon stopping, whose handlers' work would be thrown away). A
   * delivery under way ends as it is: at most its ring's maxRecords. Maps stay readable. */
  discardRings(): void {
    native().ringbufsDiscard(this.h());
  }

  /** Delivers what the rings still hold, then unmaps them: once detached, their pages need not
   * stay in memscope's RSS while the report is built. Maps stay readable. */
  closeRings(): void {
    native().ringbufsClose(this.h());
  }

  /** Stops all events and delivers what the ring buffers still hold; maps stay readable. */
  detach(): void {
    native().detach(this.h());
  }

  get destroyed(): boolean {
    return this.handle === null;
  }

  /** Detaches and unloads everything; safe to call more than once. */
  destroy(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = null;
    live.delete(this);
    native().destroy(h);
  }
}

/** One line from a libbpf failure: the error, plus the verifier's or libbpf's own reason. */
function firstLines(e: unknown): string {
  const err = e as { message?: string; libbpfLog?: string };
  const msg = (err.message ?? String(e)).split('\n')[0];
  const log = (err.libbpfLog ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  // in a verifier log the reason is the line just before "processed N insns" / the END marker
  const end = log.findIndex((l) => /^processed \d+ insns|-- END PROG LOAD LOG --/.test(l));
  const reason = end > 0 ? log[end - 1] : log.filter((l) => !/failed to load object/.test(l)).pop();
  return reason ? `${msg} (${reason.replace(/^libbpf: /, '')})` : msg;
}
