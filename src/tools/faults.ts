// faults: page faults counted by user stack (and kernel stack with --kernel) and process.
import { addCommonOptions, addDuration, CommonOptions, parseCount } from './options';
import { runTrace } from '../engine/session';
import { PERF_COUNT_SW_PAGE_FAULTS, PERF_TYPE_SOFTWARE, ProbeGroup } from '../engine/sources';
import { stackCounts } from '../engine/stack-counts';
import { Symbolizer } from '../symbols/symbolizer';
import { addUnwindOptions, describeUnwind, DwarfStacks, UnwindOptions } from '../unwind/dwarf-stacks';
import { reportStacks } from './_stack-report';
import { examples, Tool } from './tool';

interface FaultsOptions extends CommonOptions, UnwindOptions {
  kernel?: boolean;
  stackStorage: number;
}

export function faultGroups(kernel: boolean): ProbeGroup[] {
  return [
    {
      what: 'user page faults',
      sources: [
        { name: 'tp_btf page_fault_user', programs: ['fault_user_btf'], requires: [{ btf: 'page_fault_user' }] },
        { name: 'tracepoint exceptions/page_fault_user', programs: ['fault_user_tp'], requires: [{ tracepoint: 'exceptions/page_fault_user' }] },
        {
          name: 'perf software event page-faults',
          programs: ['fault_perf'],
          requires: [{ always: true }],
          attach: { perfEvent: { type: PERF_TYPE_SOFTWARE, config: PERF_COUNT_SW_PAGE_FAULTS, period: 1 } },
        },
      ],
    },
    {
      what: 'kernel-mode page faults',
      off: !kernel,
      sources: [
        { name: 'tp_btf page_fault_kernel', programs: ['fault_kernel_btf'], requires: [{ btf: 'page_fault_kernel' }] },
        { name: 'tracepoint exceptions/page_fault_kernel', programs: ['fault_kernel_tp'], requires: [{ tracepoint: 'exceptions/page_fault_kernel' }] },
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
    cmd.option('--stack-storage <N>', 'distinct stacks to keep (more costs kernel memory)', parseCount, 16384);
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
    if (opts.verbose) process.stderr.write(`memscope: ${describeUnwind(opts)}\n`);
    await runTrace({
      bpf: 'faults',
      opts,
      duration,
      symbolizer,
      banner: 'Tracing page faults by stack',
      groups: faultGroups(!!opts.kernel),
      consts: dwarf.consts(opts),
      setup: (obj) => dwarf.listen(obj),
      configure(obj) {
        DwarfStacks.configure(obj, opts);
        // faults come fast: plain-address stacks avoid a build-id lookup per fault
        DwarfStacks.configurePlainStacks(obj, opts, opts.stackStorage);
        obj.setMaxEntries('ms_kstacks', opts.kernel ? opts.stackStorage : 1);
      },
      async finish(obj) {
        const stacks = [...stackCounts(obj, 'fault_counts', symbolizer).read(), ...(await dwarf.drain(obj))];
        if (opts.verbose) for (const l of dwarf.summary(obj, opts)) process.stderr.write(`memscope: ${l}\n`);
        reportStacks(stacks, opts, { title: 'Page Fault Flame Graph', unit: 'page faults', palette: 'mem', pprofType: ['faults', 'count'], symbolizer });
      },
    });
  },
};
