// SPDX-License-Identifier: Apache-2.0
// drsnoop: one line per reclaim a process had to do itself before its allocation could go on, with
// its latency and the pages it reclaimed (the book's drsnoop). Besides direct reclaim (the system
// is short of free pages) it shows memory-cgroup reclaim (the process's cgroup is at its limit),
// which is how memory pressure reaches processes inside containers.
import { addCommonOptions, addDuration, CommonOptions, InvalidArgumentError, parsePositive } from './options';
import { formatEventTime, ktimeToDate } from '../engine/clock';
import { runTrace } from '../engine/session';
import { ProbeGroup, tracepointGroup } from '../engine/sources';
import { struct } from '../engine/struct';
import { printJson } from '../render/json';
import { Column, formatHeader, formatRow } from '../render/table';
import type { DrsnoopRecord } from '../core/records';
import { ContainerColumn, CONTAINER_WIDTH } from './_container-column';
import { examples, Tool } from './tool';
import * as fs from 'node:fs';
import { KernelSymbols } from '../symbols/kallsyms';

interface DrsnoopOptions extends CommonOptions {
  tid?: number;
  uid?: number;
  printUid?: boolean;
  name?: string;
  extended?: boolean;
  duration?: number;
}

/** A TID or UID: a whole number, 0 allowed (root). */
function parseId(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number.');
  return Number(v);
}

/** struct reclaim_event (bpf/drsnoop.bpf.c). */
const RECLAIM_EVENT = struct([
  ['ts', 'u64'],
  ['lat_ns', 'u64'],
  ['nr_reclaimed', 'u64'],
  ['pid', 'u32'],
  ['tid', 'u32'],
  ['kind', 'u32'],
  ['uid', 'u32'],
  ['free_pages', 'u64'],
  ['comm', 'char[16]'],
] as const, { c: 'reclaim_event', bpf: 'drsnoop' });

const KIND: Record<number, string> = { 1: 'direct', 2: 'memcg' };

export function groups(): ProbeGroup[] {
  const pair = (what: string, event: string, btfProg: string, tpProg: string) => tracepointGroup(what, 'vmscan', event, btfProg, tpProg);
  return [
    pair('direct reclaim starts', 'mm_vmscan_direct_reclaim_begin', 'dr_direct_begin_btf', 'dr_direct_begin_tp'),
    pair('direct reclaim ends', 'mm_vmscan_direct_reclaim_end', 'dr_direct_end_btf', 'dr_direct_end_tp'),
    pair('memcg reclaim starts', 'mm_vmscan_memcg_reclaim_begin', 'dr_memcg_begin_btf', 'dr_memcg_begin_tp'),
    pair('memcg reclaim ends', 'mm_vmscan_memcg_reclaim_end', 'dr_memcg_end_btf', 'dr_memcg_end_tp'),
  ];
}

export const tool: Tool<DrsnoopOptions, [number?]> = {
  name: 'drsnoop',
  summary: 'one line per direct or memory-cgroup reclaim: process, latency, pages reclaimed',
  configure(cmd) {
    addDuration(addCommonOptions(cmd, ['pid', 'command', 'timestamp', 'json']));
    // BCC drsnoop's options; its duration is -d (the positional [duration] works too)
    cmd.option('-d, --duration <SECONDS>', 'stop after SECONDS (as the positional duration)', parsePositive);
    cmd.option('-t, --tid <TID>', 'only this thread', parseId);
    cmd.option('-u, --uid <UID>', 'only processes of this user id', parseId);
    cmd.option('-U, --print-uid', 'a UID column');
    cmd.option('-n, --name <NAME>', 'only process names (comm) containing NAME');
    cmd.option('-e, --extended', "a FREE(KB) column: the system's free memory when each reclaim ended");
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
          ['memscope drsnoop -e -n postgres -d 10', "postgres's reclaims with free memory, for 10 s (BCC spelling)"],
        ]),
    );
  },
  async run(opts: DrsnoopOptions, [positional]: [number?]) {
    const duration = opts.duration ?? positional;
    // -e: BCC reads vm_zone_stat[NR_FREE_PAGES] in the kernel at the event; its address is in
    // kallsyms only with CONFIG_KALLSYMS_ALL. Without it, MemFree is read from /proc/meminfo as each
    // batch of events arrives (milliseconds after the reclaims ended), and -v says so.
    const zoneStat = opts.extended ? (KernelSymbols.load().addressOf('vm_zone_stat') ?? 0n) : 0n;
    if (opts.extended && opts.verbose) {
      process.stderr.write(`memscope: FREE(KB) ${zoneStat ? 'read in the kernel at each reclaim (vm_zone_stat)' : 'is MemFree from /proc/meminfo when the events arrive (vm_zone_stat is not in kallsyms)'}\n`);
    }
    const memFreeKb = () => {
      try {
        return Number(/^MemFree:\s+(\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
      } catch {
        return 0;
      }
    };
    const columns: Column[] = [
      ...(opts.timestamp ? [{ header: 'TIME(s)', width: 13 }] : []),
      { header: 'COMM', width: 14 },
      ...(opts.printUid ? [{ header: 'UID', width: 6, right: true }] : []),
      { header: 'PID', width: 6 },
      { header: 'CONTAINER', width: CONTAINER_WIDTH },
      { header: 'LAT(ms)', width: 8, right: true },
      { header: 'PAGES', width: 5, right: true },
      ...(opts.extended ? [{ header: 'FREE(KB)', width: 10, right: true }] : []),
      { header: 'KIND', width: 6 },
    ];
    const pageKb = 4096 / 1024;
    let first: number | null = null;
    const containers = new ContainerColumn();
    await runTrace({
      kernelThreads: true, // kernel events: a kernel thread may be the -p target
      bpf: 'drsnoop',
      opts,
      duration,
      consts: { vm_zone_stat_addr: zoneStat },
      groups: groups(),
      banner: 'Tracing direct and memcg reclaim',
      configure: (obj) => containers.configure(obj),
      setup(obj) {
        if (!opts.json) process.stdout.write(formatHeader(columns) + '\n');
        obj.onRecords('reclaim_events', (recs) => {
          const out: string[] = [];
          const freeNow = opts.extended && !zoneStat ? memFreeKb() : 0;
          for (const r of recs) {
            const e = RECLAIM_EVENT.decode(r);
            if (opts.tid !== undefined && e.tid !== opts.tid) continue;
            if (opts.uid !== undefined && e.uid !== opts.uid) continue;
            if (opts.name !== undefined && !e.comm.includes(opts.name)) continue;
            first ??= e.ts;
            const rel = (e.ts - first) / 1e9;
            const freeKb = zoneStat ? e.free_pages * pageKb : freeNow;
            const latMs = e.lat_ns / 1e6;
            const kind = KIND[e.kind] ?? String(e.kind);
            if (opts.json) {
              printJson({
                time: ktimeToDate(e.ts).toISOString(),
                clock: formatEventTime(ktimeToDate(e.ts)),
                time_s: rel,
                comm: e.comm,
                pid: e.pid,
                container: containers.json(e.pid),
                tid: e.tid,
                uid: e.uid,
                lat_ms: latMs,
                pages: e.nr_reclaimed,
                ...(opts.extended ? { free_kb: freeKb } : {}),
                kind,
              } satisfies DrsnoopRecord);
              continue;
            }
            out.push(
              formatRow(columns, [
                ...(opts.timestamp ? [rel.toFixed(9)] : []),
                e.comm.slice(0, 14),
                ...(opts.printUid ? [e.uid] : []),
                e.pid,
                containers.text(e.pid),
                latMs.toFixed(2),
                e.nr_reclaimed,
                ...(opts.extended ? [freeKb] : []),
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
