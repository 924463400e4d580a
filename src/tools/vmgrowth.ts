// SPDX-License-Identifier: Apache-2.0
// vmgrowth: virtual memory growth by process through brk() and mmap()/mremap(), and shrinkage
// through brk(), munmap() and mremap(), with the user stacks responsible, per interval (the
// chapter's exercise "trace process virtual memory growth via both brk(2) and mmap(2)").
import { addCommonOptions, addInterval, addStackStorage, CommonOptions, parseCount } from './options';
import type { BpfObject } from '../engine/bpf-object';
import { runTrace } from '../engine/session';
import { stackCounts, type StackCountReader } from '../engine/stack-counts';
import { printJson } from '../render/json';
import type { CountedStack } from '../core/frames';
import { formatStackCounts, mergeStacks, ProfileStacks, stackJson } from '../render/stacks';
import { clock, formatTable } from '../render/table';
import { StackGenerations } from '../engine/stack-generations';
import { Symbolizer } from '../symbols/symbolizer';
import type { VmgrowthRecord } from '../core/records';
import { ContainerColumn } from './_container-column';
import { examples, Tool } from './tool';
import { INTERVAL_STACKS, PPROF_STACKS, reportIntervalLost, reportStacksLost, writeStacksPprof } from './_stack-report';
import type { StacksLost } from '../engine/stacks';
import { DwarfStacks } from '../unwind/dwarf-stacks';
import { UsageError } from '../core/errors';
import type { ProbeGroup } from '../engine/sources';

interface VmgrowthOptions extends CommonOptions {
  stacks?: boolean;
  top: number;
  stackStorage: number;
}

const MAPS = ['brk_grow', 'brk_shrink', 'mmap_grow', 'munmap_shrink'] as const;
type Kind = (typeof MAPS)[number];

interface ProcRow {
  pid: number;
  comm: string;
  brk_grow: number;
  brk_shrink: number;
  mmap_grow: number;
  munmap_shrink: number;
}

const kb = (b: number) => (b / 1024).toFixed(0);

/** The four syscalls, in preference order (also loaded by memscope agent) */
export const vmgrowthGroups: ProbeGroup[] = [
  {
    what: 'brk(), mmap(), mremap() and munmap() calls',
    sources: [
      {
        name: 'tracepoints syscalls/sys_{enter,exit}_{brk,mmap,mremap,munmap}',
        programs: ['vm_enter_brk', 'vm_exit_brk', 'vm_enter_mmap', 'vm_exit_mmap', 'vm_enter_munmap', 'vm_exit_munmap', 'vm_enter_mremap', 'vm_exit_mremap'],
        requires: ['brk', 'mmap', 'munmap', 'mremap'].flatMap((s) => [{ tracepoint: `syscalls/sys_enter_${s}` }, { tracepoint: `syscalls/sys_exit_${s}` }]),
      },
      {
        name: 'tp_btf sys_enter, sys_exit (filtered to the four syscalls)',
        programs: ['vm_sys_enter', 'vm_sys_exit'],
        requires: [{ btf: 'sys_enter' }, { btf: 'sys_exit' }],
      },
    ],
  },
];

export const tool: Tool<VmgrowthOptions, [number?, number?]> = {
  name: 'vmgrowth',
  summary: 'virtual memory growth and shrinkage by process via brk/mmap/munmap, with stacks',
  configure(cmd) {
    addInterval(addCommonOptions(cmd, ['pid', 'command', 'json', 'pprof']));
    cmd.option('-s, --stacks', 'also show the user stacks responsible (bytes by stack)');
    cmd.option('--top <N>', 'stacks to show per interval with -s', parseCount, 10);
    addStackStorage(cmd);
    cmd.addHelpText(
      'after',
      '\nCounted at each successful return of brk(), mmap(), mremap() and munmap(): BRK is the net move\n' +
        'of the heap break, MMAP the bytes mapped (mmap, mremap growth), MUNMAP those unmapped (munmap,\n' +
        'mremap shrink), in whole pages. A MAP_FIXED mmap over an existing mapping counts as growth, and\n' +
        'munmap of a range that was not mapped as shrinkage: the syscalls do not say.\n' +
        examples([
          ['memscope vmgrowth 1', 'growth by process each second'],
          ['memscope vmgrowth -p 181 -s 5', 'PID 181 every 5 s, with the stacks that grew it'],
          ['memscope vmgrowth -c ./myprog --json', 'a command from its start until it exits, as JSON'],
        ]),
    );
  },
  async run(opts: VmgrowthOptions, [interval, count]: [number?, number?]) {
    if (opts.pprof && !opts.stacks) throw new UsageError('--pprof needs -s (the stacks are the profile)');
    const symbolizer = new Symbolizer();
    // --pprof: growth stacks of every report, in bytes, labelled brk_grow or mmap_grow, merged per
    // kind (one call site can grow the heap both ways: two samples, never one mislabelled) after
    // each report and bounded (ProfileStacks), so a long interval run's profile does not grow
    const profile = new Map<string, ProfileStacks>();
    const containers = new ContainerColumn();
    // -s: walked frame-pointer stacks, their mappings noted on the sample ring (DwarfStacks only
    // records them and pins each map's stacks as they are stored: nothing is DWARF-unwound here)
    const dwarf = opts.stacks ? new DwarfStacks(symbolizer) : undefined;
    const readers = new Map<string, StackCountReader>();
    const reader = (obj: BpfObject, m: string) => {
      let r = readers.get(m);
      if (!r) readers.set(m, (r = stackCounts(obj, m, symbolizer)));
      return r;
    };
    // -s with an interval: each interval's stacks are let go after its report, in the kernel's
    // store too (StackGenerations), so a long run's later intervals keep their stacks
    let gens: StackGenerations | undefined;
    let lostAtLast: StacksLost | undefined;
    const omitted = { stacks: 0, events: 0 }; // this interval's stacks over the limit, all maps
    const report = (obj: BpfObject, clear: boolean) => {
      [omitted.stacks, omitted.events] = [0, 0];
      const rows = new Map<number, ProcRow>();
      const growth: CountedStack[] = [];
      const shrink: CountedStack[] = [];
      for (const m of MAPS) {
        // an interval's report names at most INTERVAL_STACKS stacks of each map while tracing
        // goes on (ARCHITECTURE.md, "Memory bound"); the rest keep their bytes per process
        const r = reader(obj, m);
        const read = r.read({ clear, limit: interval && opts.stacks ? INTERVAL_STACKS : undefined, onIds: gens && ((u, k) => gens!.saw(u, k)) });
        omitted.stacks += r.omitted.stacks;
        omitted.events += r.omitted.events;
        for (const s of read) {
          const r = rows.get(s.pid) ?? { pid: s.pid, comm: s.comm, brk_grow: 0, brk_shrink: 0, mmap_grow: 0, munmap_shrink: 0 };
          r[m as Kind] += s.count;
          rows.set(s.pid, r);
          (m.endsWith('grow') ? growth : shrink).push({ ...s, extra: { kind: m } });
          if (opts.pprof && m.endsWith('grow')) {
            let p = profile.get(m);
            if (!p) profile.set(m, (p = new ProfileStacks(PPROF_STACKS)));
            p.add({ ...s, extra: { kind: m } });
          }
        }
      }
      for (const p of profile.values()) p.settle();
      const net = (r: ProcRow) => r.brk_grow - r.brk_shrink + r.mmap_grow - r.munmap_shrink;
      const sorted = [...rows.values()].sort((a, b) => net(b) - net(a));
      const time = clock();
      if (opts.json) {
        for (const r of sorted) {
          const mine = (list: CountedStack[]) =>
            mergeStacks(list.filter((s) => s.pid === r.pid))
              .sort((a, b) => b.count - a.count)
              .slice(0, opts.top)
              .map((s) => ({ ...stackJson(s), bytes: s.count }));
          printJson({
            time,
            pid: r.pid,
            comm: r.comm,
            container: containers.json(r.pid),
            brk_bytes: r.brk_grow - r.brk_shrink,
            mmap_bytes: r.mmap_grow,
            munmap_bytes: r.munmap_shrink,
            net_bytes: net(r),
            ...(opts.stacks ? { grow_stacks: mine(growth), shrink_stacks: mine(shrink) } : {}),
          } satisfies VmgrowthRecord);
        }
        return;
      }
      const out = [`\n${time}`];
      if (!sorted.length) out.push('(no brk/mmap/munmap activity)');
      else {
        out.push(
          ...formatTable(
            ['PID', 'COMM', 'CONTAINER', 'BRK_KB', 'MMAP_KB', 'MUNMAP_KB', 'NET_KB'],
            sorted.map((r) => [r.pid, r.comm, containers.text(r.pid), kb(r.brk_grow - r.brk_shrink), kb(r.mmap_grow), kb(r.munmap_shrink), kb(net(r))]),
            [true, false, false, true, true, true, true],
          ),
        );
      }
      if (opts.stacks) {
        const top = (list: CountedStack[]) =>
          mergeStacks(list)
            .sort((a, b) => b.count - a.count)
            .slice(0, opts.top);
        const label = (s: CountedStack) => `${s.count} bytes (${s.extra?.kind})`;
        const g = top(growth);
        const s = top(shrink);
        if (g.length) out.push('', 'Growth by stack:', ...formatStackCounts(g, { countLabel: label }));
        if (s.length) out.push('', 'Shrinkage by stack:', ...formatStackCounts(s, { countLabel: label }));
      }
      process.stdout.write(out.join('\n') + '\n');
    };
    await runTrace({
      bpf: 'vmgrowth',
      opts,
      interval,
      count,
      symbolizer: opts.stacks ? symbolizer : undefined,
      consts: { capture_stacks: !!opts.stacks },
      configure: (obj) => {
        containers.configure(obj);
        // walked, not the kernel's build-id stack map: a stack whose bucket another held was lost
        // there (59 of 512 distinct stacks, issue 10); here it moves on to the next ids
        if (opts.stacks) DwarfStacks.configurePlainStacks(obj, { unwind: 'fp', unwindBytes: 0, unwindRate: 0 }, opts.stackStorage);
      },
      setup: (obj) => {
        if (!dwarf) return;
        dwarf.listen(obj);
        for (const m of MAPS) dwarf.nameWhileAlive(reader(obj, m));
      },
      banner: 'Tracing virtual memory growth (brk, mmap, mremap, munmap)',
      groups: vmgrowthGroups,
      tick: async (obj) => {
        if (opts.stacks && StackGenerations.usable(obj)) gens ??= new StackGenerations(obj);
        await gens?.flip();
        report(obj, true);
        if (opts.stacks) lostAtLast = reportIntervalLost(obj, opts, omitted, lostAtLast);
        gens?.freeOld([...[...readers.values()].map((r) => r.stacks), ...(dwarf ? [dwarf] : [])]);
      },
      finish: (obj) => {
        report(obj, !!interval);
        reportStacksLost(obj, opts);
        if (opts.pprof) writeStacksPprof(opts.pprof, [...profile.values()].flatMap((p) => p.stacks()), ['space', 'bytes'], symbolizer, (s) => ({ kind: String(s.extra?.kind) }));
      },
    });
  },
};
