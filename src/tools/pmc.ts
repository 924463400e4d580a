// SPDX-License-Identifier: Apache-2.0
// pmc: LLC loads and misses system-wide per interval, as `perf stat -e LLC-loads,LLC-load-misses -a -I`
// prints them; where the machine has no hardware PMU (most VMs), one line saying so and the
// software events that do exist (page faults, minor and major).
import { addCommonOptions, addInterval, CommonOptions } from './options';
import { LLC_LOAD_MISSES, LLC_LOADS, PERF_TYPE_HW_CACHE, PERF_TYPE_SOFTWARE, SystemCounter } from '../engine/counters';
import { MemscopeError } from '../core/errors';
import { readKmsg } from '../procfs/kmsg';
import { PERF_COUNT_SW_PAGE_FAULTS, PERF_COUNT_SW_PAGE_FAULTS_MAJ, PERF_COUNT_SW_PAGE_FAULTS_MIN } from '../engine/sources';
import { printJson } from '../render/json';
import type { PmcCountsRecord, PmcHeaderRecord } from '../core/records';
import { runIntervals } from './_interval';
import { examples, Tool } from './tool';

interface Event {
  name: string;
  counter: SystemCounter;
}

/** Why the hardware counters are missing, in the kernel's words when it said so at boot. */
function pmuReason(errnoName: string): string {
  let said = '';
  try {
    said = readKmsg().find((l) => /Performance Events: .*(PMU not available|no PMU)/i.test(l.text))?.text ?? '';
  } catch {
    /* the log may be unreadable; the errno is enough */
  }
  return `perf_event_open(LLC-loads) failed with ${errnoName}${said ? `; the kernel said at boot: "${said}"` : ''}`;
}

function fmtCount(n: number): string {
  return n.toLocaleString('en-US');
}

export const tool: Tool<CommonOptions, [number?, number?]> = {
  name: 'pmc',
  summary: 'LLC loads, misses and miss ratio system-wide (perf stat -e LLC-loads,LLC-load-misses -a -I)',
  configure(cmd) {
    addInterval(addCommonOptions(cmd, ['json']));
    cmd.addHelpText(
      'after',
      '\nLLC misses are one measure of main-memory I/O: a load that misses the last-level cache goes\n' +
        'to DRAM. Without an interval: counts until Ctrl-C, then the totals. On machines without a\n' +
        'hardware PMU (virtual machines often lack one) the LLC counters cannot exist: pmc says so and\n' +
        'counts the software events page-faults, minor-faults and major-faults instead.\n' +
        examples([
          ['memscope pmc 1', 'every second until Ctrl-C'],
          ['memscope pmc 1 10', 'ten one-second intervals'],
          ['memscope pmc --json 1 5', 'JSON lines per interval'],
        ]),
    );
  },
  async run(opts: CommonOptions, [interval, count]: [number?, number?]) {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new MemscopeError('must run as root (system-wide perf counters need CAP_PERFMON): try sudo memscope pmc');
    }
    const events: Event[] = [];
    let pmu = true;
    let reason: string | undefined;
    try {
      events.push({ name: 'LLC-loads', counter: SystemCounter.open(PERF_TYPE_HW_CACHE, LLC_LOADS) });
      events.push({ name: 'LLC-load-misses', counter: SystemCounter.open(PERF_TYPE_HW_CACHE, LLC_LOAD_MISSES) });
    } catch (e) {
      events.splice(0).forEach((ev) => ev.counter.close());
      pmu = false;
      reason = pmuReason((e as { errnoName?: string }).errnoName ?? 'an error');
    }
    try {
      events.push({ name: 'page-faults', counter: SystemCounter.open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS) });
      events.push({ name: 'minor-faults', counter: SystemCounter.open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN) });
      events.push({ name: 'major-faults', counter: SystemCounter.open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ) });
      const begin = process.hrtime.bigint();
      if (opts.json) printJson({ pmu, ...(reason ? { reason } : {}), events: events.map((e) => e.name) } satisfies PmcHeaderRecord);
      else if (!pmu) process.stdout.write(`No hardware PMU: LLC-loads and LLC-load-misses cannot be counted here (${reason}). Software events:\n`);
      if (!opts.json) process.stdout.write('#           time             counts unit events\n');

      const sample = () => events.map((e) => e.counter.read());
      const print = (prev: number[], cur: number[], seconds: number, label: number | 'total') => {
        const d = cur.map((v, i) => v - prev[i]);
        const byName = Object.fromEntries(events.map((e, i) => [e.name, d[i]]));
        const ratio = pmu && byName['LLC-loads'] ? (100 * byName['LLC-load-misses']) / byName['LLC-loads'] : undefined;
        if (opts.json) {
          printJson({ time: label, seconds: Math.round(seconds * 1e6) / 1e6, ...byName, ...(ratio !== undefined ? { 'miss%': Math.round(ratio * 100) / 100 } : {}) } satisfies PmcCountsRecord);
          return;
        }
        const t = label === 'total' ? 'total'.padStart(16) : label.toFixed(9).padStart(16);
        for (const [i, e] of events.entries()) {
          const note = e.name === 'LLC-load-misses' && ratio !== undefined ? `  #   ${ratio.toFixed(2)}% of all LL-cache hits` : '';
          process.stdout.write(`${t} ${fmtCount(d[i]).padStart(18)}      ${e.name}${note}\n`);
        }
      };
      const first = sample();
      if (!interval) {
        await runIntervals({ interval: 1e6, sample, line: () => {} });
        print(first, sample(), Number(process.hrtime.bigint() - begin) / 1e9, 'total');
        return;
      }
      await runIntervals({
        interval,
        count,
        sample,
        line: (prev, cur, s) => print(prev, cur, s, Number(process.hrtime.bigint() - begin) / 1e9),
      });
    } finally {
      for (const e of events) e.counter.close();
    }
  },
};
