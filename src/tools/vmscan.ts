// SPDX-License-Identifier: Apache-2.0
// vmscan: the book's vmscan.bt. Per interval: milliseconds spent in shrink_slab, direct reclaim and
// memory-cgroup reclaim (totals across CPUs), kswapd wakeups and page writes; on exit, log2
// histograms of the per-event times, and with --by-shrinker shrink_slab time per shrinker function.
import { addCommonOptions, addInterval, CommonOptions } from './options';
import type { BpfObject } from '../engine/bpf-object';
import { runTrace } from '../engine/session';
import { ProbeGroup, tracepointGroup } from '../engine/sources';
import { eachEntry, struct } from '../engine/struct';
import { renderLog2 } from '../render/histogram';
import { printJson } from '../render/json';
import { clock, Column, formatHeader, formatRow, formatTable } from '../render/table';
import { formatFrame } from '../core/frames';
import { Symbolizer } from '../symbols/symbolizer';
import type { VmscanHistogramRecord, VmscanIntervalRecord } from '../core/records';
import { examples, Tool } from './tool';

// slots of the BPF totals map (enum in bpf/vmscan.bpf.c)
const T = { slabNs: 0, directNs: 1, memcgNs: 2, slabN: 3, directN: 4, memcgN: 5, kswapd: 6, writepage: 7 } as const;
const NTOTALS = 8;
const NBUCKETS = 64;
const KINDS = ['shrink_slab_ns', 'direct_reclaim_ns', 'memcg_reclaim_ns'] as const;
const HEADER_EVERY = 20;

const COLUMNS: Column[] = [
  { header: 'TIME', width: 10 },
  { header: 'S-SLABms', width: 10, right: true },
  { header: 'D-RECLAIMms', width: 12, right: true },
  { header: 'M-RECLAIMms', width: 12, right: true },
  { header: 'KSWAPD', width: 6, right: true },
  { header: 'WRITEPAGE', width: 9, right: true },
];

const U64_KEY = struct([['fn', 'addr']] as const);
const SHRINKER_STAT = struct([
  ['ns', 'u64'],
  ['calls', 'u64'],
  ['freed', 'u64'],
] as const, { c: 'shrinker_stat', bpf: 'vmscan' });

/** Each slot summed over CPUs. */
export function readTotals(obj: BpfObject): number[] {
  return obj.slots('totals');
}

export function readHistograms(obj: BpfObject): number[][] {
  const all = obj.slots('hists');
  return KINDS.map((_, i) => all.slice(i * NBUCKETS, (i + 1) * NBUCKETS));
}

export interface ShrinkerRow {
  shrinker: string;
  addr: bigint;
  calls: number;
  ms: number;
  freed: number;
}

function readShrinkers(obj: BpfObject, symbolizer: Symbolizer): ShrinkerRow[] {
  const rows: ShrinkerRow[] = [];
  for (const [k, v] of eachEntry(obj.entries('shrinkers'), U64_KEY)) {
    const s = SHRINKER_STAT.decode(v);
    const [frame] = symbolizer.kernel([k.fn]);
    rows.push({ shrinker: formatFrame(frame, { offset: false, module: frame.module !== 'kernel' }), addr: k.fn, calls: s.calls, ms: s.ns / 1e6, freed: s.freed });
  }
  return rows.sort((a, b) => b.ms - a.ms || b.calls - a.calls);
}

export function groups(): ProbeGroup[] {
  const pair = (what: string, event: string, btfProg: string, tpProg: string) => tracepointGroup(what, 'vmscan', event, btfProg, tpProg);
  return [
    pair('shrink_slab starts', 'mm_shrink_slab_start', 'vs_slab_start_btf', 'vs_slab_start_tp'),
    pair('shrink_slab ends', 'mm_shrink_slab_end', 'vs_slab_end_btf', 'vs_slab_end_tp'),
    pair('direct reclaim starts', 'mm_vmscan_direct_reclaim_begin', 'vs_direct_begin_btf', 'vs_direct_begin_tp'),
    pair('direct reclaim ends', 'mm_vmscan_direct_reclaim_end', 'vs_direct_end_btf', 'vs_direct_end_tp'),
    pair('memcg reclaim starts', 'mm_vmscan_memcg_reclaim_begin', 'vs_memcg_begin_btf', 'vs_memcg_begin_tp'),
    pair('memcg reclaim ends', 'mm_vmscan_memcg_reclaim_end', 'vs_memcg_end_btf', 'vs_memcg_end_tp'),
    pair('kswapd wakeups', 'mm_vmscan_wakeup_kswapd', 'vs_kswapd_btf', 'vs_kswapd_tp'),
    {
      what: 'page writes by reclaim',
      sources: [
        { name: 'tp_btf mm_vmscan_write_folio', programs: ['vs_write_btf'], requires: [{ btf: 'mm_vmscan_write_folio' }] },
        { name: 'tracepoint vmscan/mm_vmscan_write_folio', programs: ['vs_write_tp'], requires: [{ tracepoint: 'vmscan/mm_vmscan_write_folio' }] },
        { name: 'tracepoint vmscan/mm_vmscan_writepage', programs: ['vs_writepage_tp'], requires: [{ tracepoint: 'vmscan/mm_vmscan_writepage' }] },
      ],
    },
  ];
}

type VmscanOptions = CommonOptions & { byShrinker?: boolean };

export const tool: Tool<VmscanOptions, [number?, number?]> = {
  name: 'vmscan',
  summary: 'time in shrink_slab, direct and memcg reclaim, kswapd wakeups, page writes (per second)',
  configure(cmd) {
    addInterval(addCommonOptions(cmd, ['json', 'cgroup']));
    cmd.option('--by-shrinker', 'on exit, also show shrink_slab time by shrinker function');
    cmd.addHelpText(
      'after',
      '\nColumns (per interval, default 1 s): S-SLABms total time in shrink_slab (kernel caches),\n' +
        'D-RECLAIMms total time in direct reclaim (allocations blocked while memory is freed),\n' +
        'M-RECLAIMms total time in memory-cgroup reclaim (a cgroup at its limit reclaiming its own\n' +
        'memory), KSWAPD kswapd wakeups, WRITEPAGE pages written by reclaim. Times are totals across\n' +
        'CPUs in milliseconds. Ctrl-C (or SIGTERM) prints the rest of the last interval as a last\n' +
        "row (in JSON, `seconds` is each row's length). On exit: log2 histograms of the per-event\n" +
        'times in nanoseconds.\n' +
        '--cgroup/--container keep the reclaim done by tasks in that cgroup or below (direct and\n' +
        "memcg reclaim, shrink_slab called from them), the kswapd wakeups they caused and the pages\n" +
        "their reclaim wrote, tested in BPF on the task; kswapd's own reclaim is left out.\n" +
        examples([
          ['memscope vmscan', 'one line per second until Ctrl-C, then histograms'],
          ['memscope vmscan 5 12', 'one line per 5 seconds, 12 lines'],
          ['memscope vmscan --by-shrinker', 'add shrink_slab time by shrinker function on exit'],
          ['memscope vmscan --json', 'one JSON object per interval, then the histograms'],
          ['memscope vmscan --container web', "the reclaim web's processes had to do"],
        ]),
    );
  },
  async run(opts: VmscanOptions, [interval, count]: [number?, number?]) {
    const every = interval ?? 1;
    const symbolizer = new Symbolizer();
    let prev = new Array<number>(NTOTALS).fill(0);
    let lines = 0;
    let prevAt = process.hrtime.bigint();
    const printRow = (obj: BpfObject) => {
      const cur = readTotals(obj);
      const d = cur.map((v, i) => v - prev[i]);
      const at = process.hrtime.bigint();
      const seconds = Number(at - prevAt) / 1e9;
      prev = cur;
      prevAt = at;
      const row: VmscanIntervalRecord = {
        time: clock(),
        seconds: Math.round(seconds * 1000) / 1000,
        s_slab_ms: d[T.slabNs] / 1e6,
        d_reclaim_ms: d[T.directNs] / 1e6,
        m_reclaim_ms: d[T.memcgNs] / 1e6,
        kswapd: d[T.kswapd],
        writepage: d[T.writepage],
        s_slab_events: d[T.slabN],
        d_reclaim_events: d[T.directN],
        m_reclaim_events: d[T.memcgN],
      };
      if (opts.json) return printJson(row);
      const out: string[] = [];
      if (lines % HEADER_EVERY === 0) out.push(formatHeader(COLUMNS));
      lines++;
      const ms = (v: number) => Math.floor(v); // whole milliseconds, as the book's vmscan.bt prints them
      out.push(formatRow(COLUMNS, [row.time, ms(row.s_slab_ms), ms(row.d_reclaim_ms), ms(row.m_reclaim_ms), row.kswapd, row.writepage]));
      process.stdout.write(out.join('\n') + '\n');
    };
    await runTrace({
      bpf: 'vmscan',
      opts,
      interval: every,
      count,
      consts: { by_shrinker: opts.byShrinker ?? false },
      banner: 'Tracing vmscan (reclaim)',
      groups: groups(),
      attach() {
        prevAt = process.hrtime.bigint(); // the first row's seconds count from attach
      },
      tick(obj) {
        printRow(obj);
      },
      finish(obj, reason) {
        // the rest of the last interval (after Ctrl-C, SIGTERM or a duration): reclaim in it is
        // in the histograms below, so it belongs in a row too
        if (reason !== 'count') printRow(obj);
        const hists = readHistograms(obj);
        const shrinkers = opts.byShrinker ? readShrinkers(obj, symbolizer) : [];
        if (opts.json) {
          hists.forEach((h, i) => {
            const buckets = h
              .map((count, b) => ({ min: b === 0 ? 0 : 2 ** (b - 1), max: b === 0 ? 1 : 2 ** b, count }))
              .filter((x) => x.count > 0);
            if (buckets.length) printJson({ histogram: KINDS[i], buckets } satisfies VmscanHistogramRecord);
          });
          for (const s of shrinkers) printJson(s);
          return;
        }
        const out: string[] = [];
        hists.forEach((h, i) => {
          const lines = renderLog2(h);
          if (lines.length) out.push('', `@${KINDS[i]}:`, ...lines);
        });
        if (opts.byShrinker) {
          out.push('');
          if (shrinkers.length === 0) out.push('No shrink_slab calls were traced.');
          else
            out.push(
              ...formatTable(
                ['SHRINKER', 'CALLS', 'TOTALms', 'AVGus', 'FREED'],
                shrinkers.map((s) => [s.shrinker, s.calls, s.ms.toFixed(3), ((s.ms * 1000) / s.calls).toFixed(1), s.freed]),
                [false, true, true, true, true],
              ),
            );
        }
        if (out.length) process.stdout.write(out.join('\n') + '\n');
      },
    });
  },
};
