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
import { readVmstat } from '../procfs/vmstat';

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
  ['unseen', 'u64'],
  ['pswpin', 'u64'],
  ['swpin_zero', 'u64'],
  ['zswpin', 'u64'],
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
        'A swap-in that skips the swap cache (zram) is seen at its read instead (block:block_bio_queue).\n' +
        'Pages are counted, not folios, as the kernel\'s PSWPIN counts them: a large folio (mTHP)\n' +
        'swapped out or in whole counts each of its pages, each under its own swap entry.\n' +
        'A page only read after its swap-in stays on swap, and reclaim later drops it without a write:\n' +
        'its next time out starts at that drop (kmem:mm_page_free of the folio it came back in).\n' +
        'A page moved to a new folio by a migration (compaction) is followed to it, not counted again\n' +
        '(migrate:mm_migrate_pages_start .. mm_migrate_pages).\n' +
        'OUT_NOT_SEEN: swap-ins with no swap-out seen (out before memscope started, or a drop not seen).\n' +
        'The kernel\'s own swap-in counts, as a cross-check: PSWPIN (read from the device), SWPIN_ZERO\n' +
        '(a zero page, never written to the device: kernel 6.12+), ZSWPIN (from zswap); "-" where the\n' +
        'kernel has no such count.\n' +
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
          what: 'swap-ins that skip the swap cache (zram and other synchronous devices: a read of a swap-backed folio not in it)',
          sources: [{ name: 'tp_btf block_bio_queue', programs: ['thrash_swap_in_direct'], requires: [{ btf: 'block_bio_queue' }] }],
        },
        {
          what: 'swap-cache folios dropped by reclaim without a write (freed pages)',
          sources: [{ name: 'tp_btf mm_page_free', programs: ['thrash_drop_btf'], requires: [{ btf: 'mm_page_free' }] }],
        },
        {
          what: 'page migrations (a swap-cache folio moved to a copy is not a swap-in)',
          sources: [
            {
              name: 'tp_btf mm_migrate_pages_start and mm_migrate_pages',
              programs: ['thrash_migrate_start', 'thrash_migrate_end'],
              requires: [{ btf: 'mm_migrate_pages_start' }, { btf: 'mm_migrate_pages' }],
            },
          ],
        },
        {
          what: 'the kernel\'s swap-ins (PSWPIN, SWPIN_ZERO, ZSWPIN)',
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
        type Proc = { comm: string; matched: number; total_ns: number; unseen: number; pswpin: number; swpin_zero: number; zswpin: number };
        const procs = new Map<number, Proc>();
        for (const [k, v] of eachEntry(obj.entries('procs'), PROC_KEY)) {
          const s = PROC_STATS.decode(v);
          const p = procs.get(k.tgid) ?? { comm: k.comm, matched: 0, total_ns: 0, unseen: 0, pswpin: 0, swpin_zero: 0, zswpin: 0 };
          for (const f of ['matched', 'total_ns', 'unseen', 'pswpin', 'swpin_zero', 'zswpin'] as const) p[f] += s[f];
          procs.set(k.tgid, p);
        }
        // a kind of swap-in this kernel does not count (no SWPIN_ZERO before 6.12, no ZSWPIN without
        // zswap) is shown as null / "-", not as 0: /proc/vmstat names exactly the counters it has
        const vm = readVmstat();
        const has = { swpin_zero: 'swpin_zero' in vm, zswpin: 'zswpin' in vm };
        const kinds = (p: Proc) => ({ pswpin: p.pswpin, swpin_zero: has.swpin_zero ? p.swpin_zero : null, zswpin: has.zswpin ? p.zswpin : null });
        const swapOuts = Number(obj.readGlobalU64('swap_outs'));
        const moves = Number(obj.readGlobalU64('swapcache_moves'));
        const order = [...procs.entries()].sort((a, b) => a[1].matched - b[1].matched);
        const unseenAll = order.reduce((n, [, p]) => n + p.unseen, 0);
        if (opts.json) {
          for (const [pid, p] of order) {
            const hist = [...(hists.get(pid) ?? new Map()).entries()].sort((a, b) => a[0] - b[0]).map(([i, count]) => ({ low: i ? 2 ** (i - 1) : 0, high: i ? 2 ** i : 1, count }));
            printJson({ pid, comm: p.comm, container: containers.json(pid), swapped_in: p.matched, out_not_seen: p.unseen, ...kinds(p), avg_out_us: p.matched ? Math.round(p.total_ns / p.matched / 1000) : 0, hist_us: hist });
          }
          printJson({ summary: true, swap_outs_seen: swapOuts, swap_ins_out_not_seen: unseenAll, swapcache_moves: moves });
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
        if (moves) out.push(`${moves} swapped-in pages moved to a new folio by a migration (compaction): followed, not counted as swap-ins`);
        if (unseenAll) out.push(`${unseenAll} swap-ins of traced processes whose swap-out was not seen (out before the start, or a drop missed): no time out for them`);
        if (order.length) {
          const dash = (n: number | null) => (n === null ? '-' : n);
          out.push(
            '',
            ...formatTable(
              ['PID', 'COMM', 'CONTAINER', 'SWAPPED_IN', 'OUT_NOT_SEEN', 'PSWPIN', 'SWPIN_ZERO', 'ZSWPIN', 'AVG_OUT_ms'],
              order.map(([pid, p]) => {
                const k = kinds(p);
                return [pid, p.comm, containers.text(pid), p.matched, p.unseen, k.pswpin, dash(k.swpin_zero), dash(k.zswpin), p.matched ? (p.total_ns / p.matched / 1e6).toFixed(1) : '-'];
              }),
              [true, false, false, true, true, true, true, true, true],
            ),
          );
        }
        process.stdout.write(out.join('\n') + '\n');
      },
    });
  },
};
