// SPDX-License-Identifier: Apache-2.0
// brkstack: brk() calls (heap growth) counted by user stack and process.
import { addCommonOptions, addDuration, addStackStorage, CommonOptions } from './options';
import { runTrace } from '../engine/session';
import { stackCounts, type StackCountReader } from '../engine/stack-counts';
import { Symbolizer } from '../symbols/symbolizer';
import { accountEvents, addUnwindOptions, describeUnwind, DwarfStacks, reportAccounting, UnwindOptions } from '../unwind/dwarf-stacks';
import { containerOutputs, reportStacks, reportStacksLost } from './_stack-report';
import { ContainerColumn } from './_container-column';
import { examples, Tool } from './tool';

type BrkstackOptions = CommonOptions & UnwindOptions & { stackStorage: number };

export const tool: Tool<BrkstackOptions, [number?]> = {
  name: 'brkstack',
  summary: 'brk() heap growth counted by user stack and process',
  configure(cmd) {
    addStackStorage(addUnwindOptions(addDuration(addCommonOptions(cmd, ['pid', 'command', 'json', 'folded', 'svg', 'pprof']))));
    cmd.addHelpText(
      'after',
      '\nEvery brk() call is counted (none are sampled). User stacks are unwound with DWARF CFI by\n' +
        "default, so they go through code without frame pointers (Debian's libc) to main; a stack\n" +
        'that cannot be unwound further ends with an [unwind stopped: ...] line.\n' +
        examples([
          ['memscope brkstack', 'all processes, until Ctrl-C'],
          ['memscope brkstack -p 181 10', 'PID 181 for 10 seconds'],
          ['memscope brkstack -c ./myprog', 'start ./myprog and trace it from its start'],
          ['memscope brkstack --svg brk.svg 30', 'a brk flame graph of 30 seconds'],
          ['memscope brkstack --unwind fp -p 181', 'frame-pointer stacks, walked in the kernel (cheapest)'],
        ]),
    );
  },
  async run(opts: BrkstackOptions, [duration]: [number?]) {
    const symbolizer = new Symbolizer();
    const dwarf = new DwarfStacks(symbolizer);
    const containers = containerOutputs(opts) ? new ContainerColumn() : undefined;
    let counts: StackCountReader | undefined; // names stacks while their processes live
    if (opts.verbose) process.stderr.write(`memscope: ${describeUnwind(opts)}\n`);
    await runTrace({
      bpf: 'brkstack',
      opts,
      duration,
      symbolizer,
      banner: 'Tracing brk() calls by user stack',
      consts: dwarf.consts(opts),
      configure(obj) {
        DwarfStacks.configure(obj, opts);
        // frame-pointer stacks (--unwind fp, and each DWARF sample's fallback) are walked stacks:
        // a stack whose id another holds moves on to the next ids, where the kernel's build-id
        // stack map kept one stack per bucket and lost 57 of 512 distinct stacks (issue 10)
        DwarfStacks.configurePlainStacks(obj, opts, opts.stackStorage);
        containers?.configure(obj);
      },
      setup: (obj) => {
        dwarf.listen(obj);
        counts = stackCounts(obj, 'brk_counts', symbolizer);
        dwarf.nameWhileAlive(counts);
      },
      groups: [
        {
          what: 'brk() calls',
          sources: [
            { name: 'tracepoint syscalls/sys_enter_brk', programs: ['brk_tracepoint'], requires: [{ tracepoint: 'syscalls/sys_enter_brk' }] },
            { name: 'tp_btf sys_enter (filtered to brk)', programs: ['brk_sys_enter'], requires: [{ btf: 'sys_enter' }] },
          ],
        },
      ],
      async finish(obj) {
        counts ??= stackCounts(obj, 'brk_counts', symbolizer);
        const fp = counts.read();
        const stacks = [...fp, ...(await dwarf.drain(obj, true))];
        if (opts.verbose) for (const l of dwarf.summary(obj, opts)) process.stderr.write(`memscope: ${l}\n`);
        const accounting = accountEvents(obj, dwarf, fp.reduce((sum, s) => sum + s.count, 0), counts.execed);
        reportStacks(stacks, opts, { title: 'brk() Flame Graph', unit: 'brk calls', pprofType: ['brk_calls', 'count'], symbolizer, containers });
        reportAccounting(accounting, opts);
        reportStacksLost(obj, opts);
      },
    });
  },
};
