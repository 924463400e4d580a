// SPDX-License-Identifier: Apache-2.0
// compaction: time spent in page compaction (the chapter's exercise), from
// compaction:mm_compaction_begin to mm_compaction_end: one line per compact_zone() run with its
// latency, and a log2 histogram of latencies on exit.
import { addCommonOptions, addDuration, CommonOptions } from './options';
import { formatEventTime, ktimeToDate } from '../engine/clock';
import { runTrace } from '../engine/session';
import { struct } from '../engine/struct';
import { renderLog2 } from '../render/histogram';
import { printJson } from '../render/json';
import { examples, Tool } from './tool';
import type { ProbeGroup } from '../engine/sources';
import { escapeText } from '../core/escape';
import { ContainerColumn, CONTAINER_WIDTH } from './_container-column';
import type { BpfObject } from '../engine/bpf-object';

export const EVENT = struct([
  ['ts', 'u64'],
  ['lat_ns', 'u64'],
  ['zone_start', 'u64'],
  ['zone_end', 'u64'],
  ['tgid', 'u32'],
  ['tid', 'u32'],
  ['status', 's32'],
  ['sync', 'u32'],
  ['comm', 'char[16]'],
] as const, { c: 'compaction_event', bpf: 'compaction' });

/** enum compact_result, as the mm_compaction_end format prints it. */
const STATUS: Record<number, string> = {
  0: 'not_suitable_zone',
  1: 'skipped',
  2: 'deferred',
  3: 'no_suitable_page',
  4: 'continue',
  5: 'complete',
  6: 'partial_skipped',
  7: 'contended',
  8: 'success',
};

/** Compaction begin/end events, in preference order (also loaded by memscope agent) */
export const compactionGroups: ProbeGroup[] = [
  {
    what: 'compaction begin and end',
    sources: [
      {
        name: 'tp_btf mm_compaction_begin, mm_compaction_end',
        programs: ['compaction_begin_btf', 'compaction_end_btf'],
        requires: [{ btf: 'mm_compaction_begin' }, { btf: 'mm_compaction_end' }],
      },
      {
        name: 'tracepoints compaction/mm_compaction_begin, mm_compaction_end',
        programs: ['compaction_begin_tp', 'compaction_end_tp'],
        requires: [{ tracepoint: 'compaction/mm_compaction_begin' }, { tracepoint: 'compaction/mm_compaction_end' }],
      },
    ],
  },
];

/** The kernel's log2 histogram of run times in microseconds (slot i: [2^(i-1), 2^i)) and the runs'
 * nanoseconds summed beside it, read together: the agent's histogram sum. */
export function readCompactionTotals(obj: BpfObject): { slots: number[]; totalNs: number } {
  const slots = obj.slots('hist_us');
  return { slots, totalNs: obj.slots('total_ns')[0] ?? 0 };
}

export const tool: Tool<CommonOptions, [number?]> = {
  name: 'compaction',
  summary: 'time spent in page compaction: per event and as a histogram',
  configure(cmd) {
    addDuration(addCommonOptions(cmd, ['pid', 'command', 'timestamp', 'json']));
    cmd.addHelpText(
      'after',
      '\nOne line per compaction of a zone (compact_zone(): direct compaction by an allocating task,\n' +
        'kcompactd in the background, or a write to /proc/sys/vm/compact_memory), then a histogram.\n' +
        'CONTAINER is the compacting process\'s container ("-" for the host and kcompactd; JSON:\n' +
        'container, null for the host).\n' +
        examples([
          ['memscope compaction -T', 'every compaction with its time, until Ctrl-C'],
          ['memscope compaction 60', 'for a minute'],
          ['memscope compaction --json -p 181', 'compactions run by PID 181 (direct compaction), as JSON'],
        ]),
    );
  },
  async run(opts: CommonOptions, [duration]: [number?]) {
    const info = opts.json ? process.stderr : process.stdout;
    let n = 0;
    let totalNs = 0;
    const containers = new ContainerColumn();
    await runTrace({
      kernelThreads: true, // kernel events: a kernel thread may be the -p target
      bpf: 'compaction',
      opts,
      duration,
      banner: 'Tracing page compaction',
      groups: compactionGroups,
      configure: (obj) => containers.configure(obj),
      setup(obj) {
        if (!opts.json) {
          process.stdout.write(
            `${opts.timestamp ? 'TIME         ' : ''}${'PID'.padEnd(7)} ${'COMM'.padEnd(16)} ${'CONTAINER'.padEnd(CONTAINER_WIDTH)} ${'ZONE_PFNS'.padEnd(21)} ${'MODE'.padEnd(5)} ${'STATUS'.padEnd(17)} ${'LAT(ms)'.padStart(9)}\n`,
          );
        }
        obj.onRecords('events', (recs) => {
          for (const r of recs) {
            const e = EVENT.decode(r);
            n++;
            totalNs += e.lat_ns;
            const status = STATUS[e.status] ?? String(e.status);
            const mode = e.sync ? 'sync' : 'async';
            const time = ktimeToDate(e.ts);
            if (opts.json) {
              printJson({
                ...(opts.timestamp ? { time: time.toISOString() } : {}),
                pid: e.tgid,
                tid: e.tid,
                comm: e.comm,
                container: containers.json(e.tgid),
                zone_start: e.zone_start,
                zone_end: e.zone_end,
                mode,
                status,
                lat_us: Math.round(e.lat_ns / 1000),
              });
            } else {
              const zone = `0x${e.zone_start.toString(16)}-0x${e.zone_end.toString(16)}`;
              process.stdout.write(
                `${opts.timestamp ? formatEventTime(time) + ' ' : ''}${String(e.tgid).padEnd(7)} ${escapeText(e.comm).padEnd(16)} ${containers.text(e.tgid).padEnd(CONTAINER_WIDTH)} ${zone.padEnd(21)} ${mode.padEnd(5)} ${status.padEnd(17)} ${(e.lat_ns / 1e6).toFixed(3).padStart(9)}\n`,
              );
            }
          }
        });
      },
      finish(obj) {
        const buckets = readCompactionTotals(obj).slots;
        const hist: { low: number; high: number; count: number }[] = [];
        buckets.forEach((count, i) => count && hist.push({ low: i ? 2 ** (i - 1) : 0, high: i ? 2 ** i : 1, count }));
        if (opts.json) {
          printJson({ summary: true, compactions: n, total_us: Math.round(totalNs / 1000), hist_us: hist });
          return;
        }
        info.write(`\n${n} compactions, ${(totalNs / 1e6).toFixed(3)} ms in total\n`);
        if (hist.length) info.write(`\n@usecs:\n${renderLog2(buckets.map((c) => c ?? 0)).join('\n')}\n`);
      },
    });
  },
};
