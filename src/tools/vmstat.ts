// SPDX-License-Identifier: Apache-2.0
// vmstat: vmstat(1)'s columns from /proc/stat, /proc/meminfo and /proc/vmstat. The first line is
// the summary since boot (memory columns are the current state), then one line per interval; as in
// procps, `vmstat 1 3` prints 3 lines in all and the since-boot rates are per second of CPU time.
import { addCommonOptions, addInterval, CommonOptions } from './options';
import { readMeminfo } from '../procfs/meminfo';
import { readStat, readVmstat, Stat, Vmstat } from '../procfs/vmstat';
import { printJson } from '../render/json';
import { runIntervals } from './_interval';
import { examples, Tool } from './tool';

export interface VmstatSample {
  stat: Stat;
  vm: Vmstat;
  meminfo: Record<string, number>;
}

export interface VmstatLine {
  r: number;
  b: number;
  swpd: number;
  free: number;
  buff: number;
  cache: number;
  si: number;
  so: number;
  bi: number;
  bo: number;
  in: number;
  cs: number;
  us: number;
  sy: number;
  id: number;
  wa: number;
  st: number;
}

export function sampleVmstat(): VmstatSample {
  return { stat: readStat(), vm: readVmstat(), meminfo: readMeminfo() };
}

const PAGE_KB = 4;
/** USER_HZ: /proc/stat counts CPU time in these ticks (sysconf(_SC_CLK_TCK), 100 on Linux). */
const HZ = 100;

/** CPU ticks of all CPUs since boot, as procps sums them for its first line's divisor. */
export function cpuTicks(s: VmstatSample): number {
  const c = s.stat.cpu;
  return c.user + c.nice + c.system + c.irq + c.softirq + c.idle + c.iowait + c.steal;
}

/** The since-boot line as procps computes it: counts x HZ / (CPU ticks of all CPUs), rounded
 * the same way, so its rates match `vmstat`'s first line (per CPU-second, not per second). */
export function sinceBootLine(cur: VmstatSample): VmstatLine {
  const div = cpuTicks(cur) || 1;
  const l = vmstatLine(null, cur, 0);
  const rate = (v: number) => Math.floor((v * HZ + Math.floor(div / 2)) / div);
  return {
    ...l,
    si: rate((cur.vm.pswpin ?? 0) * PAGE_KB),
    so: rate((cur.vm.pswpout ?? 0) * PAGE_KB),
    bi: rate(cur.vm.pgpgin ?? 0),
    bo: rate(cur.vm.pgpgout ?? 0),
    in: rate(cur.stat.intr),
    cs: rate(cur.stat.ctxt),
  };
}

/** One vmstat line: rates over `seconds` between two samples (from zero for the since-boot line). */
export function vmstatLine(prev: VmstatSample | null, cur: VmstatSample, seconds: number): VmstatLine {
  const d = (f: (s: VmstatSample) => number) => f(cur) - (prev ? f(prev) : 0);
  const rate = (v: number) => (seconds > 0 ? Math.round(v / seconds) : 0);
  const c = (s: VmstatSample) => s.stat.cpu;
  const user = d((s) => c(s).user + c(s).nice);
  const sys = d((s) => c(s).system + c(s).irq + c(s).softirq);
  const idle = d((s) => c(s).idle);
  const wa = d((s) => c(s).iowait);
  const st = d((s) => c(s).steal);
  const total = user + sys + idle + wa + st || 1;
  const pct = (v: number) => Math.round((100 * v) / total);
  const m = cur.meminfo;
  return {
    r: cur.stat.running,
    b: cur.stat.blocked,
    swpd: (m.SwapTotal ?? 0) - (m.SwapFree ?? 0),
    free: m.MemFree ?? 0,
    buff: m.Buffers ?? 0,
    cache: (m.Cached ?? 0) + (m.SReclaimable ?? 0),
    si: rate(d((s) => s.vm.pswpin ?? 0) * PAGE_KB),
    so: rate(d((s) => s.vm.pswpout ?? 0) * PAGE_KB),
    bi: rate(d((s) => s.vm.pgpgin ?? 0)),
    bo: rate(d((s) => s.vm.pgpgout ?? 0)),
    in: rate(d((s) => s.stat.intr)),
    cs: rate(d((s) => s.stat.ctxt)),
    us: pct(user),
    sy: pct(sys),
    id: pct(idle),
    wa: pct(wa),
    st: pct(st),
  };
}

const WIDTHS: [keyof VmstatLine, number][] = [
  ['r', 2], ['b', 2], ['swpd', 6], ['free', 6], ['buff', 6], ['cache', 6], ['si', 4], ['so', 4],
  ['bi', 5], ['bo', 5], ['in', 4], ['cs', 4], ['us', 2], ['sy', 2], ['id', 2], ['wa', 2], ['st', 2],
];

export const VMSTAT_HEADER = [
  'procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu-----',
  ' r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st',
];

/** vmstat's line: fixed minimum widths, a wider number pushes the rest right (as procps does). */
export function formatVmstatLine(l: VmstatLine): string {
  return WIDTHS.map(([k, w]) => String(l[k]).padStart(w)).join(' ');
}

export const tool: Tool<CommonOptions, [number?, number?]> = {
  name: 'vmstat',
  summary: 'memory, swap, I/O and CPU statistics per interval; first line since boot (vmstat)',
  configure(cmd) {
    addInterval(addCommonOptions(cmd, ['json']));
    cmd.addHelpText(
      'after',
      '\nMemory columns (swpd free buff cache) in kB, the current state; si/so (swapped in/out) and\n' +
        'bi/bo (block I/O) in kB/s; in/cs per second; CPU columns in % of time. Without an interval:\n' +
        'the since-boot line only. As procps: COUNT lines in all, the since-boot line among them, and\n' +
        'its rates divided by the CPU time of all CPUs since boot (so they read lower than per second\n' +
        'of uptime by the number of CPUs).\n' +
        examples([
          ['memscope vmstat 1', 'a line every second until Ctrl-C'],
          ['memscope vmstat 1 5', 'the since-boot line and four one-second lines'],
          ['memscope vmstat --json 1 3', 'JSON lines, with the interval measured in seconds'],
        ]),
    );
  },
  async run(opts: CommonOptions, [interval, count]: [number?, number?]) {
    const print = (l: VmstatLine, seconds: number, sinceBoot: boolean) => {
      if (opts.json) printJson({ ...l, seconds: Math.round(seconds * 1e6) / 1e6, sinceBoot });
      else process.stdout.write(formatVmstatLine(l) + '\n');
    };
    if (!opts.json) process.stdout.write(VMSTAT_HEADER.join('\n') + '\n');
    const first = sampleVmstat();
    print(sinceBootLine(first), cpuTicks(first) / HZ, true);
    if (!interval || count === 1) return;
    await runIntervals<VmstatSample>({
      interval,
      count: count === undefined ? undefined : count - 1,
      sample: sampleVmstat,
      line: (prev, cur, s) => print(vmstatLine(prev, cur, s), s, false),
    });
  },
};
