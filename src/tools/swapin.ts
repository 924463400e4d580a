// SPDX-License-Identifier: Apache-2.0
// swapin: pages swapped in, by process, per interval (the book's swapin.bt), in pages and bytes.
import { addCommonOptions, addInterval, CommonOptions } from './options';
import type { BpfObject } from '../engine/bpf-object';
import { runTrace } from '../engine/session';
import { eachEntry, struct } from '../engine/struct';
import { pageSizeKb } from '../procfs/pid';
import { printJson } from '../render/json';
import { clock, formatTable } from '../render/table';
import type { SwapinRecord } from '../core/records';
import { examples, Tool } from './tool';
import type { ProbeGroup } from '../engine/sources';
import { ContainerColumn } from './_container-column';

/** struct swapin_key (bpf/swapin.bpf.c). */
export const SWAPIN_KEY = struct([
  ['pid', 'u32'],
  ['zswap', 'u32'],
  ['comm', 'char[16]'],
] as const, { c: 'swapin_key', bpf: 'swapin' });

/** The swap-in event, in preference order (also loaded by memscope agent) */
export const swapinGroups: ProbeGroup[] = [
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
];

export const tool: Tool<CommonOptions, [number?, number?]> = {
  name: 'swapin',
  summary: 'pages swapped in, by process, per interval',
  configure(cmd) {
    addInterval(addCommonOptions(cmd, ['pid', 'timestamp', 'json']));
    cmd.addHelpText(
      'after',
      '\nEvery interval (default 1 s), headed by its time, the processes that had pages read back\n' +
        'from swap (or "(no swap-ins)"): COMM, PID, CONTAINER ("-" for a host process),\n' +
        'PAGES and BYTES. A swap-in is a page read from a swap device because the process touched\n' +
        'memory that had been swapped out: the cost of swapping that the process feels. Pages found\n' +
        'still in the swap cache need no read and are not counted (as in /proc/vmstat pswpin).\n' +
        'Pages brought back from zswap (compressed RAM) are included; JSON shows them as zswap_pages.\n' +
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
    const containers = new ContainerColumn();
    const report = (obj: BpfObject) => {
      const byProc = new Map<string, { comm: string; pid: number; pages: number; zswap: number }>();
      for (const [k, v] of eachEntry(obj.entries('swapins'), SWAPIN_KEY)) {
        const id = `${k.pid}\0${k.comm}`;
        const total = Number(v.readBigUInt64LE(0));
        const key = `${id}\0${k.zswap}`;
        const delta = total - (seen.get(key) ?? 0);
        seen.set(key, total);
        if (delta <= 0) continue;
        const row = byProc.get(id) ?? { comm: k.comm, pid: k.pid, pages: 0, zswap: 0 };
        row.pages += delta;
        if (k.zswap) row.zswap += delta;
        byProc.set(id, row);
      }
      const rows = [...byProc.values()];
      rows.sort((a, b) => b.pages - a.pages || a.pid - b.pid);
      const time = clock();
      if (opts.json) {
        for (const r of rows) printJson({ time, comm: r.comm, pid: r.pid, container: containers.json(r.pid), pages: r.pages, bytes: r.pages * pageBytes, zswap_pages: r.zswap } satisfies SwapinRecord);
        return;
      }
      // every interval is headed by its time, as ffaults, hfaults and vmgrowth do (BCC's swapin
      // prints the time too); an empty one says so instead of printing a bare blank line
      const out: string[] = ['', time];
      if (rows.length)
        out.push(
          ...formatTable(
            ['COMM', 'PID', 'CONTAINER', 'PAGES', 'BYTES'],
            rows.map((r) => [r.comm, r.pid, containers.text(r.pid), r.pages, r.pages * pageBytes]),
            [false, false, false, true, true],
          ),
        );
      else out.push('(no swap-ins)');
      process.stdout.write(out.join('\n') + '\n');
    };
    await runTrace({
      bpf: 'swapin',
      opts,
      interval: interval ?? 1,
      count,
      banner: 'Tracing swap-ins',
      groups: swapinGroups,
      configure: (obj) => containers.configure(obj),
      tick: report,
      // the rest of the last interval (after Ctrl-C or the target's exit)
      finish(obj, reason) {
        if (reason !== 'count') report(obj);
      },
    });
  },
};
