// SPDX-License-Identifier: Apache-2.0
// The tools' own BPF objects, loaded side by side and left running: each with the event sources
// its tool would choose, its per-cgroup totals switched on (ms_by_cgroup, bpf/include/memscope.h),
// and its maps read on demand. A source the kernel refuses is logged and left out; the rest run.
import * as fs from 'node:fs';
import { BpfObject, ConstValue } from '../engine/bpf-object';
import type { ProbeGroup } from '../engine/sources';
import { pageSizeKb } from '../procfs/pid';
import { faultGroups } from '../tools/faults';
import { faultGroup } from '../tools/_fault-sources';
import { swapinGroups } from '../tools/swapin';
import { compactionGroups } from '../tools/compaction';
import { groups as drsnoopGroups } from '../tools/drsnoop';
import { vmgrowthGroups } from '../tools/vmgrowth';
import { oomkillGroups } from '../tools/oomkill';
import { configureWalkedTriggers } from '../tools/_oom-trigger';
import { groups as vmscanGroups } from '../tools/vmscan';
import { sizeStackMaps } from '../engine/stacks';
import { DwarfStacks, unwindConsts, UnwindOptions } from '../unwind/dwarf-stacks';
import { logEvent } from './log';

export type SourceName = 'oomkill' | 'swapin' | 'vmscan' | 'drsnoop' | 'compaction' | 'faults' | 'ffaults' | 'vmgrowth';

interface SourceSpec {
  name: SourceName;
  groups: ProbeGroup[];
  consts?: Record<string, ConstValue>;
  configure?: (obj: BpfObject) => void;
}

const FP: UnwindOptions = { unwind: 'fp', unwindBytes: 8192, unwindRate: 1000 };

/** The depth of the fault stacks the kernel keeps between two collections (walked stacks, stacks.h:
 * one per process and stack, allocated as stored; as many as maxFaultStacks): many of 32 frames
 * rather than the tool's 16384 of 127. */
export const FAULT_STACK_DEPTH = 32;
/** Processes whose faults can be traced at once, and the distinct stacks their traces keep in the
 * kernel between two reads (bpf/faults.bpf.c fault_trace_*). */
export const FAULT_TRACE_PIDS = 64;
export const FAULT_TRACE_STACKS = 16384;
/** The faults object's program on the page-faults perf event, whose sample period the agent sets at
 * run time (bpf/faults.bpf.c fault_period_weights). */
export const FAULT_PERF_PROGRAM = 'fault_perf';
/** The vmgrowth object's sample ring: the executable mappings of its walked stacks (~2 KiB a
 * mapping, each sent once per process) and a note per stack stored. */
export const GROWTH_NOTE_RING = 2 << 20;

function specs(limits: SourceLimits): SourceSpec[] {
  return [
    {
      name: 'oomkill',
      groups: oomkillGroups,
      consts: { page_shift: Math.log2(pageSizeKb() * 1024), memcg_v1: fs.existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes'), ...unwindConsts(FP) },
      // the trigger's stack as oomkill --unwind fp takes it: walked, its mappings sent by BPF (a
      // trigger stack not stored is counted in memscope_stacks_lost_total). The build-id stack map
      // stays at its 1 entry: with frame pointers and walked stacks nothing stores into it (its 64
      // slots were 260 KiB of kernel memory, unused)
      configure: (obj) => configureWalkedTriggers(obj.setMaxEntries('ms_kstacks', 1)),
    },
    // and the per-cgroup page faults, from the memcg PGFAULT event its program already runs for on
    // every fault (the faults object's runs are sampled: FAULT_PERF_PROGRAM)
    { name: 'swapin', groups: swapinGroups, consts: { count_pgfault: true } },
    { name: 'vmscan', groups: vmscanGroups(), consts: { by_shrinker: false } },
    // per memory cgroup: the time its tasks stalled in direct and memcg reclaim (no records)
    { name: 'drsnoop', groups: drsnoopGroups() },
    // the histogram and its sum from the maps: no per-event records
    { name: 'compaction', groups: compactionGroups, consts: { send_events: false } },
    {
      name: 'faults',
      groups: faultGroups(false),
      consts: unwindConsts(FP),
      configure(obj) {
        // the faults tool's own cheap path: plain-address stacks, mappings sent by BPF
        DwarfStacks.configurePlainStacks(obj, FP, limits.maxFaultStacks);
        notePidCgroups(obj);
        obj.setMaxEntries('fault_counts', limits.maxFaultStacks);
        // one run per fault while few are taken, else one in faultStackSampleEvery, weighted by the
        // period it ran at (Collectors.adjustFaultPeriod); per-cgroup counts come from swapin's object
        obj.setConst('fault_period_weights', true).setConst('fault_cg_counts', false);
        // struct ms_walked_stack cut to its first frames: u64 hash, u32 nr, u32 image, then ips
        obj.setValueSize('ms_walked_ustacks', 16 + FAULT_STACK_DEPTH * 8);
        obj.setMaxEntries('ms_kstacks', 1);
        // fault traces of single processes (Collectors.traceFaults): maps of their own, which a
        // storm of new processes elsewhere cannot fill
        obj
          .setConst('fault_trace_on', true)
          .setMaxEntries('fault_trace_pids', FAULT_TRACE_PIDS)
          .setMaxEntries('fault_trace_counts', FAULT_TRACE_STACKS)
          .setMaxEntries('fault_trace_ustacks', FAULT_TRACE_STACKS)
          .setValueSize('fault_trace_ustacks', 16 + FAULT_STACK_DEPTH * 8);
      },
    },
    {
      name: 'ffaults',
      groups: [faultGroup('page faults', { btf: 'ff_fault_btf', tp: 'ff_fault_tp', perf: 'ff_fault_perf' })],
      // the agent exports faults by file, not majors: the major-faults program is not loaded
      // (a program no group mentions is loaded by default, and was, unattached). Hugetlb faults per
      // cgroup are counted by this program too (it already has the vma): hfaults' own program on
      // every fault cost 82 ns a fault at 555k faults/s (bpf_stats, 2026-12-02 14:47 UTC).
      consts: { ff_hugetlb: true },
      configure: (obj) => obj.setAutoload('ff_major_perf', false),
    },
    {
      name: 'vmgrowth',
      groups: vmgrowthGroups,
      consts: { capture_stacks: true },
      configure(obj) {
        // walked stacks (stacks.h ms_store_stack), as the faults source's: a stack whose id another
        // holds moves on to the next ids, and one that finds no room is counted (ms_walked_full,
        // ms_walked_collided: memscope_stacks_lost_total). The build-id stack map kept one stack per
        // bucket of its 4,096 and lost the others without a count (issue 13)
        sizeStackMaps(obj, { walked: limits.growthStackStorage });
        // as deep as the fault stacks; the mappings their frames lie in come on the sample ring,
        // once per process and mapping: growth is a system call's rate, not a fault's (the faults
        // object's ring is 8 MiB; each ring's pages count twice in the agent's RSS)
        obj
          .setValueSize('ms_walked_ustacks', 16 + FAULT_STACK_DEPTH * 8)
          .setMaxEntries('ms_dwarf_samples', GROWTH_NOTE_RING)
          .setMaxEntries('ms_kstacks', 1);
        notePidCgroups(obj);
      },
    },
  ];
}

/** Processes whose memory cgroup BPF keeps as of their latest event (memscope.h ms_note_cgroup):
 * the stack stores name each process's container from it, again when it moves (`docker exec`). */
export const PID_CGROUPS = 16_384;

function notePidCgroups(obj: BpfObject): BpfObject {
  return obj.setConst('ms_want_cgroups', true).setMaxEntries('ms_pid_cgroup', PID_CGROUPS);
}

export interface Loaded {
  name: SourceName;
  obj: BpfObject;
  /** the event sources chosen, as --verbose names them */
  using: string[];
}

/** Loads and attaches every source; `setup` runs after load (ring buffers), before attach. */
export interface SourceLimits {
  maxCgroups: number;
  maxFaultStacks: number;
  faultStackRate: number;
  faultStackSampleEvery: number;
  growthStackStorage: number;
}

export function loadSources(limits: SourceLimits, setup: (name: SourceName, obj: BpfObject) => void): Loaded[] {
  const out: Loaded[] = [];
  for (const s of specs(limits)) {
    let obj: BpfObject | null = null;
    const t0 = Date.now();
    try {
      obj = BpfObject.open(s.name);
      for (const [k, v] of Object.entries(s.consts ?? {})) obj.setConst(k, v);
      // two kinds at most per object (vmgrowth: brk and mmap bytes)
      obj.setConst('ms_by_cgroup', true).setMaxEntries('ms_cgroup_totals', limits.maxCgroups * 2);
      // its children are memscope too (a heap profile's memleak): never traced
      if (obj.hasGlobal('ms_skip_self_children')) obj.setConst('ms_skip_self_children', true);
      // rings read at every collection (Collectors.consumeRings), woken only when they fill; an OOM
      // kill is logged as it happens
      if (s.name !== 'oomkill' && obj.hasGlobal('ms_batch_wakeups')) obj.setConst('ms_batch_wakeups', true);
      obj.selectSources(s.groups);
      s.configure?.(obj);
      obj.load();
      setup(s.name, obj);
      obj.attachChosen();
      out.push({ name: s.name, obj, using: obj.chosen.map((c) => c.source.name) });
      if (process.env.MEMSCOPE_TIMING) process.stderr.write(`memscope: agent: ${s.name} loaded in ${Date.now() - t0} ms\n`);
    } catch (e) {
      obj?.destroy();
      logEvent('source_failed', { source: s.name, error: (e as Error).message });
    }
  }
  return out;
}
