// What the fault tools (ffaults, hfaults) share: the user page-fault event with its alternative
// sources, and the --verbose line about vma lookups (bpf/include/vma.h).
import type { BpfObject } from '../engine/bpf-object';
import { PERF_COUNT_SW_PAGE_FAULTS, PERF_TYPE_SOFTWARE, ProbeGroup } from '../engine/sources';

/** The user page-fault event, in preference order, implemented by three programs of a BPF object. */
export function userFaultGroup(what: string, progs: { btf: string; tp: string; perf: string }): ProbeGroup {
  return {
    what,
    sources: [
      { name: 'tp_btf page_fault_user', programs: [progs.btf], requires: [{ btf: 'page_fault_user' }] },
      { name: 'tracepoint exceptions/page_fault_user', programs: [progs.tp], requires: [{ tracepoint: 'exceptions/page_fault_user' }] },
      {
        name: 'perf software event page-faults',
        programs: [progs.perf],
        requires: [{ always: true }],
        attach: { perfEvent: { type: PERF_TYPE_SOFTWARE, config: PERF_COUNT_SW_PAGE_FAULTS, period: 1 } },
      },
    ],
  };
}

/** Under --verbose: how many faults needed a bpf_find_vma() walk (the rest came from the cache). */
export function reportVmaLookups(obj: BpfObject): void {
  process.stderr.write(`memscope: vma lookups not answered by the cache (bpf_find_vma calls): ${obj.readGlobalU64('ms_vma_walks')}\n`);
}
