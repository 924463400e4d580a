// SPDX-License-Identifier: Apache-2.0
// paging: sar -B's columns from /proc/vmstat: pgpgin/s pgpgout/s fault/s majflt/s pgfree/s
// pgscank/s pgscand/s pgsteal/s %vmeff.
import { addCommonOptions, addInterval, CommonOptions } from './options';
import { readVmstat, uptimeSeconds, Vmstat } from '../procfs/vmstat';
import { printJson } from '../render/json';
import { clock } from '../render/table';
import { runIntervals } from './_interval';
import { examples, Tool } from './tool';

export interface PagingCounters {
  pgpgin: number;
  pgpgout: number;
  fault: number;
  majflt: number;
  pgfree: number;
  pgscank: number;
  pgscand: number;
  pgsteal: number;
}

const sum = (v: Vmstat, names: string[]) => names.reduce((s, n) => s + (v[n] ?? 0), 0);

/**
 * The counters sar -B reads. Scans and steals are summed over reclaimers (kswapd; direct,
 * khugepaged and proactive reclaim count as "direct"), not over the anon/file split, which
 * would count every page twice.
 */
export function pagingCounters(v: Vmstat): PagingCounters {
  return {
    pgpgin: v.pgpgin ?? 0,
    pgpgout: v.pgpgout ?? 0,
    fault: v.pgfault ?? 0,
    majflt: v.pgmajfault ?? 0,
    pgfree: v.pgfree ?? 0,
    pgscank: v.pgscan_kswapd ?? 0,
    pgscand: sum(v, ['pgscan_direct', 'pgscan_khugepaged', 'pgscan_proactive']),
    pgsteal: sum(v, ['pgsteal_kswapd', 'pgsteal_direct', 'pgsteal_khugepaged', 'pgsteal_proactive']),
  };
}

export interface PagingRates {
  'pgpgin/s': number;
  'pgpgout/s': number;
  'fault/s': number;
  'majflt/s': number;
  'pgfree/s': number;
  'pgscank/s': number;
  'pgscand/s': number;
  'pgsteal/s': number;
  '%vmeff': number;
}

export const PAGING_COLUMNS = ['pgpgin/s', 'pgpgout/s', 'fault/s', 'majflt/s', 'pgfree/s', 'pgscank/s', 'pgscand/s', 'pgsteal/s', '%vmeff'] as const;

export function pagingRates(prev: PagingCounters | null, cur: PagingCounters, seconds: number): { rates: PagingRates; delta: PagingCounters } {
  const delta = Object.fromEntries(Object.entries(cur).map(([k, v]) => [k, v - (prev ? prev[k as keyof PagingCounters] : 0)])) as unknown as PagingCounters;
  const r = (n: number) => (seconds > 0 ? Math.round((n / seconds) * 100) / 100 : 0);
  const scanned = delta.pgscank + delta.pgscand;
  return {
    delta,
    rates: {
      'pgpgin/s': r(delta.pgpgin),
      'pgpgout/s': r(delta.pgpgout),
      'fault/s': r(delta.fault),
      'majflt/s': r(delta.majflt),
      'pgfree/s': r(delta.pgfree),
      'pgscank/s': r(delta.pgscank),
      'pgscand/s': r(delta.pgscand),
      'pgsteal/s': r(delta.pgsteal),
      '%vmeff': scanned ? Math.round((10000 * delta.pgsteal) / scanned) / 100 : 0,
    },
  };
}

export function pagingHeader(label: string): string {
  return label.padEnd(11) + PAGING_COLUMNS.map((c) => c.padStart(10)).join('');
}

export function formatPagingLine(label: string, r: PagingRates): string {
  return label.padEnd(11) + PAGING_COLUMNS.map((c) => r[c].toFixed(2).padStart(10)).join('');
}

export const tool: Tool<CommonOptions, [number?, number?]> = {
  name: 'paging',
  summary: 'paging, page faults, page scanning and reclaim efficiency per interval (sar -B)',
  configure(cmd) {
    addInterval(addCommonOptions(cmd, ['json']));
    cmd.addHelpText(
      'after',
      '\npgpgin/pgpgout in kB/s; the others in pages/s. pgscank = scanned by kswapd, pgscand = scanned\n' +
        'directly by allocating tasks (and khugepaged/proactive reclaim); %vmeff = pgsteal/(pgscank+pgscand):\n' +
        'near 100% is healthy reclaim, low values with high scanning mean memory pressure. Without an\n' +
        'interval: one line of averages since boot.\n' +
        examples([
          ['memscope paging 1', 'every second until Ctrl-C, then the averages'],
          ['memscope paging 1 10', 'ten one-second lines and their average'],
          ['memscope paging --json 1 5', 'JSON lines with the rates and the raw counter deltas'],
        ]),
    );
  },
  async run(opts: CommonOptions, [interval, count]: [number?, number?]) {
    const emit = (label: string, prev: PagingCounters | null, cur: PagingCounters, seconds: number, extra: Record<string, unknown>) => {
      const { rates, delta } = pagingRates(prev, cur, seconds);
      if (opts.json) printJson({ time: new Date().toISOString(), ...extra, seconds: Math.round(seconds * 1e6) / 1e6, ...rates, delta });
      else process.stdout.write(formatPagingLine(label, rates) + '\n');
    };
    if (!interval) {
      if (!opts.json) process.stdout.write(pagingHeader('since boot') + '\n');
      emit('since boot', null, pagingCounters(readVmstat()), uptimeSeconds(), { sinceBoot: true });
      return;
    }
    if (!opts.json) process.stdout.write(pagingHeader(clock()) + '\n');
    const first = pagingCounters(readVmstat());
    // JSON starts with the since-boot record, as vmstat does: it also marks the start of the first interval
    if (opts.json) emit('since boot', null, first, uptimeSeconds(), { sinceBoot: true });
    const start = process.hrtime.bigint();
    let last = first;
    await runIntervals<PagingCounters>({
      interval,
      count,
      sample: () => pagingCounters(readVmstat()),
      line: (prev, cur, s) => {
        last = cur;
        emit(clock(), prev, cur, s, {});
      },
      end: () => {
        const s = Number(process.hrtime.bigint() - start) / 1e9;
        if (last !== first) emit('Average:', first, last, s, { average: true });
      },
    });
  },
};
