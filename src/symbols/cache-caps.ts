// SPDX-License-Identifier: Apache-2.0
// The caps on what memscope keeps per file and per process while it names and unwinds stacks
// (ARCHITECTURE.md, "Memory bound"): symbol tables and CFI of the files stacks pass through share
// one byte budget, least recently used first out (read again from the file when needed); the
// mappings recorded per process are kept for at most MAX_PROCESSES processes, least recently seen
// first out (a live process's maps are read again from /proc; an exited one's frames stay unnamed).
// Evictions are counted and said in the end-of-run accounting. The environment variables exist so
// a test can make the caps small; the defaults are what the documented bound adds up.

function envCount(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || !/^\d+$/.test(v)) return fallback;
  return Math.max(1, Number(v));
}

/** Bytes of symbol tables and CFI kept, over all files. */
export const MODULE_CACHE_BYTES = envCount('MEMSCOPE_MODULE_CACHE_BYTES', 48 << 20);
/** Processes whose recorded mappings are kept. */
export const MAX_PROCESSES = envCount('MEMSCOPE_MAX_PROCESSES', 8192);

/** Bytes of DWARF samples queued between the ring buffer's consumer and the unwinder
 * (unwind/dwarf-stacks.ts): past it a sample's event is counted with its frame-pointer stack. */
export const UNWIND_QUEUE_BYTES = envCount('MEMSCOPE_UNWIND_QUEUE_BYTES', 32 << 20);

/** Evictions so far (the accounting line says them), and events whose frame-pointer stack could
 * not be named: their process exited and its mappings were forgotten first. */
export const evictions = { modules: 0, processes: 0, unnamed: 0 };

interface Entry {
  bytes: number;
  drop: () => void;
  epoch: number;
}

/**
 * A least-recently-used set of loaded tables, bounded by their bytes. Tables used in the current
 * epoch (one stack unwound or named, one file's frames named: nextEpoch() marks the boundary) are
 * not evicted: a cap smaller than one stack's files would otherwise read a table again for each
 * frame that alternates between two files. So the cap can be passed by the tables of one stack.
 */
class ByteLru {
  private entries = new Map<object, Entry>();
  private epoch = 0;
  /** The key most recently used (last in entries' order). */
  private last: object | null = null;
  bytes = 0;

  constructor(readonly cap: number) {}

  nextEpoch(): void {
    this.epoch++;
  }

  /** Marks key as just used if it is kept (true), without a drop callback made for the call: the
   * unwinder asks once per frame. The key used last stays where it is: moving it (delete, set)
   * left a deleted slot in the Map each time, and the Map grew and rehashed over and over. */
  seen(key: object): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    if (key !== this.last) {
      this.entries.delete(key);
      this.entries.set(key, e);
      this.last = key;
    }
    e.epoch = this.epoch;
    return true;
  }

  /** Marks key as just used; adds it (with its size and how to drop it) when it is new. */
  use(key: object, bytes: number, drop: () => void): void {
    if (this.seen(key)) return;
    this.last = key;
    this.entries.set(key, { bytes, drop, epoch: this.epoch });
    this.bytes += bytes;
    for (const [k, old] of this.entries) {
      if (this.bytes <= this.cap || old.epoch === this.epoch) break;
      this.entries.delete(k);
      if (k === this.last) this.last = null;
      this.bytes -= old.bytes;
      evictions.modules++;
      old.drop();
    }
  }

  /** Takes key out (its file is closed): its bytes no longer count, and it is never dropped. */
  remove(key: object): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    if (key === this.last) this.last = null;
    this.bytes -= e.bytes;
  }

  has(key: object): boolean {
    return this.entries.has(key);
  }
}

/** The one budget for symbol tables and CFI. */
export const moduleCache = new ByteLru(MODULE_CACHE_BYTES);
