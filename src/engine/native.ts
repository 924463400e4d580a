// SPDX-License-Identifier: Apache-2.0
// The one place that finds and loads the compiled libbpf addon, with its typed surface.
import * as path from 'node:path';
import { projectRoot } from '../core/paths';

export type Handle = { readonly __brand: 'bpf-object' };

export interface MapEntries {
  keys: Buffer;
  values: Buffer;
  count: number;
  keySize: number;
  valueBytes: number;
}

export interface MapInfo {
  fd: number;
  type: number;
  keySize: number;
  valueSize: number;
  valueBytes: number;
  maxEntries: number;
}

export interface NativeAddon {
  setVerbose(on: boolean): void;
  open(file: string): Handle;
  setConst(h: Handle, name: string, value: Buffer): void;
  readGlobal(h: Handle, name: string): Buffer;
  setAutoload(h: Handle, prog: string, on: boolean): void;
  programNames(h: Handle): { name: string; section: string }[];
  setMaxEntries(h: Handle, map: string, n: number): void;
  setValueSize(h: Handle, map: string, bytes: number): void;
  load(h: Handle): void;
  destroy(h: Handle): void;
  detach(h: Handle): void;
  attach(h: Handle, prog: string): number;
  attachPerfEvent(h: Handle, prog: string, type: number, config: number, period: number, pid: number, cookie?: number): number;
  setPerfPeriod(h: Handle, prog: string, period: number): number;
  attachTracepoint(h: Handle, prog: string, category: string, name: string, cookie: number): number;
  attachRawTracepoint(h: Handle, prog: string, name: string): number;
  attachUprobe(h: Handle, prog: string, retprobe: boolean, pid: number, file: string, func: string, offset: number, cookie?: number): number;
  attachUsdt(h: Handle, prog: string, pid: number, file: string, provider: string, name: string, cookie?: number): number;
  numCpus(): number;
  mapInfo(h: Handle, map: string): MapInfo;
  mapLookup(h: Handle, map: string, key: Buffer): Buffer | null;
  mapUpdate(h: Handle, map: string, key: Buffer, value: Buffer): void;
  mapDelete(h: Handle, map: string, key: Buffer): boolean;
  mapEntries(h: Handle, map: string, deleteAfterRead: boolean): MapEntries;
  mapDeleteKeys(h: Handle, map: string, keys: Buffer): number;
  mapLookupKeys(h: Handle, map: string, keys: Buffer): { values: Buffer; found: Buffer };
  /** onRecords gets one delivery: the records one after the other, and their lengths (u32 each). */
  ringbufOpen(h: Handle, map: string, onRecords: (data: Buffer, lengths: Buffer) => void, maxRecords?: number, reuseBytes?: number, recordBytes?: number, idleMs?: number): void;
  ringbufsDiscard(h: Handle): void;
  ringbufsConsume(h: Handle, maxDeliveries: number): void;
  /** A last drain, then the rings are unmapped (their maps stay). */
  ringbufsClose(h: Handle): void;
  /** malloc_trim(0): the C heap's free pages back to the system. */
  trimMemory(): void;
  /** perf_event_open in counting mode (read the fd with read(2): value, time enabled, time running). */
  perfCounterOpen(type: number, config: number, pid: number, cpu: number): number;
}

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (!addon) {
    const file = path.join(projectRoot, 'native', 'build', 'Release', 'memscope_bpf.node');
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a .node addon loads only through require
      addon = require(file) as NativeAddon;
    } catch (e) {
      throw new Error(`the native addon is missing or broken (${file}): run the README's setup command`);
    }
  }
  return addon;
}

export function bpfObjectPath(name: string): string {
  return path.join(projectRoot, 'build', 'bpf', `${name}.bpf.o`);
}
