// SPDX-License-Identifier: Apache-2.0
// The page-fault event sources the fault tools share (faults, ffaults, hfaults), in preference order.
import type { BpfObject } from '../engine/bpf-object';
import { PERF_COUNT_SW_PAGE_FAULTS, PERF_TYPE_SOFTWARE, ProbeGroup, Source } from '../engine/sources';

/** perf's software event "page-faults", period 1: one program run per fault, in either mode. */
export const PAGE_FAULT_PERF_EVENT = { perfEvent: { type: PERF_TYPE_SOFTWARE, config: PERF_COUNT_SW_PAGE_FAULTS, period: 1 } };

/**
 * The page-fault event implemented by three programs of a BPF object. The perf software event comes
 * first: it counts what `perf stat -e page-faults` counts (faults taken in user mode and the
 * kernel's faults on user memory, e.g. read() into a fresh buffer), never the faults a BPF read
 * takes, and its programs run with interrupts on, so bpf_find_vma needs no per-CPU irq_work and a
 * second memscope on the same event cannot make it fail (bpf/include/vma.h). The tracepoints see
 * user-mode faults only.
 */
export function faultGroup(what: string, progs: { btf: string; tp: string; perf: string }): ProbeGroup {
  const sources: Source[] = [
    { name: 'perf software event page-faults', programs: [progs.perf], requires: [{ always: true }], attach: PAGE_FAULT_PERF_EVENT },
    { name: 'tp_btf page_fault_user', programs: [progs.btf], requires: [{ btf: 'page_fault_user' }] },
    { name: 'tracepoint exceptions/page_fault_user', programs: [progs.tp], requires: [{ tracepoint: 'exceptions/page_fault_user' }] },
  ];
  return { what, sources };
}

/** Under --verbose: how many faults needed a bpf_find_vma() walk (the rest came from the cache). */
export function reportVmaLookups(obj: BpfObject): void {
  process.stderr.write(`memscope: vma lookups not answered by the cache (bpf_find_vma calls): ${obj.readGlobalU64('ms_vma_walks')}\n`);
}
