// SPDX-License-Identifier: Apache-2.0
// profile: timed sampling of user and kernel stacks (BCC profile, perf record -F 49 -g): a
// cpu-clock perf event per CPU interrupts whatever runs HZ times a second and the stacks are
// counted by process — "a coarse and cheap way to find malloc() code paths" (chapter 7.3.12).
// With -e, a hardware event sampled every -c events (perf record -e EVENT -c N, chapter 7.2.3).
import { addCommonOptions, CommonOptions, InvalidArgumentError, parseCount, parsePositive } from './options';
import { UsageError } from '../core/errors';
import { resolveProbe, SoftwareProbe } from '../engine/probes';
import { runTrace } from '../engine/session';
import { PERF_TYPE_SOFTWARE } from '../engine/sources';
import { stackCounts } from '../engine/stack-counts';
import { Symbolizer } from '../symbols/symbolizer';
import { DwarfStacks } from '../unwind/dwarf-stacks';
import { reportStacks, reportStacksLost } from './_stack-report';
import { examples, Tool } from './tool';

interface ProfileOptions extends CommonOptions {
  frequency: number;
  count?: number;
  event: string;
  userStacksOnly?: boolean;
  kernelStacksOnly?: boolean;
  includeIdle?: boolean;
  delimited?: boolean;
  offset?: boolean;
}

function parseHz(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0 || Number(v) > 100_000) throw new InvalidArgumentError('expected a whole number of samples per second, 1 to 100000.');
  return Number(v);
}

/** The sampled event: cpu-clock at -F HZ (its period is in nanoseconds), or -e EVENT every -c. */
export function samplingEvent(opts: Pick<ProfileOptions, 'frequency' | 'count' | 'event'>): SoftwareProbe {
  const spec = opts.event.includes(':') ? opts.event : `software:${opts.event}`;
  const [p] = resolveProbe(opts.count ? `${spec.split(':').slice(0, 2).join(':')}:${opts.count}` : spec);
  if (p.kind !== 'software') throw new UsageError(`-e takes a perf event (software:EVENT or hardware:EVENT), not '${opts.event}'`);
  const clock = p.perfType === PERF_TYPE_SOFTWARE && (p.event === 'cpu-clock' || p.event === 'cpu' || p.event === 'task-clock');
  if (clock && !opts.count) p.period = Math.max(1, Math.round(1e9 / opts.frequency));
  return p;
}

export const tool: Tool<ProfileOptions, [number?]> = {
  name: 'profile',
  summary: 'sample user and kernel stacks on a timer, HZ times a second per CPU (profile)',
  configure(cmd) {
    cmd.argument('[duration]', 'seconds to sample (default: until Ctrl-C)', parsePositive);
    addCommonOptions(cmd, ['pid', 'command', 'json', 'svg'], ['command']);
    cmd.option('-F, --frequency <HZ>', 'samples per second per CPU', parseHz, 49);
    cmd.option('-c, --count <N>', 'sample every N events instead (nanoseconds for cpu-clock)', parseCount);
    cmd.option('-e, --event <EVENT>', 'the perf event to sample: software:cpu-clock, or hardware:EVENT where a PMU exists', 'software:cpu-clock');
    cmd.option('-U, --user-stacks-only', 'user stacks only');
    cmd.option('-K, --kernel-stacks-only', 'kernel stacks only');
    cmd.option('-I, --include-idle', 'include the idle task (CPU idle time)');
    cmd.option('-f, --folded', 'print folded stacks (flamegraph.pl input) instead of the report');
    cmd.option('-d, --delimited', 'a "-" frame between user and kernel stacks in folded output');
    cmd.option('-s, --offset', 'show symbol offsets and modules in the text report');
    cmd.addHelpText(
      'after',
      "\nOptions as BCC's profile: -c is the sample period (run a command with --command), -d the folded\n" +
        "delimiter. Sampling is system-wide on every CPU; -p keeps the samples of one process. A stack is\n" +
        'counted once per sample, so a stack seen N times was on CPU for about N/HZ seconds.\n' +
        'Hardware events (perf record -e L1-dcache-load-misses -c 100000 -a, chapter 7.2.3) need a PMU;\n' +
        'without one memscope says so and samples nothing.\n' +
        examples([
          ['memscope profile -F 99 -p 181 10', 'stacks of PID 181 on CPU, 99 times a second, for 10 s'],
          ['memscope profile -f -F 49 30 > out.folded', 'folded stacks of everything for a flame graph'],
          ['memscope profile --svg cpu.svg -p 181 10', 'a flame graph directly'],
          ['memscope profile -U -p 181 10', 'user stacks only (e.g. to find malloc() code paths)'],
          ['memscope profile -e hardware:L1-dcache-load-misses -c 100000 10', 'stacks every 100000 L1 misses (needs a PMU)'],
        ]),
    );
  },
  async run(opts: ProfileOptions, [duration]: [number?]) {
    if (opts.userStacksOnly && opts.kernelStacksOnly) throw new UsageError('-U and -K exclude each other (leave both off for both stacks)');
    const event = samplingEvent(opts);
    const user = !opts.kernelStacksOnly;
    const kernel = !opts.userStacksOnly;
    const symbolizer = new Symbolizer();
    const maps = new DwarfStacks(symbolizer);
    const what = event.event === 'cpu-clock' && !opts.count ? `at ${opts.frequency} Hz` : `every ${event.period} ${event.label.split(':')[1]} events`;
    await runTrace({
      bpf: 'profile',
      opts,
      duration,
      symbolizer: user ? symbolizer : undefined,
      consts: { user_stacks: user, kernel_stacks: kernel, include_idle: !!opts.includeIdle },
      configure(obj) {
        // plain-address user stacks, 16k of them (build-id stacks take 4 KiB each, and a busy
        // system's samples would collide in a small map); the executable mappings they resolve
        // through come on the sample ring, so stacks of processes that exited still resolve
        if (user) DwarfStacks.configurePlainStacks(obj, { unwind: 'fp', unwindBytes: 0, unwindRate: 0 }, 16384);
        if (kernel) obj.setMaxEntries('ms_kstacks', 8192);
      },
      setup: (obj) => user && maps.listen(obj),
      banner: `Sampling ${user && kernel ? 'user and kernel' : user ? 'user' : 'kernel'} stacks ${what} on every CPU${opts.pid ? ` for PID ${opts.pid}` : ''}`,
      groups: [{ what: 'the sampling event', sources: [{ name: `perf event ${event.label} on each CPU`, programs: ['profile_sample'], requires: [], attach: 'manual' }] }],
      // on every CPU, not following the pid: a perf event opened for a pid sees only that thread
      attach: (obj) => obj.attachPerfEvent('profile_sample', event.perfType, event.config, event.period),
      finish(obj) {
        const stacks = stackCounts(obj, 'stack_counts', symbolizer).read();
        reportStacks(stacks, opts, { title: 'CPU Flame Graph', unit: 'samples', palette: 'hot', delimiter: opts.delimited, names: !opts.offset });
        reportStacksLost(obj, opts);
      },
    });
  },
};
