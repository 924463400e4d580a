// SPDX-License-Identifier: Apache-2.0
// stackcount: events of tracepoints and software events counted by stack (BCC stackcount,
// bpftrace `@[ustack, comm] = count()`), with text, folded, JSON and flame-graph output.
import { addCommonOptions, addStackStorage, CommonOptions, InvalidArgumentError, parsePositive } from './options';
import { UsageError } from '../core/errors';
import { attachProbes, probeGroups, resolveProbes } from '../engine/probes';
import { runTrace } from '../engine/session';
import type { BpfObject } from '../engine/bpf-object';
import { foldOverLimit, stackCounts } from '../engine/stack-counts';
import { Symbolizer } from '../symbols/symbolizer';
import { accountEvents, addUnwindOptions, describeUnwind, DwarfStacks, reportAccounting, UnwindOptions } from '../unwind/dwarf-stacks';
import { clock } from '../render/table';
import { containerOutputs, INTERVAL_STACKS, reportIntervalLost, reportStacks, reportStacksLost } from './_stack-report';
import { StackGenerations } from '../engine/stack-generations';
import { sizeStackMaps, type StacksLost } from '../engine/stacks';
import { ContainerColumn } from './_container-column';
import { examples, Tool } from './tool';

interface StackcountOptions extends CommonOptions, UnwindOptions {
  user?: boolean;
  kernel?: boolean;
  perPid?: boolean;
  duration?: number;
  interval?: number;
  cpu?: number;
  regexp?: boolean;
  offset?: boolean;
  delimited?: boolean;
  stackStorage: number;
}

function parseCpu(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 8191) throw new InvalidArgumentError('a CPU is a whole number (0 is the first).');
  return Number(v);
}

const PROGS = { tracepoint: 'stackcount_tp', software: 'stackcount_sw', raw: 'stackcount_raw_', uprobe: 'stackcount_uprobe', usdt: 'stackcount_usdt' };

export const tool: Tool<StackcountOptions, [string[]]> = {
  name: 'stackcount',
  summary: 'count tracepoint or software events by user and kernel stack (stackcount)',
  configure(cmd) {
    cmd.argument(
      '<probe...>',
      't:CATEGORY:NAME (wildcards allowed), software:EVENT[:PERIOD], hardware:EVENT[:PERIOD], p:LIB:FUNC, r:LIB:FUNC, u:LIB:USDT or c:FUNC',
    );
    // BCC stackcount's letters: -c is a CPU and -d the delimiter here; the command is --command
    addCommonOptions(cmd, ['pid', 'command', 'json', 'svg', 'pprof'], ['command']);
    cmd.option('-U, --user', 'user stacks only');
    cmd.option('-K, --kernel', 'kernel stacks only');
    cmd.option('-P, --per-pid', 'count stacks per process (PID and COMM under each stack)');
    cmd.option('-f, --folded', 'print folded stacks (flamegraph.pl input) instead of the report');
    cmd.option('-i, --interval <SECONDS>', 'print (and reset) the counts every SECONDS', parsePositive);
    cmd.option('-D, --duration <SECONDS>', 'stop after SECONDS', parsePositive);
    cmd.option('-T, --timestamp', 'print the time (HH:MM:SS) before each report');
    cmd.option('-r, --regexp', "names are regular expressions, not globs: tracepoints (t:CATEGORY_RE:NAME_RE) and a library's functions (c:mall.*, p:LIB:RE)");
    cmd.option('-s, --offset', 'show symbol offsets and modules (func+0x1c [module])');
    cmd.option('-d, --delimited', 'a "--" line between kernel and user stacks ("-" frame in folded output)');
    cmd.option('-c, --cpu <CPU>', 'count events on this CPU only', parseCpu);
    addUnwindOptions(cmd, 'fp');
    addStackStorage(cmd);
    cmd.addHelpText(
      'after',
      "\nOptions follow BCC's stackcount: -c is a CPU (memscope's command is --command), -d the delimiter,\n" +
        "-D the duration, -f folded output; -v stays memscope's --verbose. Frames are names unless -s.\n" +
        'Without -U or -K both stacks are shown, kernel frames above user frames. User stacks are walked\n' +
        'with frame pointers by default (events can come fast) and stop early in code built without them\n' +
        "(Debian's libc): --unwind dwarf unwinds them with DWARF CFI to main; --unwind auto does so up to\n" +
        '--unwind-rate events per second per CPU, then uses frame pointers.\n' +
        examples([
          ['memscope stackcount -U t:syscalls:sys_enter_brk', 'heap expansion (brk) by user stack'],
          ['memscope stackcount -U -P t:exceptions:page_fault_user', 'user page faults by stack and process'],
          ['memscope stackcount -K t:vmscan:mm_vmscan_write_folio -D 10', 'kernel paths that write pages to swap'],
          ['memscope stackcount -f -PU t:exceptions:page_fault_user > out.folded', "the chapter's flame-graph recipe"],
          ['memscope stackcount -U --svg brk.svg t:syscalls:sys_enter_brk -D 30', 'a flame graph'],
          ["memscope stackcount -r -i 1 -T 't:kmem:mm_page_(alloc|free)'", 'page allocations and frees each second (regex)'],
          ['memscope stackcount -U --unwind dwarf c:malloc -p 181', 'malloc() by full user stack, through code without frame pointers'],
        ]),
    );
  },
  async run(opts: StackcountOptions, [specs]: [string[]]) {
    if (opts.user && opts.kernel) throw new UsageError('-U and -K exclude each other (leave both off for both stacks)');
    const probes = resolveProbes(specs, 512, { regex: opts.regexp });
    const user = !opts.kernel;
    const kernel = !opts.user;
    const symbolizer = new Symbolizer();
    const unwinding = user && opts.unwind !== 'fp';
    const dwarf = new DwarfStacks(symbolizer);
    if (opts.verbose && user) process.stderr.write(`memscope: ${describeUnwind(opts)}\n`);
    let reader: ReturnType<typeof stackCounts> | undefined;
    // per-process rows (-P) in --json/--pprof name the process's container
    const containers = opts.perPid && containerOutputs(opts) ? new ContainerColumn() : undefined;
    let fpCounted = 0; // events counted by frame-pointer stack in all intervals (the accounting)
    // -i: each interval's stacks are let go after its report, in the kernel's store too
    // (StackGenerations), and its report names at most INTERVAL_STACKS of each kind
    let gens: StackGenerations | undefined;
    const report = async (obj: BpfObject, clear: boolean, last = false) => {
      reader ??= stackCounts(obj, 'stack_counts', symbolizer);
      const interval = clear && !last;
      if (interval) {
        gens ??= StackGenerations.usable(obj, user) ? new StackGenerations(obj) : undefined;
        await gens?.flip();
      }
      const limit = opts.interval ? INTERVAL_STACKS : undefined;
      // kernel stacks are let go too, except while DWARF samples may still wait in the ring with
      // an old interval's kernel stack id (they are named at a later drain)
      let stacks = reader.read({ clear, limit, onIds: gens && ((u, k) => gens!.saw(u, unwinding ? -1 : k)) });
      fpCounted += stacks.reduce((sum, s) => sum + s.count, 0);
      const omitted = { ...reader.omitted };
      if (unwinding) {
        stacks = [...stacks, ...(await dwarf.drain(obj, last, limit))];
        omitted.stacks += dwarf.omitted.stacks;
        omitted.events += dwarf.omitted.events;
        if (clear) dwarf.reset();
      }
      // without -P the stacks over the interval's limit are one line, not one per process
      if (!opts.perPid) stacks = foldOverLimit(stacks, INTERVAL_STACKS).map((s) => ({ ...s, pid: 0, comm: '' }));
      if (opts.timestamp && !opts.json) process.stdout.write(`${clock()}\n`);
      reportStacks(stacks, opts, {
        title: `${specs.join(' ')} Flame Graph`,
        unit: 'events',
        names: !opts.offset,
        delimiter: !!opts.delimited,
        pprofType: ['events', 'count'],
        symbolizer,
        containers,
      });
      if (opts.interval) lostAtLast = reportIntervalLost(obj, opts, omitted, lostAtLast);
      if (interval) gens?.freeOld([reader.stacks, dwarf]);
    };
    let lostAtLast: StacksLost | undefined;
    await runTrace({
      kernelThreads: true, // kernel events: a kernel thread may be the -p target
      bpf: 'stackcount',
      opts,
      duration: opts.duration,
      interval: opts.interval,
      symbolizer: user ? symbolizer : undefined,
      consts: {
        user_stacks: user,
        kernel_stacks: kernel,
        targ_cpu: opts.cpu ?? -1,
        ...dwarf.consts(unwinding ? opts : { ...opts, unwind: 'fp' }),
      },
      configure(obj) {
        if (unwinding) DwarfStacks.configure(obj, opts);
        containers?.configure(obj);
        // plain-address stacks: cheap per event, and 16k stacks in 16 MiB (build-id stacks take 4 KiB
        // each), so distinct stacks rarely collide in the stack map's buckets
        if (user) DwarfStacks.configurePlainStacks(obj, opts, opts.stackStorage);
        if (kernel) sizeStackMaps(obj, { kernel: opts.stackStorage });
      },
      // the sample ring carries the executable-mapping notes plain stacks resolve through
      setup: (obj) => {
        if (!user) return;
        dwarf.listen(obj);
        // stacks named while their processes live (an exited one's mappings may be forgotten)
        reader = stackCounts(obj, 'stack_counts', symbolizer);
        dwarf.nameWhileAlive(reader);
      },
      banner: `Tracing ${probes.length} probe${probes.length > 1 ? 's' : ''} for "${specs.join(' ')}"`,
      groups: probeGroups('the probes', probes, PROGS),
      attach: (obj, pid) => attachProbes(obj, probes, PROGS, pid),
      tick: (obj) => report(obj, true),
      async finish(obj) {
        await report(obj, !!opts.interval, true);
        if (unwinding && opts.verbose) for (const l of dwarf.summary(obj, opts)) process.stderr.write(`memscope: ${l}\n`);
        reportAccounting(accountEvents(obj, dwarf, fpCounted, reader?.execed), unwinding ? opts : { ...opts, unwind: 'fp' });
        reportStacksLost(obj, opts);
      },
    });
  },
};
