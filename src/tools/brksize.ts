// SPDX-License-Identifier: Apache-2.0
// brksize: sizes of heap expansions through brk(), as a log2 histogram per process (the chapter's
// exercise "print the size of expansions via brk(2)").
import { addCommonOptions, addDuration, CommonOptions } from './options';
import { runTrace } from '../engine/session';
import { eachEntry, struct } from '../engine/struct';
import { renderLog2 } from '../render/histogram';
import { printJson } from '../render/json';
import { examples, Tool } from './tool';
import { escapeText } from '../core/escape';
import { ContainerColumn } from './_container-column';

const HIST_KEY = struct([
  ['tgid', 'u32'],
  ['bucket', 'u32'],
  ['comm', 'char[16]'],
] as const, { c: 'hist_key', bpf: 'brksize' });
const PID_KEY = struct([['tgid', 'u32']] as const);

/** [low, high) of a log2 bucket (renderLog2's rule). */
export function bucketRange(i: number): [number, number] {
  return i === 0 ? [0, 1] : [2 ** (i - 1), 2 ** i];
}

export const tool: Tool<CommonOptions, [number?]> = {
  name: 'brksize',
  summary: 'sizes of brk() heap expansions as a log2 histogram per process',
  configure(cmd) {
    addDuration(addCommonOptions(cmd, ['pid', 'command', 'json']));
    cmd.addHelpText(
      'after',
      '\nAn expansion is the new break minus the break before the call: brk(0) queries, shrinks and\n' +
        'refused calls are not counted. malloc() grows the heap in steps of at least M_TOP_PAD (128 KiB).\n' +
        'Each histogram is keyed by COMM, PID and CONTAINER (the process\'s container, "-" for the host;\n' +
        'JSON: container, null for the host).\n' +
        examples([
          ['memscope brksize', 'all processes, until Ctrl-C'],
          ['memscope brksize -p 181 10', 'PID 181 for 10 seconds'],
          ['memscope brksize -c ./myprog --json', 'a command from its start, as JSON'],
        ]),
    );
  },
  async run(opts: CommonOptions, [duration]: [number?]) {
    const containers = new ContainerColumn();
    await runTrace({
      bpf: 'brksize',
      opts,
      duration,
      banner: 'Tracing brk() expansion sizes',
      groups: [
        {
          what: 'brk() calls',
          sources: [
            {
              name: 'tracepoints syscalls/sys_enter_brk, sys_exit_brk',
              programs: ['brksize_enter', 'brksize_exit'],
              requires: [{ tracepoint: 'syscalls/sys_enter_brk' }, { tracepoint: 'syscalls/sys_exit_brk' }],
            },
            { name: 'tp_btf sys_enter, sys_exit (filtered to brk)', programs: ['brksize_sys_enter', 'brksize_sys_exit'], requires: [{ btf: 'sys_enter' }, { btf: 'sys_exit' }] },
          ],
        },
      ],
      configure: (obj) => containers.configure(obj),
      finish(obj) {
        const procs = new Map<number, { comm: string; buckets: Map<number, number> }>();
        for (const [k, v] of eachEntry(obj.entries('hist'), HIST_KEY)) {
          const p = procs.get(k.tgid) ?? { comm: k.comm, buckets: new Map() };
          p.buckets.set(k.bucket, (p.buckets.get(k.bucket) ?? 0) + Number(v.readBigUInt64LE(0)));
          procs.set(k.tgid, p);
        }
        const totals = new Map<number, number>();
        for (const [k, v] of eachEntry(obj.entries('total'), PID_KEY)) totals.set(k.tgid, Number(v.readBigUInt64LE(0)));
        const order = [...procs.entries()].sort((a, b) => (totals.get(a[0]) ?? 0) - (totals.get(b[0]) ?? 0));
        const out: string[] = [];
        for (const [pid, p] of order) {
          const n = [...p.buckets.values()].reduce((s, c) => s + c, 0);
          const bytes = totals.get(pid) ?? 0;
          if (opts.json) {
            const hist = [...p.buckets.entries()].sort((a, b) => a[0] - b[0]).map(([i, count]) => {
              const [low, high] = bucketRange(i);
              return { low, high, count };
            });
            printJson({ pid, comm: p.comm, container: containers.json(pid), expansions: n, bytes, hist });
            continue;
          }
          out.push('', `@brk_bytes[${escapeText(p.comm)}, ${pid}, ${containers.text(pid)}]: ${n} expansions, ${bytes} bytes`);
          out.push(...renderLog2(p.buckets));
        }
        if (!opts.json) process.stdout.write((out.length ? out.join('\n') : '\nno brk() expansions') + '\n');
      },
    });
  },
};
