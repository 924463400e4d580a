// SPDX-License-Identifier: Apache-2.0
// count: events per probe on tracepoints and software events (BCC funccount on tracepoints,
// bpftrace `@[probe] = count()` and `@[comm, pid] = count()`), per interval or on exit.
import { addCommonOptions, CommonOptions, parsePositive } from './options';
import { attachProbes, probeGroups, resolveProbes } from '../engine/probes';
import { runTrace } from '../engine/session';
import { eachEntry, struct } from '../engine/struct';
import type { BpfObject } from '../engine/bpf-object';
import { printJson } from '../render/json';
import { clock, formatTable } from '../render/table';
import { examples, Tool } from './tool';
import { ContainerColumn } from './_container-column';

interface CountOptions extends CommonOptions {
  interval?: number;
  duration?: number;
  byProcess?: boolean;
}

const KEY = struct([
  ['probe', 'u32'],
  ['tgid', 'u32'],
  ['comm', 'char[16]'],
] as const, { c: 'count_key', bpf: 'count' });

const PROGS = { tracepoint: 'count_tp', software: 'count_sw', raw: 'count_raw_', uprobe: 'count_uprobe', usdt: 'count_usdt' };
/** count-lean.bpf.o has no USDT program, no cgroup filter and no CONTAINER column (reading a task's
 * cgroup is CO-RE), and so no CO-RE relocation: libbpf does not parse kernel BTF to load it
 * (bpf/count.bpf.c). Used when none of them is asked for (-P shows the column). */
const LEAN_PROGS = { tracepoint: 'count_tp', software: 'count_sw', raw: 'count_raw_', uprobe: 'count_uprobe' };

/** The kernel preallocates every entry of a hash map (and an LRU's per-CPU free lists) when the
 * object loads: counts' 16,384 and memscope.h's process-note maps (ms_seen, 8,192, and its ring,
 * which count never sends to) took about 10 ms of `count 't:vmscan:*'`'s load. Without -P there
 * is one key per probe. */
function sizeMaps(obj: BpfObject, probes: number, byProcess: boolean): void {
  if (!byProcess) obj.setMaxEntries('counts', Math.max(1, probes));
  obj.setMaxEntries('ms_seen', 1).setMaxEntries('ms_new_procs', 4096);
}

export const tool: Tool<CountOptions, [string[]]> = {
  name: 'count',
  summary: 'count events per tracepoint or software event, wildcards allowed (funccount)',
  configure(cmd) {
    cmd.argument('<probe...>', "t:CATEGORY:NAME (wildcards: 't:vmscan:*'), software:EVENT[:PERIOD], u:LIB:FUNC, c:FUNC");
    addCommonOptions(cmd, ['pid', 'command', 'timestamp', 'json']);
    cmd.option('-P, --by-process', 'count per process too (PID, COMM, CONTAINER)');
    cmd.option('-i, --interval <SECONDS>', 'print (and reset) the counts every SECONDS', parsePositive);
    cmd.option('-d, --duration <SECONDS>', 'stop after SECONDS', parsePositive);
    cmd.addHelpText(
      'after',
      '\nEvery event is counted in the kernel; nothing is sampled. Probe names as BCC and bpftrace write\n' +
        "them: t: or tracepoint: for tracepoints, software: for perf software events ('memscope list').\n" +
        examples([
          ["memscope count 't:vmscan:*'", 'vmscan operations by tracepoint, until Ctrl-C'],
          ['memscope count t:migrate:mm_migrate_pages -i 1', 'page migrations each second'],
          ['memscope count -P software:page-faults:1', 'page faults by process'],
          ["memscope count -p 181 -d 10 't:syscalls:sys_enter_m*'", 'memory syscalls of PID 181 for 10 s'],
          ['memscope count -p 181 c:malloc c:free', 'libc malloc() and free() calls (uprobes)'],
        ]),
    );
  },
  async run(opts: CountOptions, [specs]: [string[]]) {
    const probes = resolveProbes(specs);
    const lean = !probes.some((p) => p.kind === 'usdt') && opts.cgroup === undefined && opts.container === undefined && !opts.byProcess;
    const containers = opts.byProcess ? new ContainerColumn() : undefined;
    const progs = lean ? LEAN_PROGS : PROGS;
    const report = (obj: BpfObject, clear: boolean, header?: string) => {
      const rows = new Map<string, { probe: string; pid: number; comm: string; count: number }>();
      for (const [k, v] of eachEntry(obj.entries('counts', clear), KEY)) {
        const probe = probes[k.probe]?.label ?? `probe ${k.probe}`;
        rows.set(`${k.probe}/${k.tgid}/${k.comm}`, { probe, pid: k.tgid, comm: k.comm, count: Number(v.readBigUInt64LE(0)) });
      }
      const sorted = [...rows.values()].sort((a, b) => a.count - b.count || (a.probe < b.probe ? -1 : 1));
      const time = opts.timestamp || header ? clock() : undefined;
      if (opts.json) {
        for (const r of sorted) printJson({ ...(time ? { time } : {}), probe: r.probe, ...(containers ? { pid: r.pid, comm: r.comm, container: containers.json(r.pid) } : {}), count: r.count });
        return;
      }
      const out: string[] = [];
      if (header) out.push(`\n[${time}]`);
      else out.push('');
      // an interval with no events says so, as the other interval tools do, not an empty table
      if (header && !sorted.length) out.push('(no events)');
      else if (containers) out.push(...formatTable(['PROBE', 'PID', 'COMM', 'CONTAINER', 'COUNT'], sorted.map((r) => [r.probe, r.pid, r.comm, containers.text(r.pid), r.count]), [false, true, false, false, true]));
      else out.push(...formatTable(['PROBE', 'COUNT'], sorted.map((r) => [r.probe, r.count]), [false, true]));
      process.stdout.write(out.join('\n') + '\n');
    };
    await runTrace({
      kernelThreads: true, // kernel events: a kernel thread may be the -p target
      bpf: lean ? 'count-lean' : 'count',
      opts,
      duration: opts.duration,
      interval: opts.interval,
      consts: { by_process: !!opts.byProcess },
      configure(obj) {
        sizeMaps(obj, probes.length, !!opts.byProcess);
        containers?.configure(obj);
      },
      banner: `Tracing ${probes.length} probe${probes.length > 1 ? 's' : ''} for "${specs.join(' ')}"`,
      groups: probeGroups('the probes', probes, progs),
      attach: (obj, pid) => attachProbes(obj, probes, progs, pid),
      tick: (obj) => report(obj, true, 'interval'),
      finish(obj) {
        if (!opts.interval) report(obj, false);
        else report(obj, true, 'interval');
      },
    });
  },
};
