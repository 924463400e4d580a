// SPDX-License-Identifier: Apache-2.0
// memleak: outstanding allocations by stack, for a process (uprobes on its allocator) or for the
// kernel (kmem tracepoints), with a growth view that tells a leak from a long-lived allocation.
// The parts: memleak/options.ts (validate), memleak/attach.ts (probes), memleak/collect.ts
// (maps into rows), memleak/report.ts (text, JSON, folded, SVG).
import { containerOutputs, reportStacksLost } from './_stack-report';
import { ContainerColumn } from './_container-column';
import { runTrace, StopReason } from '../engine/session';
import { Symbolizer } from '../symbols/symbolizer';
import { Tool } from './tool';
import { attachAllocator, probeGroups } from './memleak/attach';
import { Collector } from './memleak/collect';
import { configure, MemleakOptions, samplerNote, validate } from './memleak/options';
import { Reporter } from './memleak/report';
import { UserStacks } from './memleak/stacks';
import { checkTarget } from '../engine/target';
import { visiblePath } from './memleak/got';
import { planAttach } from './memleak/inject';
import { CALLS_RING_BYTES, callsLost, listenCalls } from './memleak/calls';

export const tool: Tool<MemleakOptions, [number?, number?]> = {
  name: 'memleak',
  summary: 'outstanding allocations by stack, for a process or the kernel, with growth over time',
  configure,
  async run(opts: MemleakOptions, [interval, count]: [number?, number?]) {
    const s = validate(opts, interval, count);
    if (s.sampler && opts.pid !== undefined) {
      // -p --sample-bytes: refused here, before anything is loaded, where loading the sampler is not safe
      checkTarget(opts);
      const plan = (s.attachPlan = planAttach(opts.pid, s.sampler));
      s.sampler = visiblePath(opts.pid, plan.shim);
      if (plan.preloaded) Object.assign(s, samplerNote(plan.rate!, true, true));
    }
    const symbolizer = new Symbolizer();
    const stacks = new UserStacks(s, symbolizer);
    const containers = containerOutputs(opts) ? new ContainerColumn() : undefined;
    const reporter = new Reporter(s, new Collector(s, symbolizer, stacks), symbolizer, containers);
    const what = s.user ? `outstanding allocations of ${opts.pid !== undefined ? `PID ${opts.pid}` : 'the command'}` : 'outstanding kernel allocations';

    await runTrace({
      bpf: 'memleak',
      opts,
      interval: s.interval,
      count: s.count,
      symbolizer,
      banner: `Tracing ${what}${s.estimateNote}, a report every ${s.interval} s`,
      groups: probeGroups(s),
      consts: {
        min_size: opts.minSize ?? 0,
        max_size: opts.maxSize ?? 0xffffffffffffffffn,
        sample_every: s.rate,
        wait_exec: opts.command !== undefined,
        trace_calls: !!opts.trace,
        ...stacks.consts(),
      },
      commandEnv: s.sampler ? { LD_PRELOAD: s.sampler, MEMSCOPE_SAMPLE_BYTES: String(opts.sampleBytes) } : undefined,
      configure(obj) {
        // stack storage where this mode needs it: kernel mode sees many distinct kernel stacks
        containers?.configure(obj);
        if (opts.maxAllocs !== undefined) obj.setMaxEntries('allocs', opts.maxAllocs);
        obj.setMaxEntries('ms_ustacks', 1);
        if (s.user) {
          obj.setMaxEntries('ms_kstacks', 1);
          stacks.configure(obj);
          if (opts.stackStorageSize !== undefined) obj.setMaxEntries('ml_stacks', opts.stackStorageSize);
        } else obj.setMaxEntries('ms_kstacks', opts.stackStorageSize ?? 16384).setMaxEntries('ml_stacks', 1);
        if (opts.trace) obj.setMaxEntries('ml_calls', CALLS_RING_BYTES);
      },
      setup(obj) {
        if (s.user) stacks.listen(obj);
        if (opts.trace) listenCalls(obj, !!opts.json);
      },
      attach: s.user ? (obj, pid) => attachAllocator(obj, pid, s) : undefined,
      async tick(obj) {
        if (opts.trace) return; // -t: the calls are the output, as BCC's --trace
        if (s.unwind !== 'fp') await stacks.settle();
        reporter.report(obj, false);
      },
      async finish(obj, reason: StopReason) {
        // the process's allocator slots back to glibc first: it runs on as before while the report is made
        const back = s.injected?.detach();
        if (back !== undefined && opts.verbose) process.stderr.write(`memscope: ${back} allocator slots of PID ${opts.pid} put back\n`);
        if (opts.trace) {
          const lost = callsLost(obj);
          if (lost) process.stderr.write(`memscope: ${lost} calls not printed (the trace ring was full)\n`);
          return;
        }
        if (s.unwind !== 'fp') await stacks.settle();
        // the last interval's report is the summary; folded stacks and SVG are made once, here
        if (reason !== 'count' || opts.folded || opts.svg || opts.pprof) reporter.report(obj, true, reason === 'target-exited');
        if (opts.verbose) for (const l of stacks.summary(obj)) process.stderr.write(`memscope: ${l}\n`);
        const accounting = s.user ? stacks.accounting(obj, !!opts.json) : null;
        if (accounting) process.stderr.write(accounting + '\n');
        reportStacksLost(obj, opts);
      },
    });
  },
};
