// SPDX-License-Identifier: Apache-2.0
// swapthrash: for pages swapped out and swapped back in, how long they were out, as a log2
// histogram per process: the measure of swap thrashing (the chapter's unsolved exercise). The
// method and its limits are in bpf/swapthrash.bpf.c and the README.
import { addCommonOptions, addDuration, CommonOptions } from './options';
import { runTrace } from '../engine/session';
import { eachEntry, struct } from '../engine/struct';
import { renderLog2 } from '../render/histogram';
import { printJson } from '../render/json';
import { formatTable } from '../render/table';
import { examples, Tool } from './tool';
import { escapeText } from '../core/escape';
import { ContainerColumn } from './_container-column';

const HIST_KEY = struct([
  ['tgid', 'u32'],
  ['bucket', 'u32'],
  ['comm', 'char[16]'],
] as const, { c: 'hist_key', bpf: 'swapthrash' });
const PROC_KEY = struct([
  ['tgid', 'u32'],
  ['comm', 'char[16]'],
] as const, { c: 'proc_key', bpf: 'swapthrash' });
const PROC_STATS = struct([
  ['matched', 'u64'],
  ['total_ns', 'u64'],
  ['pswpin', 'u64'],
] as const, { c: 'proc_stats', bpf: 'swapthrash' });

export const tool: Tool<CommonOptions, [number?]> = {
  name: 'swapthrash',
  summary: 'time pages spent on swap before being swapped back in, histogram per process',
  configure(cmd) {
    addDuration(addCommonOptions(cmd, ['pid', 'command', 'json']));
    cmd.addHelpText(
      'after',
      '\nA page is followed by its swap entry from the moment reclaim writes it to swap\n' +
        '(vmscan:mm_vmscan_write_folio) to the moment it is read back into memory (the swap-cache folio\n' +
        'entering the LRU, pagemap:mm_lru_insertion), and the time in between is charged to the process\n' +
        'that swapped it in. Short times for many pages mean thrashing: the working set does not fit.\n' +
        'Pages swapped out before memscope started are not seen. PSWPIN is the pages read from swap.\n' +
        'CONTAINER is the process\'s container ("-" for the host; JSON: container, null for the host).\n' +
        examples([
          ['memscope swapthrash', 'all processes, until Ctrl-C'],
          ['memscope swapthrash -p 181 30', 'PID 181 for 30 seconds'],
          ['memscope swapthrash --json -c ./bench', 'a command from its start, as JSON'],
        ]),
    );
  },
  async run(opts: CommonOptions, [duration]: [number?]) {
    const containers = new ContainerColumn();
    await runTrace({
      bpf: 'swapthrash',
      opts,
      duration,
      banner: 'Tracing swap-out to swap-in times',
      groups: [
        {
          what: 'swap-outs (reclaim writing a swap-cache folio)',
          sources: [{ name: 'tp_btf mm_vmscan_write_folio', programs: ['thrash_swap_out'], requires: [{ btf: 'mm_vmscan_write_folio' }] }],
        },
        {
          what: 'swap-ins (a swap-cache folio entering the LRU)',
          sources: [{ name: 'tp_btf mm_lru_insertion', programs: ['thrash_swap_in'], requires: [{ btf: 'mm_lru_insertion' }] }],
        },
        {
          what: 'pages read from swap (PSWPIN)',
          sources: [
            { name: 'tp_btf count_memcg_events', programs: ['thrash_pswpin_btf'], requires: [{ btf: 'count_memcg_events' }] },
            { name: 'tracepoint memcg/count_memcg_events', programs: ['thrash_pswpin_tp'], requires: [{ tracepoint: 'memcg/count_memcg_events' }] },
          ],
        },
      ],
      configure: (obj) => containers.configure(obj),
      finish(obj) {
        const hists = new Map<number, Map<number, number>>();
        for (const [k, v] of eachEntry(obj.entries('thrash_hist'), HIST_KEY)) {
          const h = hists.get(k.tgid) ?? new Map<number, number>();
          h.set(k.bucket, (h.get(k.bucket) ?? 0) + Number(v.readBigUInt64LE(0)));
          hists.set(k.tgid, h);
        }
        const procs = new Map<number, { comm: string; matched: number; total_ns: number; pswpin: number }>();
        for (const [k, v] of eachEntry(obj.entries('procs'), PROC_KEY)) {
          const s = PROC_STATS.decode(v);
          const p = procs.get(k.tgid) ?? { comm: k.comm, matched: 0, total_ns: 0, pswpin: 0 };
          p.matched += s.matched;
          p.total_ns += s.total_ns;
          p.pswpin += s.pswpin;
          procs.set(k.tgid, p);
        }
        const swapOuts = Number(obj.readGlobalU64('swap_outs'));
        const order = [...procs.entries()].sort((a, b) => a[1].matched - b[1].matched);
        if (opts.json) {
          for (const [pid, p] of order) {
            const hist = [...(hists.get(pid) ?? new Map()).entries()].sort((a, b) => a[0] - b[0]).map(([i, count]) => ({ low: i ? 2 ** (i - 1) : 0, high: i ? 2 ** i : 1, count }));
            printJson({ pid, comm: p.comm, container: containers.json(pid), swapped_in: p.matched, pswpin: p.pswpin, avg_out_us: p.matched ? Math.round(p.total_ns / p.matched / 1000) : 0, hist_us: hist });
          }
          printJson({ summary: true, swap_outs_seen: swapOuts });
          return;
        }
        const out: string[] = [''];
        for (const [pid, p] of order) {
          const h = hists.get(pid);
          if (!h || !p.matched) continue;
          out.push(`@swap_out_usecs[${escapeText(p.comm)}, ${pid}, ${containers.text(pid)}]: ${p.matched} pages back from swap, average ${(p.total_ns / p.matched / 1e6).toFixed(1)} ms out`);
          out.push(...renderLog2(h), '');
        }
        out.push(`${swapOuts} swap-outs seen (all processes)`);
        if (order.length) {
          out.push(
            '',
            ...formatTable(
              ['PID', 'COMM', 'CONTAINER', 'SWAPPED_IN', 'PSWPIN', 'AVG_OUT_ms'],
              order.map(([pid, p]) => [pid, p.comm, containers.text(pid), p.matched, p.pswpin, p.matched ? (p.total_ns / p.matched / 1e6).toFixed(1) : '-']),
              [true, false, false, true, true, true],
            ),
          );
        }
        process.stdout.write(out.join('\n') + '\n');
      },
    });
  },
};
