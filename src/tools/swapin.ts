// swapin: pages swapped in, by process, per interval (the book's swapin.bt), in pages and bytes.
import { addCommonOptions, addInterval, CommonOptions } from '../cli/options';
import type { BpfObject } from '../engine/bpf-object';
import { runTrace } from '../engine/session';
import { eachEntry, struct } from '../engine/struct';
import { pageSizeKb } from '../procfs/pid';
import { printJson } from '../render/json';
import { clock, formatTable } from '../render/table';
import { examples, Tool } from './tool';

/** struct swapin_key (bpf/swapin.bpf.c). */
const SWAPIN_KEY = struct([
  ['pid', 'u32'],
  ['comm', 'char[16]'],
] as const);

export const tool: Tool = {
  name: 'swapin',
  summary: 'pages swapped in, by process, per interval',
  configure(cmd) {
    addInterval(addCommonOptions(cmd, ['pid', 'timestamp', 'json']));
    cmd.addHelpText(
      'after',
      '\nEvery interval (default 1 s), the processes that had pages read back from swap: COMM, PID,\n' +
        'PAGES and BYTES. A swap-in is a page read from a swap device because the process touched\n' +
        'memory that had been swapped out: the cost of swapping that the process feels. Pages found\n' +
        'still in the swap cache need no read and are not counted (as in /proc/vmstat pswpin).\n' +
        'Event source: the memcg:count_memcg_events tracepoint (PSWPIN), tp_btf else classic.\n' +
        examples([
          ['memscope swapin', 'per second until Ctrl-C'],
          ['memscope swapin -T 5', 'every 5 seconds, with the time'],
          ['memscope swapin 10 6', 'every 10 seconds, 6 times'],
          ['memscope swapin --json', 'one JSON object per process and interval'],
        ]),
    );
  },
  async run(opts: CommonOptions, [interval, count]: [number?, number?]) {
    const pageBytes = pageSizeKb() * 1024;
    // cumulative counts stay in the map (a read-and-delete could lose a concurrent increment): each
    // report is the difference to the previous one
    const seen = new Map<string, number>();
    const report = (obj: BpfObject) => {
      const rows: { comm: string; pid: number; pages: number }[] = [];
      for (const [k, v] of eachEntry(obj.entries('swapins'), SWAPIN_KEY)) {
        const id = `${k.pid}\0${k.comm}`;
        const total = Number(v.readBigUInt64LE(0));
        const delta = total - (seen.get(id) ?? 0);
        seen.set(id, total);
        if (delta > 0) rows.push({ comm: k.comm, pid: k.pid, pages: delta });
      }
      rows.sort((a, b) => b.pages - a.pages || a.pid - b.pid);
      const time = clock();
      if (opts.json) {
        for (const r of rows) printJson({ time, comm: r.comm, pid: r.pid, pages: r.pages, bytes: r.pages * pageBytes });
        return;
      }
      const out: string[] = [];
      if (opts.timestamp) out.push(time);
      if (rows.length)
        out.push(...formatTable(['COMM', 'PID', 'PAGES', 'BYTES'], rows.map((r) => [r.comm, r.pid, r.pages, r.pages * pageBytes]), [false, false, true, true]));
      out.push('');
      process.stdout.write(out.join('\n') + '\n');
    };
    await runTrace({
      bpf: 'swapin',
      opts,
      interval: interval ?? 1,
      count,
      banner: 'Tracing swap-ins',
      groups: [
        {
          what: 'swap-ins',
          sources: [
            { name: 'tp_btf count_memcg_events (PSWPIN)', programs: ['swapin_memcg_btf'], requires: [{ btf: 'count_memcg_events' }] },
            {
              name: 'tracepoint memcg/count_memcg_events (PSWPIN)',
              programs: ['swapin_memcg_tp'],
              requires: [{ tracepoint: 'memcg/count_memcg_events' }],
            },
          ],
        },
      ],
      tick: report,
      // the rest of the last interval (after Ctrl-C or the target's exit)
      finish(obj, reason) {
        if (reason !== 'count') report(obj);
      },
    });
  },
};
