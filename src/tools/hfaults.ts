// SPDX-License-Identifier: Apache-2.0
// hfaults: huge page (hugetlbfs) faults counted by process: PID, COMM, HFAULTS.
import { addCommonOptions, CommonOptions, parsePositive } from './options';
import type { BpfObject } from '../engine/bpf-object';
import { runTrace } from '../engine/session';
import { eachEntry, struct } from '../engine/struct';
import { printJson } from '../render/json';
import { clock, formatTable } from '../render/table';
import { faultGroup, reportVmaLookups } from './_fault-sources';
import { examples, Tool } from './tool';
import { ContainerColumn } from './_container-column';

/** struct hf_key (bpf/hfaults.bpf.c) */
const HF_KEY = struct([
  ['tgid', 'u32'],
  ['comm', 'char[16]'],
] as const, { c: 'hf_key', bpf: 'hfaults' });

interface ProcFaults {
  pid: number;
  comm: string;
  count: number;
}

function readCounts(obj: BpfObject, clear: boolean): ProcFaults[] {
  const out: ProcFaults[] = [];
  for (const [k, v] of eachEntry(obj.entries('hf_counts', clear), HF_KEY)) {
    out.push({ pid: k.tgid, comm: k.comm, count: Number(v.readBigUInt64LE(0)) });
  }
  return out.sort((a, b) => a.count - b.count || a.pid - b.pid);
}

function report(rows: ProcFaults[], opts: CommonOptions, containers: ContainerColumn, time?: string): void {
  if (opts.json) {
    for (const r of rows) printJson({ ...(time ? { time } : {}), ...r, container: containers.json(r.pid) });
    return;
  }
  const lines: string[] = [];
  if (time) lines.push('', time);
  if (rows.length) lines.push(...formatTable(['PID', 'COMM', 'CONTAINER', 'HFAULTS'], rows.map((r) => [r.pid, r.comm, containers.text(r.pid), r.count]), [true, false, false, true]));
  else lines.push('(no huge page faults)');
  process.stdout.write(lines.join('\n') + '\n');
}

export const tool: Tool<CommonOptions, [number?]> = {
  name: 'hfaults',
  summary: 'huge page (hugetlbfs) faults counted by process',
  configure(cmd) {
    addCommonOptions(cmd, ['pid', 'command', 'json']);
    cmd.argument('[interval]', 'print a report every INTERVAL seconds', parsePositive);
    cmd.addHelpText(
      'after',
      '\nCounts faults on hugetlbfs memory (MAP_HUGETLB, SHM_HUGETLB, files on a hugetlbfs mount): one\n' +
        'per huge page first touched, by the program or by the kernel for it (read() into a huge-page\n' +
        'buffer), which confirms that huge pages are in use. Transparent huge pages are not hugetlbfs\n' +
        'and are not counted here. A fault whose mapping cannot be looked up at that instant (mmap lock\n' +
        'held for writing: by the process, or while any tracer attaches a uprobe to a file it maps;\n' +
        'with a tracepoint --source also another BPF tool on the same event holding\n' +
        "the CPU's bpf_find_vma work) is not counted; their number is printed if there were any.\n" +
        examples([
          ['memscope hfaults', 'all processes, summary on Ctrl-C'],
          ['memscope hfaults -p 884', 'PID 884 only'],
          ['memscope hfaults 5', 'a summary every 5 seconds'],
        ]),
    );
  },
  async run(opts: CommonOptions, [interval]: [number?]) {
    const containers = new ContainerColumn();
    await runTrace({
      bpf: 'hfaults',
      opts,
      interval,
      banner: 'Tracing Huge Page faults per process',
      groups: [faultGroup('page faults', { btf: 'hf_fault_btf', tp: 'hf_fault_tp', perf: 'hf_fault_perf' })],
      configure: (obj) => containers.configure(obj),
      tick(obj) {
        report(readCounts(obj, true), opts, containers, clock());
      },
      finish(obj) {
        if (interval === undefined) report(readCounts(obj, false), opts, containers);
        else {
          const rest = readCounts(obj, true);
          if (rest.length) report(rest, opts, containers, clock());
        }
        const busy = obj.readGlobalU64('hf_busy');
        if (busy > 0n) process.stderr.write(`memscope: ${busy} faults could not be checked (their vma was busy: see --help)\n`);
        if (opts.verbose) reportVmaLookups(obj);
      },
    });
  },
};
