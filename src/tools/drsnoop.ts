// drsnoop: one line per reclaim a process had to do itself before its allocation could go on, with
// its latency and the pages it reclaimed (the book's drsnoop). Besides direct reclaim (the system
// is short of free pages) it shows memory-cgroup reclaim (the process's cgroup is at its limit),
// which is how memory pressure reaches processes inside containers.
import { addCommonOptions, addDuration, CommonOptions } from './options';
import { formatEventTime, ktimeToDate } from '../engine/clock';
import { runTrace } from '../engine/session';
import { ProbeGroup, tracepointGroup } from '../engine/sources';
import { struct } from '../engine/struct';
import { printJson } from '../render/json';
import { Column, formatHeader, formatRow } from '../render/table';
import { examples, Tool } from './tool';

/** struct reclaim_event (bpf/drsnoop.bpf.c). */
const RECLAIM_EVENT = struct([
  ['ts', 'u64'],
  ['lat_ns', 'u64'],
  ['nr_reclaimed', 'u64'],
  ['pid', 'u32'],
  ['tid', 'u32'],
  ['kind', 'u32'],
  ['pad', 'u32'],
  ['comm', 'char[16]'],
] as const);

const KIND: Record<number, string> = { 1: 'direct', 2: 'memcg' };

function groups(): ProbeGroup[] {
  const pair = (what: string, event: string, btfProg: string, tpProg: string) => tracepointGroup(what, 'vmscan', event, btfProg, tpProg);
  return [
    pair('direct reclaim starts', 'mm_vmscan_direct_reclaim_begin', 'dr_direct_begin_btf', 'dr_direct_begin_tp'),
    pair('direct reclaim ends', 'mm_vmscan_direct_reclaim_end', 'dr_direct_end_btf', 'dr_direct_end_tp'),
    pair('memcg reclaim starts', 'mm_vmscan_memcg_reclaim_begin', 'dr_memcg_begin_btf', 'dr_memcg_begin_tp'),
    pair('memcg reclaim ends', 'mm_vmscan_memcg_reclaim_end', 'dr_memcg_end_btf', 'dr_memcg_end_tp'),
  ];
}

export const tool: Tool<CommonOptions, [number?]> = {
  name: 'drsnoop',
  summary: 'one line per direct or memory-cgroup reclaim: process, latency, pages reclaimed',
  configure(cmd) {
    addDuration(addCommonOptions(cmd, ['pid', 'command', 'timestamp', 'json']));
    cmd.addHelpText(
      'after',
      '\nLAT(ms) is the time the process spent reclaiming; PAGES the pages that reclaim freed.\n' +
        'KIND is "direct" for direct reclaim (the system is short of free memory) or "memcg" for\n' +
        "reclaim because the process's memory cgroup hit its limit (containers). -T adds TIME(s),\n" +
        'seconds since the first event, as BCC prints it.\n' +
        examples([
          ['memscope drsnoop', 'every direct and memcg reclaim until Ctrl-C'],
          ['memscope drsnoop -T', 'with a time column'],
          ['memscope drsnoop -p 181', 'reclaims of PID 181 only'],
          ['memscope drsnoop --json 60', 'JSON lines for a minute'],
        ]),
    );
  },
  async run(opts: CommonOptions, [duration]: [number?]) {
    const columns: Column[] = [
      ...(opts.timestamp ? [{ header: 'TIME(s)', width: 13 }] : []),
      { header: 'COMM', width: 14 },
      { header: 'PID', width: 6 },
      { header: 'LAT(ms)', width: 8, right: true },
      { header: 'PAGES', width: 5, right: true },
      { header: 'KIND', width: 6 },
    ];
    let first: number | null = null;
    await runTrace({
      bpf: 'drsnoop',
      opts,
      duration,
      groups: groups(),
      banner: 'Tracing direct and memcg reclaim',
      setup(obj) {
        if (!opts.json) process.stdout.write(formatHeader(columns) + '\n');
        obj.onRecords('reclaim_events', (recs) => {
          const out: string[] = [];
          for (const r of recs) {
            const e = RECLAIM_EVENT.decode(r);
            first ??= e.ts;
            const rel = (e.ts - first) / 1e9;
            const latMs = e.lat_ns / 1e6;
            const kind = KIND[e.kind] ?? String(e.kind);
            if (opts.json) {
              printJson({
                time: ktimeToDate(e.ts).toISOString(),
                clock: formatEventTime(ktimeToDate(e.ts)),
                time_s: rel,
                comm: e.comm,
                pid: e.pid,
                tid: e.tid,
                lat_ms: latMs,
                pages: e.nr_reclaimed,
                kind,
              });
              continue;
            }
            out.push(
              formatRow(columns, [
                ...(opts.timestamp ? [rel.toFixed(9)] : []),
                e.comm.slice(0, 14),
                e.pid,
                latMs.toFixed(2),
                e.nr_reclaimed,
                kind,
              ]),
            );
          }
          if (out.length) process.stdout.write(out.join('\n') + '\n');
        });
      },
      finish() {},
    });
  },
};
