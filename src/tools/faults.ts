// SPDX-License-Identifier: Apache-2.0
// faults: page faults counted by user stack (and kernel stack with --kernel) and process.
import { addCommonOptions, addDuration, addStackStorage, CommonOptions } from './options';
import { runTrace } from '../engine/session';
import type { ProbeGroup } from '../engine/sources';
import { PAGE_FAULT_PERF_EVENT } from './_fault-sources';
import { stackCounts, StackCountReader } from '../engine/stack-counts';
import { sizeStackMaps } from '../engine/stacks';
import { Symbolizer } from '../symbols/symbolizer';
import { accountEvents, addUnwindOptions, describeUnwind, DwarfStacks, reportAccounting, UnwindOptions } from '../unwind/dwarf-stacks';
import { containerOutputs, reportStacks, reportStacksLost } from './_stack-report';
import { ContainerColumn } from './_container-column';
import { examples, Tool } from './tool';

interface FaultsOptions extends CommonOptions, UnwindOptions {
  kernel?: boolean;
  stackStorage: number;
}

/**
 * The fault event: perf's software event "page-faults" first (its program keeps user-mode faults,
 * and with -K also the kernel's faults on user memory: perf stat -e page-faults's count), else the
 * tracepoints (page_fault_user, plus page_fault_kernel with -K).
 */
export function faultGroups(kernel: boolean): ProbeGroup[] {
  const tp = (btf: boolean) => (what: string) => (btf ? { btf: what } : { tracepoint: `exceptions/${what}` });
  const both = (btf: boolean) => (kernel ? ['page_fault_user', 'page_fault_kernel'] : ['page_fault_user']).map(tp(btf));
  return [
    {
      what: kernel ? 'user and kernel-mode page faults' : 'user page faults',
      sources: [
        { name: 'perf software event page-faults', programs: ['fault_perf'], requires: [{ always: true }], attach: PAGE_FAULT_PERF_EVENT },
        {
          name: 'tp_btf page_fault_user' + (kernel ? ', page_fault_kernel' : ''),
          programs: kernel ? ['fault_user_btf', 'fault_kernel_btf'] : ['fault_user_btf'],
          requires: both(true),
        },
        {
          name: 'tracepoint exceptions/page_fault_user' + (kernel ? ', page_fault_kernel' : ''),
          programs: kernel ? ['fault_user_tp', 'fault_kernel_tp'] : ['fault_user_tp'],
          requires: both(false),
        },
      ],
    },
  ];
}

export const tool: Tool<FaultsOptions, [number?]> = {
  name: 'faults',
  summary: 'page faults (RSS growth) counted by stack and process; page-fault flame graphs',
  configure(cmd) {
    addUnwindOptions(addDuration(addCommonOptions(cmd, ['pid', 'command', 'json', 'folded', 'svg', 'pprof'])), 'fp');
    cmd.option('-K, --kernel', 'also count faults the kernel takes on user memory, with kernel stacks');
    addStackStorage(cmd);
    cmd.addHelpText(
      'after',
      '\nEvery page fault is counted (none are sampled): the stacks are the code paths that first touched\n' +
        'memory, so they explain RSS growth. Stacks stop early in code without frame pointers.\n' +
        examples([
          ['memscope faults -p 181 10', 'faults of PID 181 for 10 seconds'],
          ['memscope faults --svg faults.svg 30', 'a page-fault flame graph of 30 seconds, all processes'],
          ['memscope faults --folded -p 181 > out.folded', 'folded stacks for flamegraph.pl'],
          ['memscope faults -K -c "make"', 'user and kernel fault stacks of a build'],
          ['memscope faults --unwind dwarf -p 181 5', 'full user stacks through code without frame pointers'],
        ]),
    );
  },
  async run(opts: FaultsOptions, [duration]: [number?]) {
    const symbolizer = new Symbolizer();
    const dwarf = new DwarfStacks(symbolizer);
    const containers = containerOutputs(opts) ? new ContainerColumn() : undefined;
    let counts: StackCountReader | undefined; // names stacks while their processes live
    if (opts.verbose) process.stderr.write(`memscope: ${describeUnwind(opts)}\n`);
    await runTrace({
      bpf: 'faults',
      opts,
      duration,
      symbolizer,
      banner: 'Tracing page faults by stack',
      groups: faultGroups(!!opts.kernel),
      consts: { ...dwarf.consts(opts), kernel_mode: !!opts.kernel },
      setup: (obj) => {
        dwarf.listen(obj);
        counts = stackCounts(obj, 'fault_counts', symbolizer);
        dwarf.nameWhileAlive(counts);
      },
      configure(obj) {
        DwarfStacks.configure(obj, opts);
        containers?.configure(obj);
        // faults come fast: stacks walked in BPF, no build-id lookup per fault (stacks.h)
        DwarfStacks.configurePlainStacks(obj, opts, opts.stackStorage);
        if (opts.kernel) sizeStackMaps(obj, { kernel: opts.stackStorage });
      },
      async finish(obj) {
        const fp = (counts ?? stackCounts(obj, 'fault_counts', symbolizer)).read();
        const stacks = [...fp, ...(await dwarf.drain(obj, true))];
        if (opts.verbose) for (const l of dwarf.summary(obj, opts)) process.stderr.write(`memscope: ${l}\n`);
        const accounting = accountEvents(
          obj,
          dwarf,
          fp.reduce((sum, s) => sum + s.count, 0),
          counts?.execed,
        );
        reportStacks(stacks, opts, { title: 'Page Fault Flame Graph', unit: 'page faults', palette: 'mem', pprofType: ['faults', 'count'], symbolizer, containers });
        reportAccounting(accounting, opts);
        reportStacksLost(obj, opts);
      },
    });
  },
};
