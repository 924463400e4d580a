// ffaults: page faults counted by the name of the file backing the faulting address ([anon],
// [heap], [stack] and [vdso] for memory without one), per interval or on exit.
import { addCommonOptions, addInterval, CommonOptions } from '../cli/options';
import type { BpfObject } from '../engine/bpf-object';
import { runTrace } from '../engine/session';
import { PERF_COUNT_SW_PAGE_FAULTS, PERF_TYPE_SOFTWARE, ProbeGroup } from '../engine/sources';
import { eachEntry, struct } from '../engine/struct';
import { printJson } from '../render/json';
import { clock, formatTable } from '../render/table';
import { examples, Tool } from './tool';

/** The user page-fault event, in preference order, implemented by three programs of a BPF object. */
export function userFaultGroup(what: string, progs: { btf: string; tp: string; perf: string }): ProbeGroup {
  return {
    what,
    sources: [
      { name: 'tp_btf page_fault_user', programs: [progs.btf], requires: [{ btf: 'page_fault_user' }] },
      { name: 'tracepoint exceptions/page_fault_user', programs: [progs.tp], requires: [{ tracepoint: 'exceptions/page_fault_user' }] },
      {
        name: 'perf software event page-faults',
        programs: [progs.perf],
        requires: [{ always: true }],
        attach: { perfEvent: { type: PERF_TYPE_SOFTWARE, config: PERF_COUNT_SW_PAGE_FAULTS, period: 1 } },
      },
    ],
  };
}

/** struct ff_key (bpf/ffaults.bpf.c) */
const FF_KEY = struct([['name', 'char[64]']] as const);

interface FileFaults {
  file: string;
  count: number;
}

function readCounts(obj: BpfObject, clear: boolean): FileFaults[] {
  const out: FileFaults[] = [];
  for (const [k, v] of eachEntry(obj.entries('ff_counts', clear), FF_KEY)) {
    out.push({ file: k.name, count: Number(v.readBigUInt64LE(0)) });
  }
  // as the chapter's bpftrace map prints: fewest first, the biggest next to the prompt
  return out.sort((a, b) => a.count - b.count || (a.file < b.file ? -1 : 1));
}

function report(rows: FileFaults[], opts: CommonOptions, time?: string): void {
  if (opts.json) {
    for (const r of rows) printJson(time ? { time, ...r } : r);
    return;
  }
  const lines: string[] = [];
  if (time) lines.push('', time);
  if (rows.length) lines.push(...formatTable(['FAULTS', 'FILE'], rows.map((r) => [r.count, r.file]), [true, false]));
  else if (time) lines.push('(no page faults)');
  process.stdout.write(lines.join('\n') + '\n');
}

/** Under --verbose: how many faults needed a bpf_find_vma() walk (the rest came from the cache). */
export function reportVmaLookups(obj: BpfObject): void {
  process.stderr.write(`memscope: vma lookups not answered by the cache (bpf_find_vma calls): ${obj.readGlobalU64('ms_vma_walks')}\n`);
}

export const tool: Tool = {
  name: 'ffaults',
  summary: 'page faults counted by backing file name ([anon], [heap], [stack] for anonymous memory)',
  configure(cmd) {
    addInterval(addCommonOptions(cmd, ['pid', 'command', 'json']));
    cmd.addHelpText(
      'after',
      '\nEvery user page fault is counted. The name is the mapped file\'s (its last path component);\n' +
        'memory without a file is [heap] (the brk area), [stack] (the main thread\'s stack, including\n' +
        'faults that grow it), a special mapping such as [vdso], or [anon] (mmap, thread stacks, large\n' +
        'malloc). File pages already in the page cache are mapped up to 16 at a time ("fault-around"),\n' +
        'so a file read sequentially faults less than once per page. [unmapped]: addresses in no mapping\n' +
        '(bad pointers). [vma busy]: the mapping could not be looked up at that instant (another thread\n' +
        'held the mmap lock for writing, or another BPF tool on the same event, e.g. memscope faults,\n' +
        "held the CPU's bpf_find_vma work); lookups are cached, so this is rare.\n" +
        examples([
          ['memscope ffaults', 'all processes, summary on Ctrl-C'],
          ['memscope ffaults 1', 'a summary every second'],
          ['memscope ffaults -p 181 5 3', 'PID 181: three 5-second summaries'],
          ['memscope ffaults --json -c "make -j2"', 'faults by file of a build, as JSON lines'],
        ]),
    );
  },
  async run(opts: CommonOptions, [interval, count]: [number?, number?]) {
    await runTrace({
      bpf: 'ffaults',
      opts,
      interval,
      count,
      banner: 'Tracing page faults by file',
      groups: [userFaultGroup('user page faults', { btf: 'ff_fault_btf', tp: 'ff_fault_tp', perf: 'ff_fault_perf' })],
      tick(obj) {
        report(readCounts(obj, true), opts, clock());
      },
      finish(obj, reason) {
        if (interval === undefined) report(readCounts(obj, false), opts);
        else if (reason !== 'count') {
          const rest = readCounts(obj, true);
          if (rest.length) report(rest, opts, clock());
        }
        if (opts.verbose) reportVmaLookups(obj);
      },
    });
  },
};
