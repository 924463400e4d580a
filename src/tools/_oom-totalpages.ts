// SPDX-License-Identifier: Apache-2.0
// The pages an OOM decision measured each task against: oom_control.totalpages, which BCC's
// oomkill (a kprobe on oom_kill_process) and bpftrace print as "N pages". Without kprobes the
// oom_control is out of reach (mark_victim passes only the victim), so it is computed here as
// mm/oom_kill.c's constrained_alloc() computes it, from what BPF read at the kill and /proc.
import * as fs from 'node:fs';
import { readMeminfo } from '../procfs/meminfo';

/** What BPF read of the memcg at its limit (bpf/oomkill.bpf.c). */
export interface LimitMemcg {
  /** pages (page_counter values stay below 2^52: exact as numbers) */
  mem_max: number;
  /** memsw.max on cgroup v1, swap.max on v2 (one union in struct mem_cgroup) */
  swap_max: number;
  /** the memcg's own swappiness (v1), -1 where the kernel has none */
  swappiness: number;
}

function vmSwappiness(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/vm/swappiness', 'utf8').trim());
  } catch {
    return 60; // the kernel's default
  }
}

/**
 * totalpages for a constraint: global, all RAM and swap (totalram_pages() + total_swap_pages); memcg,
 * mem_cgroup_get_max() of the memcg at its limit (its memory limit, plus swap it may still use when
 * its swappiness is not 0); null for cpuset and mempolicy (the allowed nodes' pages are not read)
 * or when the memcg at its limit was not found.
 */
export function oomTotalPages(constraint: string, memcg: LimitMemcg | null, memcgV1: boolean, pageKb: number): number | null {
  const mi = readMeminfo();
  const swapPages = Math.floor((mi.SwapTotal ?? 0) / pageKb);
  if (constraint === 'global') return mi.MemTotal ? Math.floor(mi.MemTotal / pageKb) + swapPages : null;
  if (constraint !== 'memcg' || !memcg) return null;
  let max = memcg.mem_max;
  // cgroup v2 has no per-memcg swappiness: vm.swappiness applies (mem_cgroup_swappiness())
  const swappiness = memcgV1 && memcg.swappiness >= 0 ? memcg.swappiness : vmSwappiness();
  if (swappiness) {
    // v1: swap headroom is memsw.max - memory.max; v2: swap.max itself
    const swap = memcgV1 ? Math.max(0, memcg.swap_max - max) : memcg.swap_max;
    max += Math.min(swap, swapPages);
  }
  return max || 1;
}
