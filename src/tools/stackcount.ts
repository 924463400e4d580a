// stackcount: events of tracepoints and software events counted by stack (BCC stackcount,
// bpftrace `@[ustack, comm] = count()`), with text, folded, JSON and flame-graph output.
import { addCommonOptions, CommonOptions, parsePositive } from './options';
import { UsageError } from '../core/errors';
import { attachProbes, probeGroups, resolveProbes } from '../engine/probes';
import { runTrace } from '../engine/session';
import { stackCounts } from '../engine/stack-counts';
import { Symbolizer } from '../symbols/symbolizer';
import { addUnwindOptions, describeUnwind, DwarfStacks, UnwindOptions } from '../unwind/dwarf-stacks';
import { reportStacks } from './_stack-report';
import { examples, Tool } from './tool';

interface StackcountOptions extends CommonOptions, UnwindOptions {
  user?: boolean;
  kernel?: boolean;
  perPid?: boolean;
  duration?: number;
}

const PROGS = { tracepoint: 'stackcount_tp', software: 'stackcount_sw', raw: 'stackcount_raw_', uprobe: 'stackcount_uprobe' };

export const tool: Tool<StackcountOptions, [string[]]> = {
  name: 'stackcount',
  summary: 'count tracepoint or software events by user and kernel stack (stackcount)',
  configure(cmd) {
    cmd.argument('<probe...>', 't:CATEGORY:NAME (wildcards allowed), software:EVENT[:PERIOD], u:LIB:FUNC or c:FUNC');
    addCommonOptions(cmd, ['pid', 'command', 'json', 'folded', 'svg']);
    cmd.option('-U, --user', 'user stacks only');
    cmd.option('-K, --kernel', 'kernel stacks only');
    cmd.option('-P, --per-pid', 'count stacks per process (PID and COMM under each stack)');
    cmd.option('-d, --duration <SECONDS>', 'stop after SECONDS', parsePositive);
    addUnwindOptions(cmd, 'fp');
    cmd.addHelpText(
      'after',
      '\nWithout -U or -K both stacks are shown, kernel frames above user frames. User stacks are walked\n' +
        'with frame pointers by default (events can come fast) and stop early in code built without them\n' +
        "(Debian's libc): --unwind dwarf unwinds them with DWARF CFI to main; --unwind auto does so up to\n" +
        '--unwind-rate events per second per CPU, then uses frame pointers.\n' +
        examples([
          ['memscope stackcount -U t:syscalls:sys_enter_brk', 'heap expansion (brk) by user stack'],
          ['memscope stackcount -U -P t:exceptions:page_fault_user', 'user page faults by stack and process'],
          ['memscope stackcount -K t:vmscan:mm_vmscan_write_folio -d 10', 'kernel paths that write pages to swap'],
          ['memscope stackcount -U --svg brk.svg t:syscalls:sys_enter_brk -d 30', 'a flame graph'],
          ['memscope stackcount -U --unwind dwarf c:malloc -p 181', 'malloc() by full user stack, through code without frame pointers'],
        ]),
    );
  },
  async run(opts: StackcountOptions, [specs]: [string[]]) {
    if (opts.user && opts.kernel) throw new UsageError('-U and -K exclude each other (leave both off for both stacks)');
    const probes = resolveProbes(specs);
    const user = !opts.kernel;
    const kernel = !opts.user;
    const symbolizer = new Symbolizer();
    const unwinding = user && opts.unwind !== 'fp';
    const dwarf = new DwarfStacks(symbolizer);
    if (opts.verbose && user) process.stderr.write(`memscope: ${describeUnwind(opts)}\n`);
    await runTrace({
      bpf: 'stackcount',
      opts,
      duration: opts.duration,
      symbolizer: user ? symbolizer : undefined,
      consts: { user_stacks: user, kernel_stacks: kernel, ...dwarf.consts(unwinding ? opts : { ...opts, unwind: 'fp' }) },
      configure(obj) {
        if (unwinding) DwarfStacks.configure(obj, opts);
        // plain-address stacks: cheap per event, and 16k stacks in 16 MiB (build-id stacks take 4 KiB
        // each), so distinct stacks rarely collide in the stack map's buckets
        if (user) DwarfStacks.configurePlainStacks(obj, opts, 16384);
        if (kernel) obj.setMaxEntries('ms_kstacks', 8192);
      },
      // the sample ring carries the executable-mapping notes plain stacks resolve through
      setup: (obj) => user && dwarf.listen(obj),
      banner: `Tracing ${probes.length} probe${probes.length > 1 ? 's' : ''} for "${specs.join(' ')}"`,
      groups: probeGroups('the probes', probes, PROGS),
      attach: (obj, pid) => attachProbes(obj, probes, PROGS, pid),
      async finish(obj) {
        let stacks = stackCounts(obj, 'stack_counts', symbolizer).read();
        if (unwinding) {
          stacks = [...stacks, ...(await dwarf.drain(obj))];
          if (opts.verbose) for (const l of dwarf.summary(obj, opts)) process.stderr.write(`memscope: ${l}\n`);
        }
        if (!opts.perPid) stacks = stacks.map((s) => ({ ...s, pid: 0, comm: '' }));
        reportStacks(stacks, opts, { title: `${specs.join(' ')} Flame Graph`, unit: 'events' });
      },
    });
  },
};
