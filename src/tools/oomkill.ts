// SPDX-License-Identifier: Apache-2.0
// oomkill: one line per OOM kill, as the book's oomkill prints it (time, triggering process, victim,
// its size in pages, load averages), plus the victim's RSS by kind, oom_score_adj, the constraint
// (a memory cgroup's limit or the whole system) and the cgroup.
import { UsageError } from '../core/errors';
import * as fs from 'node:fs';
import { addCommonOptions, addDuration, CommonOptions } from './options';
import { runTrace } from '../engine/session';
import { struct } from '../engine/struct';
import { readKmsg } from '../procfs/kmsg';
import { pageSizeKb } from '../procfs/pid';
import { clock } from '../render/table';
import { printJson } from '../render/json';
import { Symbolizer } from '../symbols/symbolizer';
import { accountEventStacks, addUnwindOptions, describeUnwind, DwarfStacks, reportEventStacks, UnwindOptions } from '../unwind/dwarf-stacks';
import { configureWalkedTriggers, TriggerStacks } from './_oom-trigger';
import { parseOomEvents } from '../procfs/oom-report';
import type { OomkillRecord } from '../core/records';
import { examples, Tool } from './tool';
import { reportStacksLost } from './_stack-report';
import type { ProbeGroup } from '../engine/sources';
import { escapeText } from '../core/escape';
import { oomTotalPages } from './_oom-totalpages';
import { ContainerColumn, containerCell, containerValue } from './_container-column';

const MEMCG_V1_LIMIT = '/sys/fs/cgroup/memory/memory.limit_in_bytes';
const CG_DEPTH = 12;
const CG_NAME = 128;
const CG_PATH_BYTES = 8 + CG_DEPTH * CG_NAME;

/** struct oom_event (bpf/oomkill.bpf.c). */
export const OOM_EVENT = struct([
  ['trig_pid', 'u32'],
  ['trig_tid', 'u32'],
  ['victim_pid', 'u32'],
  ['victim_tid', 'u32'],
  ['total_vm', 'u64'],
  ['anon_rss', 'u64'],
  ['file_rss', 'u64'],
  ['shmem_rss', 'u64'],
  ['victim_cgid', 'u64'],
  ['limit_cgid', 'u64'],
  ['limit_pages', 'u64'],
  ['limit_usage', 'u64'],
  ['mem_max', 'u64'],
  ['swap_max', 'u64'],
  ['swappiness', 's32'],
  ['pad0', 'u32'],
  ['oom_score_adj', 's32'],
  ['uid', 'u32'],
  ['source', 'u32'],
  ['trig_ustack', 's32'],
  ['trig_seq', 'u32'],
  ['trig_comm', 'char[16]'],
  ['victim_comm', 'char[16]'],
  ['victim_cg', `bytes[${CG_PATH_BYTES}]`],
  ['limit_cg', `bytes[${CG_PATH_BYTES}]`],
] as const, { c: 'oom_event', bpf: 'oomkill' });

/** struct cg_path: components leaf first → "/a/b" ("/" for the root). */
function cgroupPath(b: Buffer): string {
  const depth = Math.min(b.readUInt32LE(0), CG_DEPTH);
  const truncated = b.readUInt32LE(4) !== 0;
  const comps: string[] = [];
  for (let i = 0; i < depth; i++) {
    const o = 8 + i * CG_NAME;
    const end = b.indexOf(0, o);
    comps.unshift(b.toString('utf8', o, end < 0 || end > o + CG_NAME ? o + CG_NAME : end));
  }
  return (truncated ? '/...' : '') + '/' + comps.join('/');
}

const CONSTRAINTS: Record<string, string> = {
  CONSTRAINT_NONE: 'global',
  CONSTRAINT_CPUSET: 'cpuset',
  CONSTRAINT_MEMORY_POLICY: 'mempolicy',
  CONSTRAINT_MEMCG: 'memcg',
};

/** The JSON record (src/records.ts) is what the text line formats too. */
export type OomKill = OomkillRecord;

function readLoadavg(): string {
  try {
    return fs.readFileSync('/proc/loadavg', 'utf8').trim();
  } catch {
    // without /proc/loadavg the line still says what was killed
    return '?';
  }
}

/** The kernel's own account of this kill ("oom-kill:constraint=...,oom_memcg=...,pid=N"), if the
 * log has it: it is printed before mark_victim fires, but rate-limited (10 reports per 5 s). */
function kernelLogFor(victimTid: number): { constraint?: string; oomMemcg?: string; taskMemcg?: string } | null {
  try {
    const events = parseOomEvents(readKmsg()).filter((e) => e.victim?.pid === victimTid && e.constraint);
    const e = events[events.length - 1];
    if (!e) return null;
    return { constraint: e.constraint, oomMemcg: e.constraint === 'CONSTRAINT_MEMCG' ? e.cgroup : undefined, taskMemcg: e.taskCgroup };
  } catch {
    return null; // no readable kernel log: BPF's view stands
  }
}

export function describe(rec: Buffer, pageKb: number, memcgV1 = fs.existsSync(MEMCG_V1_LIMIT)): OomKill {
  const e = OOM_EVENT.decode(rec);
  const log = kernelLogFor(e.victim_tid);
  const limitCg = e.limit_cgid ? cgroupPath(e.limit_cg) : null;
  const victimCg = e.victim_cgid ? cgroupPath(e.victim_cg) : (log?.taskMemcg ?? null);
  let constraint: string;
  let oomMemcg: string | null;
  if (log?.constraint) {
    constraint = CONSTRAINTS[log.constraint] ?? log.constraint.toLowerCase();
    oomMemcg = constraint === 'memcg' ? (log.oomMemcg ?? limitCg) : null;
  } else {
    constraint = limitCg ? 'memcg' : 'global';
    oomMemcg = limitCg;
  }
  return {
    time: clock(),
    trigger: { pid: e.trig_pid, tid: e.trig_tid, comm: e.trig_comm },
    victim: { pid: e.victim_pid, tid: e.victim_tid, comm: e.victim_comm, uid: e.uid },
    totalpages: oomTotalPages(constraint, oomMemcg && oomMemcg === limitCg ? e : null, memcgV1, pageKb),
    pages: e.total_vm,
    page_kb: pageKb,
    anon_rss_kb: e.anon_rss * pageKb,
    file_rss_kb: e.file_rss * pageKb,
    shmem_rss_kb: e.shmem_rss * pageKb,
    oom_score_adj: e.oom_score_adj,
    constraint,
    constraint_source: log?.constraint ? 'kernel log' : 'memcg limits',
    oom_memcg: oomMemcg,
    oom_memcg_limit_kb: oomMemcg && oomMemcg === limitCg ? e.limit_pages * pageKb : null,
    oom_memcg_usage_kb: oomMemcg && oomMemcg === limitCg ? e.limit_usage * pageKb : null,
    cgroup: victimCg,
    loadavg: readLoadavg(),
  };
}

/** container: the victim's container cell (containerCell), when known. */
export function formatKill(k: OomKill, container?: string): string {
  const stack = k.trigger_ustack?.length ? '\n' + k.trigger_ustack.map((f) => `        ${escapeText(f)}`).join('\n') : '';
  return (
    `${k.time} Triggered by PID ${k.trigger.pid} ("${escapeText(k.trigger.comm)}"), OOM kill of PID ${k.victim.pid} ("${escapeText(k.victim.comm)}"), ` +
    `${k.totalpages ?? '?'} pages, total-vm ${k.pages} pages, loadavg: ${k.loadavg}; anon-rss ${k.anon_rss_kb}kB, file-rss ${k.file_rss_kb}kB, shmem-rss ${k.shmem_rss_kb}kB, ` +
    `oom_score_adj ${k.oom_score_adj}, constraint ${k.constraint}${k.oom_memcg ? ` (${escapeText(k.oom_memcg)})` : ''}, cgroup ${escapeText(k.cgroup ?? '?')}` +
    (container !== undefined ? `, container ${container}` : '') +
    stack
  );
}

/** The OOM-kill event, in preference order (also loaded by memscope agent) */
export const oomkillGroups: ProbeGroup[] = [
  {
    what: 'OOM kills',
    sources: [
      { name: 'tp_btf mark_victim', programs: ['oom_mark_victim_btf'], requires: [{ btf: 'mark_victim' }] },
      { name: 'tracepoint oom/mark_victim', programs: ['oom_mark_victim_tp'], requires: [{ tracepoint: 'oom/mark_victim' }] },
    ],
  },
];

export const tool: Tool<CommonOptions & UnwindOptions, [number?]> = {
  name: 'oomkill',
  summary: 'OOM kills as they happen: trigger, victim, size, RSS, constraint, cgroup, load',
  configure(cmd) {
    addUnwindOptions(addDuration(addCommonOptions(cmd, ['json', 'cgroup'])));
    cmd.addHelpText(
      'after',
      '\nOne line per OOM kill: the process whose allocation triggered it, the victim, the pages the\n' +
        "kernel measured tasks against (totalpages, as BCC's oomkill prints: a memcg's limit plus the swap\n" +
        "it may use, or all RAM plus swap; '?' for a cpuset or mempolicy OOM), the victim's size (total-vm,\n" +
        "in pages), the load averages, then the victim's anon/file/shmem RSS, oom_score_adj,\n" +
        'the constraint (memcg: a memory cgroup hit its limit; global: the whole system) with the\n' +
        "cgroup whose limit was hit, and the victim's memory cgroup. The constraint comes from the kernel's\n" +
        'own OOM report when the log has it (it is rate-limited), else from the memcg limits read in BPF.\n' +
        'Under the line, the user stack of the task that triggered the OOM (in JSON: trigger_ustack),\n' +
        'DWARF-unwound by default (--unwind auto: an OOM is rare), so it reaches main through code\n' +
        'built without frame pointers.\n' +
        'Event source: the oom:mark_victim tracepoint (tp_btf, else classic).\n' +
        "--cgroup/--container keep the kills whose victim is in that cgroup (the victim's memory cgroup,\n" +
        'tested in BPF; the task that triggered the kill may be elsewhere, e.g. in a sibling cgroup).\n' +
        'The line ends with the victim\'s container ("-" for the host; JSON: victim.container, null for\n' +
        'the host), named from its memory cgroup.\n' +
        examples([
          ['memscope oomkill', 'every OOM kill until Ctrl-C'],
          ['memscope oomkill --json', 'one JSON object per kill'],
          ['memscope oomkill 3600', 'for an hour'],
          ['memscope oomkill --unwind fp', 'trigger stacks by frame pointers only (no stack copy)'],
          ['memscope oomkill --container web', "kills of the container web's processes"],
        ]),
    );
  },
  async run(opts: CommonOptions & UnwindOptions, [duration]: [number?]) {
    const pageKb = pageSizeKb();
    let kills = 0;
    const symbolizer = new Symbolizer();
    const dwarf = new DwarfStacks(symbolizer);
    const unwinding = opts.unwind !== 'fp';
    if (opts.verbose) process.stderr.write(`memscope: trigger ${describeUnwind(opts)}\n`);
    const containers = new ContainerColumn();
    const killStacks = new TriggerStacks<OomKill>(
      dwarf,
      symbolizer,
      (k, ustack) => {
        k.trigger_ustack = ustack ?? [];
        kills++;
        // the victim's container, from the memcg BPF read off the victim task (not the trigger's)
        const c = containers.ofCgroupPath(k.cgroup);
        if (opts.json) printJson({ ...k, victim: { ...k.victim, container: containerValue(c) } });
        else process.stdout.write(formatKill(k, containerCell(c)) + '\n');
      },
      true, // frame-pointer stacks are walked stacks, named once their mappings arrived
    );
    await runTrace({
      bpf: 'oomkill',
      opts,
      duration,
      symbolizer,
      consts: {
        page_shift: Math.log2(pageKb * 1024),
        memcg_v1: fs.existsSync(MEMCG_V1_LIMIT),
        ...dwarf.consts(opts),
      },
      configure(obj) {
        // the classic tracepoint gives the victim's pid, not its task: its cgroup cannot be tested
        if ((opts.cgroup !== undefined || opts.container !== undefined) && obj.chosen.some((c) => c.source.programs.includes('oom_mark_victim_tp'))) {
          throw new UsageError('oomkill --cgroup/--container need the tp_btf mark_victim source (the classic tracepoint does not carry the victim task)');
        }
        // the trigger is often the victim, gone before /proc/PID/maps could be read (a build-id
        // stack then names nothing): frame-pointer stacks are walked stacks, their mappings sent by
        // BPF, in every mode. --unwind dwarf's fallback (its sample not sent) once went to a
        // 64-bucket build-id map instead, where a stack whose bucket another held was lost and
        // counted nowhere; a walked stack tries the next ids, and a loss is counted (reportStacksLost)
        configureWalkedTriggers(obj);
        obj.setMaxEntries('ms_kstacks', 1);
        // OOM kills are rare: a sample ring for a few samples (each at most ~17 KiB)
        if (unwinding) DwarfStacks.configure(obj, opts);
        if (unwinding) obj.setMaxEntries('ms_dwarf_samples', 2 << 20);
      },
      banner: 'Tracing OOM kills',
      groups: oomkillGroups,
      setup(obj) {
        // DWARF samples, or (--unwind fp) the mappings and notes of walked stacks
        killStacks.listen(obj);
        obj.onRecords('oom_events', (recs) => {
          for (const r of recs) {
            const e = OOM_EVENT.decode(r);
            killStacks.push(describe(r, pageKb), e);
          }
        });
      },
      async finish(obj) {
        // a kill still waiting for its stack sample (or note) gets the sample ring drained
        await killStacks.close(obj);
        // a trigger stack lost on the way, or of a program its process had left (rare: said only
        // then, in mmapsnoop -U's words)
        if ((unwinding && (killStacks.lost || killStacks.unjoined)) || killStacks.execed) reportEventStacks('trigger', accountEventStacks(obj, dwarf, killStacks), !!opts.json);
        if (opts.verbose && unwinding) for (const l of dwarf.summary(obj, opts)) process.stderr.write(`memscope: ${l}\n`);
        reportStacksLost(obj, opts);
        if (!opts.json) process.stdout.write(`${kills} OOM kill${kills === 1 ? '' : 's'} traced.\n`);
      },
    });
  },
};
