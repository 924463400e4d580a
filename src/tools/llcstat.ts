// SPDX-License-Identifier: Apache-2.0
// llcstat: last-level-cache references and misses by process (BCC llcstat, chapter 7.3.12): two
// hardware events per CPU, sampled every -c events. Without a hardware PMU (most VMs) there is
// nothing to count: one line saying so and what to use instead, exit status 1.
import { addCommonOptions, CommonOptions, parseCount, parsePositive } from './options';
import { PERF_TYPE_HARDWARE } from '../engine/counters';
import { MemscopeError } from '../core/errors';
import { hasPmu, noPmuMessage } from '../engine/pmu';
import { runTrace } from '../engine/session';
import { eachEntry, struct } from '../engine/struct';
import { printJson } from '../render/json';
import { formatTable } from '../render/table';
import { examples, Tool } from './tool';
import { ContainerColumn } from './_container-column';

interface LlcOptions extends CommonOptions {
  samplePeriod: number;
  threads?: boolean;
}

const PERF_COUNT_HW_CACHE_REFERENCES = 2;
const PERF_COUNT_HW_CACHE_MISSES = 3;

const KEY = struct([
  ['tgid', 'u32'],
  ['tid', 'u32'],
  ['cpu', 'u32'],
  ['comm', 'char[16]'],
] as const, { c: 'llc_key', bpf: 'llcstat' });

export const INSTEAD =
  "'memscope profile' samples stacks on the CPU clock (where time goes), 'memscope pmc' and " +
  "'memscope count software:page-faults:1' count software events; LLC counts need bare metal or a VM with a virtual PMU";

export const tool: Tool<LlcOptions, [number?]> = {
  name: 'llcstat',
  summary: 'last-level cache references, misses and hit ratio by process (llcstat; needs a hardware PMU)',
  configure(cmd) {
    cmd.argument('[duration]', 'seconds to count (default: until Ctrl-C)', parsePositive);
    addCommonOptions(cmd, ['pid', 'json']);
    cmd.option('-c, --sample-period <N>', 'sample one event in N (as BCC; counts are estimates in units of N)', parseCount, 100);
    cmd.option('-t, --threads', 'one line per thread (TID) instead of per process');
    cmd.addHelpText(
      'after',
      '\nCounts come from the CPU\'s hardware performance counters. Virtual machines often have none\n' +
        '("PMU not available due to virtualization" at boot): then llcstat says so in one line and exits 1.\n' +
        'CONTAINER is the process\'s container ("-" for the host; JSON: container, null for the host).\n' +
        examples([
          ['memscope llcstat 10', 'LLC references and misses by process and CPU for 10 s'],
          ['memscope llcstat -t -p 181 10', 'by thread of PID 181'],
        ]),
    );
  },
  async run(opts: LlcOptions, [duration]: [number?]) {
    if (!hasPmu()) throw new MemscopeError(noPmuMessage('llcstat (LLC references and misses)', INSTEAD));
    const containers = new ContainerColumn();
    await runTrace({
      bpf: 'llcstat',
      opts,
      duration,
      consts: { sample_period: BigInt(opts.samplePeriod) },
      banner: `Counting LLC references and misses (one sample in ${opts.samplePeriod})`,
      groups: [{ what: 'LLC references and misses', sources: [{ name: 'hardware cache-references and cache-misses on each CPU', programs: ['llc_ref', 'llc_miss'], requires: [], attach: 'manual' }] }],
      configure: (obj) => containers.configure(obj),
      attach(obj) {
        try {
          obj.attachPerfEvent('llc_ref', PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES, opts.samplePeriod);
          obj.attachPerfEvent('llc_miss', PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES, opts.samplePeriod);
        } catch (e) {
          throw new MemscopeError(noPmuMessage(`llcstat (${(e as Error).message.split('\n')[0]})`, INSTEAD));
        }
      },
      finish(obj) {
        const rows = new Map<string, { pid: number; tid: number; cpu: number; comm: string; ref: number; miss: number }>();
        for (const [k, v] of eachEntry(obj.entries('llc'), KEY)) {
          const key = opts.threads ? `${k.tgid}/${k.tid}/${k.cpu}` : `${k.tgid}/${k.cpu}`;
          const r = rows.get(key) ?? { pid: k.tgid, tid: k.tid, cpu: k.cpu, comm: k.comm, ref: 0, miss: 0 };
          r.ref += Number(v.readBigUInt64LE(0));
          r.miss += Number(v.readBigUInt64LE(8));
          rows.set(key, r);
        }
        const sorted = [...rows.values()].sort((a, b) => b.ref - a.ref);
        const hit = (r: { ref: number; miss: number }) => (r.ref > 0 ? Math.max(0, (100 * (r.ref - r.miss)) / r.ref) : 0);
        if (opts.json) {
          for (const r of sorted) printJson({ pid: r.pid, ...(opts.threads ? { tid: r.tid } : {}), comm: r.comm, container: containers.json(r.pid), cpu: r.cpu, references: r.ref, misses: r.miss, 'hit%': Math.round(hit(r) * 100) / 100 });
          return;
        }
        const head = [...(opts.threads ? ['PID', 'TID'] : ['PID']), 'NAME', 'CONTAINER', 'CPU', 'REFERENCE', 'MISS', 'HIT%'];
        const body = sorted.map((r) => [r.pid, ...(opts.threads ? [r.tid] : []), r.comm, containers.text(r.pid), r.cpu, r.ref, r.miss, `${hit(r).toFixed(2)}%`]);
        const total = sorted.reduce((a, r) => ({ ref: a.ref + r.ref, miss: a.miss + r.miss }), { ref: 0, miss: 0 });
        process.stdout.write(formatTable(head, body, head.map((h) => h !== 'NAME' && h !== 'CONTAINER')).join('\n') + '\n');
        process.stdout.write(`Total References: ${total.ref} Total Misses: ${total.miss} Hit Rate: ${hit(total).toFixed(2)}%\n`);
      },
    });
  },
};
