// SPDX-License-Identifier: Apache-2.0
// memleak -t/--trace: each recorded allocator call as it happens, in the words of BCC's memleak
// --trace ("alloc entered, size = N", "alloc exited, size = N, result = ADDR", "free entered,
// address = ADDR, size = N"), with the time, process and thread in front as BCC's trace output
// has them. Like BCC, a traced run prints these lines instead of the outstanding-allocation reports.
import type { BpfObject } from '../../engine/bpf-object';
import { ktimeToDate, formatEventTime } from '../../engine/clock';
import { struct } from '../../engine/struct';
import { escapeText } from '../../core/escape';
import { toJson } from '../../render/json';
import type { MemleakCallRecord } from '../../core/records';

/** struct ml_call_event (bpf/memleak.bpf.c). */
const CALL = struct([
  ['ts', 'u64'],
  ['size', 'u64'],
  ['addr', 'addr'],
  ['tgid', 'u32'],
  ['tid', 'u32'],
  ['kind', 'u32'],
  ['pad', 'u32'],
  ['comm', 'char[16]'],
] as const, { c: 'ml_call_event', bpf: 'memleak' });

const CALLS: MemleakCallRecord['call'][] = ['alloc_enter', 'alloc_exit', 'free'];

/** The ring's size with -t: a burst of calls waits here while Node writes the lines before it. */
export const CALLS_RING_BYTES = 8 << 20;

function message(kind: number, size: number, addr: bigint): string {
  const hex = addr.toString(16);
  if (kind === 0) return `alloc entered, size = ${size}`;
  if (kind === 1) return `alloc exited, size = ${size}, result = ${hex}`;
  return `free entered, address = ${hex}, size = ${size}`;
}

/** Prints each call the BPF program sends on ml_calls. */
export function listenCalls(obj: BpfObject, json: boolean): void {
  obj.onRecords('ml_calls', (records) => {
    const out: string[] = [];
    for (const r of records) {
      const e = CALL.decode(r);
      const time = ktimeToDate(e.ts);
      if (json) {
        const rec: MemleakCallRecord = { time: time.toISOString(), pid: e.tgid, tid: e.tid, comm: e.comm, call: CALLS[e.kind] ?? 'free', size: e.size };
        if (e.kind !== 0) rec.addr = `0x${e.addr.toString(16)}`;
        out.push(toJson(rec));
      } else {
        out.push(`${formatEventTime(time)} ${String(e.tgid).padEnd(7)} ${String(e.tid).padEnd(7)} ${escapeText(e.comm).padEnd(16)} ${message(e.kind, e.size, e.addr)}`);
      }
    }
    if (out.length) process.stdout.write(out.join('\n') + '\n');
  });
}

/** The calls the ring had no room for, said once at the end (0: nothing to say). */
export function callsLost(obj: BpfObject): number {
  return Number(obj.readGlobalU64('trace_lost'));
}
