// SPDX-License-Identifier: Apache-2.0
// ffaults: page faults counted by the name of the file backing the faulting address ([anon],
// [heap], [stack] and [vdso] for memory without one), per interval or on exit.
import { addCommonOptions, addInterval, CommonOptions } from './options';
import type { BpfObject } from '../engine/bpf-object';
import { runTrace } from '../engine/session';
import { eachEntry, struct } from '../engine/struct';
import { printJson } from '../render/json';
import { clock, formatTable } from '../render/table';
import { faultGroup, reportVmaLookups } from './_fault-sources';
import { PERF_COUNT_SW_PAGE_FAULTS_MAJ, PERF_TYPE_SOFTWARE, ProbeGroup } from '../engine/sources';
import type { FfaultsRecord } from '../core/records';
import { examples, Tool } from './tool';
import { ContainerColumn, containerCell, containerValue } from './_container-column';

/** struct ff_key (bpf/ffaults.bpf.c) */
const FF_KEY = struct([
  ['cgid', 'u64'],
  ['name', 'char[64]'],
] as const, { c: 'ff_key', bpf: 'ffaults' });

/** struct ms_vma_slot (bpf/include/vma.h): one per CPU per slot of the vma cache. */
const VMA_SLOT = struct(
  [
    ['mm', 'u64'],
    ['tgid', 'u64'],
    ['seq', 'u64'],
    ['pending', 'u64'],
    ['start', 'addr'],
    ['end', 'addr'],
    ['flags', 'u64'],
    ['name', 'char[64]'],
  ] as const,
  { c: 'ms_vma_slot' },
);

type FileFaults = FfaultsRecord;
/** a container's full id (a key holds the name, else this) */
const HEX_ID = /^[0-9a-f]{64}$/;

/** Major faults by name: perf's software event major-faults, raised once per completed fault. */
const majorGroup: ProbeGroup = {
  what: 'major page faults',
  sources: [
    {
      name: 'perf software event major-faults',
      programs: ['ff_major_perf'],
      requires: [{ always: true }],
      attach: { perfEvent: { type: PERF_TYPE_SOFTWARE, config: PERF_COUNT_SW_PAGE_FAULTS_MAJ, period: 1 } },
    },
  ],
};

interface Counts {
  all: Map<string, number>;
  major: Map<string, number>;
}

/** What a count is kept under: the file's name, and its process's container when the CONTAINER
 * column is on ("\0"-joined; see splitKey). Without containers the name alone. */
type KeyOf = (name: string, by: { cgid: number } | { tgid: number }) => string;
const byName: KeyOf = (name) => name;

function majors(obj: BpfObject, keyOf: KeyOf = byName): Map<string, number> {
  const t = new Map<string, number>();
  for (const [k, v] of eachEntry(obj.entries('ff_majors'), FF_KEY)) {
    const key = keyOf(k.name, { cgid: k.cgid });
    t.set(key, (t.get(key) ?? 0) + Number(v.readBigUInt64LE(0)));
  }
  return t;
}

/** Faults so far by name: ff_counts plus the counts still pending in the vma cache's slots. */
export function totals(obj: BpfObject, keyOf: KeyOf = byName): Map<string, number> {
  const t = new Map<string, number>();
  const add = (name: string, n: number) => n > 0 && t.set(name, (t.get(name) ?? 0) + n);
  // slots first: a count moving from a slot into ff_counts between the two reads is then seen
  // twice for one interval rather than missed (after detach, at the summary, nothing moves)
  const slots = obj.entries('ms_vma_slots');
  const stride = Math.ceil(VMA_SLOT.size / 8) * 8;
  for (let i = 0; i < slots.count; i++) {
    for (let o = i * slots.valueBytes; o < (i + 1) * slots.valueBytes; o += stride) {
      const pending = Number(slots.values.readBigUInt64LE(o + VMA_SLOT.offsets.pending));
      if (pending > 0) {
        const slot = VMA_SLOT.decode(slots.values, o);
        add(keyOf(slot.name, { tgid: Number(slot.tgid) }), pending);
      }
    }
  }
  for (const [k, v] of eachEntry(obj.entries('ff_counts'), FF_KEY)) add(keyOf(k.name, { cgid: k.cgid }), Number(v.readBigUInt64LE(0)));
  return t;
}

function countsOf(obj: BpfObject, keyOf: KeyOf): Counts {
  // majors first: a fault is counted in all (at its start) before major-faults fires (at its end)
  const major = majors(obj, keyOf);
  return { all: totals(obj, keyOf), major };
}

/** The container part of a key made by containerKeys (undefined: keyed by name alone). */
function splitKey(key: string): { file: string; container?: string | null } {
  const i = key.indexOf('\0');
  if (i < 0) return { file: key };
  const c = key.slice(0, i);
  return { file: key.slice(i + 1), container: c === '' ? null : c };
}

/** Keys by container and file: a count's container is its process's (the slot's owner) or its
 * cgroup's, named once per process or cgroup by the one resolver. */
function containerKeys(col: ContainerColumn): KeyOf {
  return (name, by) => {
    const c = 'tgid' in by ? col.of(by.tgid) : col.ofCgroupId(BigInt(by.cgid));
    return `${containerValue(c) ?? ''}\0${name}`;
  };
}

/** The growth of each name's counts since `before` (everything, without it). */
function rowsSince(now: Counts, before?: Counts): FileFaults[] {
  const out: FileFaults[] = [];
  for (const [key, n] of now.all) {
    const count = n - (before?.all.get(key) ?? 0);
    // a major fault whose start fell in the previous interval is kept within this row's count
    const major = Math.min(count, (now.major.get(key) ?? 0) - (before?.major.get(key) ?? 0));
    const { file, container } = splitKey(key);
    if (count > 0) out.push({ file, ...(container !== undefined ? { container } : {}), count, major, minor: count - major });
  }
  // as the chapter's bpftrace map prints: fewest first, the biggest next to the prompt
  return out.sort((a, b) => a.count - b.count || (a.file < b.file ? -1 : 1));
}

function report(rows: FileFaults[], opts: CommonOptions, time?: string): void {
  if (opts.json) {
    for (const r of rows) printJson((time ? { time, ...r } : r) satisfies FfaultsRecord);
    return;
  }
  const lines: string[] = [];
  if (time) lines.push('', time);
  if (rows.length)
    lines.push(
      ...formatTable(
        ['FAULTS', 'MAJOR', 'MINOR', 'CONTAINER', 'FILE'],
        rows.map((r) => [r.count, r.major, r.minor, containerCell(r.container ? { cgroup: '', id: r.container, name: HEX_ID.test(r.container) ? undefined : r.container } : null), r.file]),
        [true, true, true, false, false],
      ),
    );
  else if (time) lines.push('(no page faults)');
  process.stdout.write(lines.join('\n') + '\n');
}

export const tool: Tool<CommonOptions, [number?, number?]> = {
  name: 'ffaults',
  summary: 'page faults counted by backing file name ([anon], [heap], [stack] for anonymous memory)',
  configure(cmd) {
    addInterval(addCommonOptions(cmd, ['pid', 'command', 'json']));
    cmd.addHelpText(
      'after',
      '\nEvery page fault on user memory is counted, also those the kernel takes in a system call (read()\n' +
        "into a fresh buffer): the count is perf stat -e page-faults's. The name is the mapped file's (its last path component);\n" +
        "memory without a file is [heap] (the brk area), [stack] (the main thread's stack, including\n" +
        'faults that grow it), a special mapping such as [vdso], or [anon] (mmap, thread stacks, large\n' +
        'malloc). File pages already in the page cache are mapped up to 16 at a time ("fault-around"),\n' +
        'so a file read sequentially faults less than once per page. [unmapped]: addresses in no mapping\n' +
        '(bad pointers). [vma busy]: the mapping could not be looked up at that instant (another thread\n' +
        'held the mmap lock for writing, or a tracer attached a uprobe to a file the process maps,\n' +
        'which write-locks the mappings of every process mapping it, e.g. memleak on another process;\n' +
        'with a tracepoint --source also another BPF tool on the same\n' +
        "event holding the CPU's bpf_find_vma work); lookups are cached, so this is rare.\n" +
        'MAJOR: faults that waited for the file to be read from disk (or were retried), counted as\n' +
        "perf's major-faults counts them; MINOR: the rest (FAULTS - MAJOR), answered from the page cache\n" +
        'or with a fresh page. A fault that ends in SIGSEGV counts in FAULTS and MINOR only.\n' +
        'Counts are kept apart by the faulting process\'s container: CONTAINER ("-" for the host;\n' +
        'JSON: container, null for the host).\n' +
        examples([
          ['memscope ffaults', 'all processes, summary on Ctrl-C'],
          ['memscope ffaults 1', 'a summary every second'],
          ['memscope ffaults -p 181 5 3', 'PID 181: three 5-second summaries'],
          ['memscope ffaults --json -c "make -j2"', 'faults by file of a build, as JSON lines'],
        ]),
    );
  },
  async run(opts: CommonOptions, [interval, count]: [number?, number?]) {
    const containers = new ContainerColumn();
    const keyOf = containerKeys(containers);
    const counts = (obj: BpfObject) => countsOf(obj, keyOf);
    let last: Counts | undefined;
    let reported = false;
    await runTrace({
      bpf: 'ffaults',
      opts,
      interval,
      count,
      banner: 'Tracing page faults by file',
      groups: [faultGroup('page faults', { btf: 'ff_fault_btf', tp: 'ff_fault_tp', perf: 'ff_fault_perf' }), majorGroup],
      configure: (obj) => containers.configure(obj),
      tick(obj) {
        const now = counts(obj);
        report(rowsSince(now, last), opts, clock());
        last = now;
        reported = true;
      },
      finish(obj, reason) {
        if (interval === undefined) report(rowsSince(counts(obj)), opts);
        else if (reason !== 'count') {
          // the partial last interval; said even when empty if no report was printed yet, so a
          // run always ends with an answer ("(no page faults)")
          const rest = rowsSince(counts(obj), last);
          if (rest.length || !reported) report(rest, opts, clock());
        }
        if (opts.verbose) reportVmaLookups(obj);
      },
    });
  },
};
