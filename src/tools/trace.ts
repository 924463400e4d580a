// SPDX-License-Identifier: Apache-2.0
// trace: one line per event of a tracepoint (or software event), with the tracepoint's own fields
// decoded by name from its tracefs format description, and an optional filter on those fields
// (BCC trace, bpftrace printf one-liners). Uprobes, uretprobes and USDT probes print their
// arguments and return value with BCC's printf-style format; -U/-K add each event's stacks.
import * as fs from 'node:fs';
import { addCommonOptions, CommonOptions, parseCount, parsePositive } from './options';
import { UsageError } from '../core/errors';
import { ktimeToDate, formatEventTime } from '../engine/clock';
import { FieldType, NumericTerm, parseFilter } from '../engine/event-filter';
import { attachProbes, Probe, probeGroups, resolveProbes } from '../engine/probes';
import { runTrace } from '../engine/session';
import { struct } from '../engine/struct';
import { decodeRecord, FieldValue, formatValue, readFormat, TraceFormat } from '../procfs/tracefs-format';
import { printJson } from '../render/json';
import { examples, Tool } from './tool';
import { reportStacksLost } from './_stack-report';
import { checkFormat, formatPrintf, parseTraceSpec } from './_trace-format';
import { StackReader } from '../engine/stacks';
import { missed, nameStackId } from '../engine/stack-counts';
import { Symbolizer } from '../symbols/symbolizer';
import { formatFrame } from '../core/frames';
import type { BpfObject } from '../engine/bpf-object';
import { escapeText } from '../core/escape';
import { ContainerColumn, CONTAINER_WIDTH } from './_container-column';

interface TraceOptions extends CommonOptions {
  duration?: number;
  maxEvents?: number;
  userStack?: boolean;
  kernelStack?: boolean;
  name?: string;
  sinceStart?: boolean;
  cgroup?: string;
}

/** A cgroup v2 directory's id (what bpf_get_current_cgroup_id returns): its inode number. */
function cgroupId(dir: string): bigint {
  if (!fs.existsSync(`${dir}/cgroup.controllers`)) throw new UsageError(`${dir} is not a cgroup v2 directory (e.g. /sys/fs/cgroup/unified/NAME here)`);
  return fs.statSync(dir, { bigint: true }).ino;
}

const PROGS = { tracepoint: 'trace_tp', software: 'trace_sw', uprobe: 'trace_uprobe', usdt: 'trace_usdt' };
const REG_ARGS = 6; // TRACE_ARGS in bpf/trace.bpf.c: arg1..arg6, then retval
const STR = 80; // TRACE_STR
const MAX_DATA = 2048; // TRACE_MAX_DATA in bpf/trace.bpf.c
const DYNAMIC_ROOM = 512; // bytes copied past the fixed part for __data_loc strings and arrays

const FILTER_TERMS = 4; // FILTER_TERMS in bpf/trace.bpf.c
const TERM = struct([
  ['offset', 'u32'],
  ['size', 'u8'],
  ['is_signed', 'u8'],
  ['op', 'u8'],
  ['pad', 'u8'],
  ['value', 'u64'],
] as const, { c: 'filter_term', bpf: 'trace' });
const OPS: Record<NumericTerm['cmp'], number> = { '==': 1, '!=': 2, '<': 3, '<=': 4, '>': 5, '>=': 6 };

/** The filter's comparisons as BPF filter terms for one probe, or null when they cannot all run
 * there (a field it lacks or that is not an integer, too many terms, a negative bound on an
 * unsigned field). The filter is applied in userspace as well, so this only saves work. */
export function kernelTerms(fmt: TraceFormat, terms: NumericTerm[] | null): Buffer[] | null {
  if (!terms || terms.length === 0 || terms.length > FILTER_TERMS) return null;
  const out: Buffer[] = [];
  for (const t of terms) {
    const f = fmt.fields.find((x) => x.name === t.field && !x.common);
    if (!f || f.kind !== 'int' || (!f.signed && t.value < 0n)) return null;
    const bits = BigInt(f.size * 8);
    if (f.signed ? t.value >= 1n << (bits - 1n) || t.value < -(1n << (bits - 1n)) : t.value >= 1n << bits) return null;
    out.push(TERM.encode({ offset: f.offset, size: f.size, is_signed: f.signed ? 1 : 0, op: OPS[t.cmp], value: BigInt.asUintN(64, t.value) as unknown as number }));
  }
  return out;
}

const HEADER = struct([
  ['ts', 'u64'],
  ['tgid', 'u32'],
  ['tid', 'u32'],
  ['probe', 'u32'],
  ['size', 'u32'],
  ['addr', 'addr'],
  ['comm', 'char[16]'],
  ['ustack', 's32'],
  ['kstack', 's32'],
] as const, { c: 'trace_rec', bpf: 'trace', prefix: true });

export const tool: Tool<TraceOptions, [string, string?]> = {
  name: 'trace',
  summary: 'print each event of a tracepoint, uprobe or USDT probe with its fields or arguments, filtered (trace)',
  configure(cmd) {
    cmd.argument(
      '<probe>',
      "t:CATEGORY:NAME (wildcards allowed), software:EVENT[:PERIOD], p:LIB:FUNC, r:LIB:FUNC or u:LIB:USDT; BCC's 'PROBE [(FILTER)] [\"FORMAT\", ARG...]' too",
    );
    cmd.argument('[filter]', "keep events whose fields match, e.g. 'nr_reclaimed > 100 && order >= 2'");
    // BCC trace's -c is a cgroup, exactly that v2 directory, declared before the shared options so
    // they leave it alone (it also passes the shared in-kernel cgroup test, which keeps it and its
    // children: together, exactly it); memscope's command is --command here
    cmd.option('-c, --cgroup <PATH>', 'only tasks in this cgroup v2 directory (not its children), as BCC trace -c');
    addCommonOptions(cmd, ['pid', 'command', 'timestamp', 'json'], ['command']);
    cmd.option('-d, --duration <SECONDS>', 'stop after SECONDS', parsePositive);
    cmd.option('-M, --max-events <N>', 'stop after N events', parseCount);
    cmd.option('-U, --user-stack', "print each event's user stack");
    cmd.option('-K, --kernel-stack', "print each event's kernel stack");
    cmd.option('-n, --name <NAME>', 'only processes whose name (comm) contains NAME');
    cmd.option('-t, --since-start', 'a TIME column: seconds since tracing began (BCC trace -t)');
    cmd.addHelpText(
      'after',
      "\nFields are those of the tracepoint's format file (memscope list -v PATTERN shows them); pid, tid\n" +
        'and comm of the current task can be filtered on too. Comparisons: == != < <= > >=, joined by\n' +
        '&& and ||, strings in quotes. hugepage_madvise() has no tracepoint: trace madvise(MADV_HUGEPAGE).\n' +
        "Uprobes and USDT probes have arg1..arg6 (and retval for r:), printed with a format as BCC's trace\n" +
        'does: %d %i %u %x (32-bit; %ld %lu %lx 64-bit), %p, %c, %s (a string read from the process).\n' +
        "BCC's letters: -T time of day, -t seconds since start, -n name, -M max events, -U/-K stacks;\n" +
        '-c PATH a cgroup v2 (exactly that cgroup); the command is --command, -d is a duration.\n' +
        examples([
          ['memscope trace -T t:compaction:mm_compaction_begin', 'compaction events with times'],
          ["memscope trace t:vmscan:mm_vmscan_memcg_reclaim_end 'nr_reclaimed > 100'", 'large memcg reclaims'],
          ["memscope trace t:syscalls:sys_enter_madvise 'behavior == 14'", 'madvise(MADV_HUGEPAGE) calls by process'],
          ['memscope trace --json t:oom:mark_victim', 'OOM kills as JSON lines'],
          ["memscope trace -p 181 'p:c:malloc (arg1 > 65536) \"size=%lu\", arg1'", 'large malloc() calls'],
          ["memscope trace -p 181 'r:c:malloc \"ret=%p\", retval'", 'what malloc() returned'],
          ["memscope trace -U 'u:python3.11:gc__start \"gen=%d\", arg1'", 'Python garbage collections, with stacks'],
        ]),
    );
  },
  async run(opts: TraceOptions, [specText, filterArg]: [string, string?]) {
    const spec = parseTraceSpec(specText);
    if (spec.filter && filterArg) throw new UsageError('give the filter once: in parentheses after the probe, or as the second argument');
    const filterText = spec.filter ?? filterArg;
    const probes = resolveProbes([spec.probe]);
    const formats: (TraceFormat | null)[] = probes.map((p) => (p.kind === 'tracepoint' ? readFormat(p.category, p.name) : null));
    // each field's type, so a filter that could never match is refused before anything loads
    const known = new Map<string, FieldType>([
      ['pid', 'number'],
      ['tid', 'number'],
      ['comm', 'string'],
    ]);
    const learn = (name: string, type: FieldType) => known.set(name, known.has(name) && known.get(name) !== type ? 'any' : type);
    const regs = probes.some((p) => p.kind === 'uprobe' || p.kind === 'usdt');
    for (const [i, f] of formats.entries()) {
      if (f) for (const x of f.fields.filter((x) => !x.common)) learn(x.name, x.kind === 'int' || x.kind === 'pointer' ? 'number' : x.kind === 'string' || x.kind === 'dynstring' ? 'string' : 'other');
      else if (probes[i].kind === 'software') learn('addr', 'number');
    }
    if (regs) {
      for (let i = 1; i <= REG_ARGS; i++) learn(`arg${i}`, 'number');
      if (probes.some((p) => p.kind === 'uprobe' && p.retprobe)) learn('retval', 'number');
    }
    const argName = (a: string) => a.replace(/^args->/, '');
    if (spec.format !== undefined) checkFormat(spec.format, spec.args.map(argName), new Set(known.keys()));
    const conv = spec.format !== undefined ? [...spec.format.matchAll(/%[-+ 0#]*\d*(?:\.\d+)?(?:hh|h|ll|l|z)?([diuxXpsc%])/g)].map((m) => m[1]).filter((c) => c !== '%') : [];
    // arguments printed with %s are copied as strings in the kernel (the process may free them)
    let strMask = 0;
    spec.args.forEach((a, i) => {
      const m = /^arg([1-6])$/.exec(argName(a));
      if (conv[i] === 's' && m) strMask |= 1 << (Number(m[1]) - 1);
    });
    const filter = filterText ? parseFilter(filterText, known) : undefined;
    const symbolizer = new Symbolizer();
    const containers = new ContainerColumn();
    let stacks: StackReader | undefined;
    // -U: build-id stacks (bpf_get_stackid), whose losses the kernel does not count: counted here
    // from the ids handed over, every event received (as the kernel counts its own stores)
    const userLost = { user_full: 0, user_collided: 0 };
    let shown = 0;
    let startNs: number | undefined;
    let finished = false; // records still arriving while the summary runs are dropped
    const w = Math.max(20, ...probes.map((p) => p.label.length));
    const banner = `Tracing ${probes.length === 1 ? probes[0].label : `${probes.length} probes for "${spec.probe}"`}`;
    const printHeader = () => {
      if (!opts.json) {
        const time = opts.sinceStart ? 'TIME        ' : opts.timestamp ? 'TIME         ' : '';
        process.stdout.write(`${time}${'PID'.padEnd(7)} ${'TID'.padEnd(7)} ${'COMM'.padEnd(16)} ${'CONTAINER'.padEnd(CONTAINER_WIDTH)} ${'PROBE'.padEnd(w)} ${regs ? 'MESSAGE' : 'FIELDS'}\n`);
      }
    };
    const decodeRegs = (data: Buffer): Record<string, FieldValue> => {
      const out: Record<string, FieldValue> = {};
      if (data.length < 8 * (REG_ARGS + 1)) return out;
      for (let i = 0; i < REG_ARGS; i++) out[`arg${i + 1}`] = data.readBigInt64LE(8 * i);
      out.retval = data.readBigInt64LE(8 * REG_ARGS);
      return out;
    };
    const regString = (data: Buffer, i: number): string => {
      const o = 8 * (REG_ARGS + 1) + i * STR;
      if (o + STR > data.length) return '';
      const end = data.indexOf(0, o);
      return data.toString('utf8', o, end < 0 || end > o + STR ? o + STR : end);
    };
    const stackLines = (h: ReturnType<typeof HEADER.decode>) => {
      // a stack the kernel could not store is said in its place, as the counting tools say it
      // (an empty stack looked like an event without one); -EFAULT (no stack: a kernel thread) stays empty
      const lost = (id: number) => id === -17 || id === -12;
      const k = !opts.kernelStack || !stacks ? [] : lost(h.kstack) ? [missed('kernel', h.kstack)] : symbolizer.kernel(stacks.kernelStack(h.kstack));
      const u = !opts.userStack || !stacks ? [] : lost(h.ustack) ? [missed('user', h.ustack)] : nameStackId(symbolizer, stacks, h.tgid, h.ustack);
      return { k: k.map((f) => formatFrame(f)), u: u.map((f) => formatFrame(f)) };
    };
    const onEvent = (r: Buffer) => {
      if (finished) return;
      const h = HEADER.decode(r);
      if (opts.userStack && h.ustack === -17) userLost.user_collided++;
      else if (opts.userStack && h.ustack === -12) userLost.user_full++;
      const probe: Probe | undefined = probes[h.probe];
      const fmt = formats[h.probe];
      if (!probe) return;
      if (opts.name && !h.comm.includes(opts.name)) return;
      const data = r.subarray(HEADER.size, HEADER.size + h.size);
      const isRegs = probe.kind === 'uprobe' || probe.kind === 'usdt';
      let fields: Record<string, FieldValue>;
      if (fmt) fields = decodeRecord(fmt, data);
      else if (isRegs) {
        fields = decodeRegs(data);
        if (!(probe.kind === 'uprobe' && probe.retprobe)) delete fields.retval; // no return value at entry
      }
      else fields = { addr: h.addr };
      if (filter) {
        const all: Record<string, FieldValue> = { pid: h.tgid, tid: h.tid, comm: h.comm, ...fields };
        if (!filter(all)) return;
      }
      if (opts.maxEvents && shown >= opts.maxEvents) return;
      shown++;
      startNs ??= Number(h.ts);
      const time = ktimeToDate(h.ts);
      const since = (Number(h.ts) - Number(startNs ?? h.ts)) / 1e9;
      let message: string | undefined;
      if (spec.format !== undefined) {
        const values = spec.args.map((a, i) => {
          const name = argName(a);
          const m = /^arg([1-6])$/.exec(name);
          if (conv[i] === 's' && isRegs && m) return regString(data, Number(m[1]) - 1);
          const v = name === 'pid' ? h.tgid : name === 'tid' ? h.tid : name === 'comm' ? h.comm : fields[name];
          if (typeof v === 'string') return v;
          if (typeof v === 'number' || typeof v === 'bigint') return BigInt(v);
          return 0n;
        });
        message = formatPrintf(spec.format, values);
      }
      const st = opts.userStack || opts.kernelStack ? stackLines(h) : undefined;
      if (opts.json) {
        printJson({
          ...(opts.timestamp ? { time: time.toISOString() } : {}),
          ...(opts.sinceStart ? { since: since } : {}),
          pid: h.tgid,
          tid: h.tid,
          comm: h.comm,
          container: containers.json(h.tgid),
          probe: probe.label,
          ...(message !== undefined ? { message } : {}),
          fields,
          ...(st && opts.userStack ? { ustack: st.u } : {}),
          ...(st && opts.kernelStack ? { kstack: st.k } : {}),
        });
      } else {
        const text =
          message !== undefined
            ? message
            : fmt
              ? fmt.fields
                  .filter((f) => !f.common)
                  .map((f) => `${f.name}=${formatValue(fields[f.name], f)}`)
                  .join(' ')
              : isRegs
                ? ''
                : `addr=0x${h.addr.toString(16)}`;
        const t = opts.sinceStart ? `${since.toFixed(6).padEnd(12)}` : opts.timestamp ? formatEventTime(time) + ' ' : '';
        const lines = [`${t}${String(h.tgid).padEnd(7)} ${String(h.tid).padEnd(7)} ${escapeText(h.comm).padEnd(16)} ${containers.text(h.tgid).padEnd(CONTAINER_WIDTH)} ${escapeText(probe.label).padEnd(w)} ${escapeText(text)}`.trimEnd()];
        // BCC trace: the kernel stack, then the user stack, indented under the event
        if (st) for (const f of [...st.k, ...st.u]) lines.push(`        ${escapeText(f)}`);
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (opts.maxEvents && shown >= opts.maxEvents) process.kill(process.pid, 'SIGINT');
    };
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };
    await runTrace({
      kernelThreads: true, // kernel events: a kernel thread may be the -p target
      bpf: 'trace',
      opts,
      banner,
      duration: opts.duration,
      symbolizer: opts.userStack ? symbolizer : undefined,
      consts: { user_stacks: !!opts.userStack, kernel_stacks: !!opts.kernelStack, targ_cgroup: opts.cgroup ? cgroupId(opts.cgroup) : 0n },
      configure(obj: BpfObject) {
        containers.configure(obj);
        if (opts.userStack) obj.setMaxEntries('ms_ustacks', 8192);
        if (opts.kernelStack) obj.setMaxEntries('ms_kstacks', 8192);
      },
      groups: probeGroups('the probes', probes, PROGS),
      setup(obj) {
        stacks = new StackReader(obj);
        formats.forEach((f, i) => {
          if (!f) return;
          obj.update('copy_size', u32(i), u32(Math.min(MAX_DATA, f.fixedSize + (f.dynamic ? DYNAMIC_ROOM : 0))));
        });
        if (strMask) probes.forEach((p, i) => (p.kind === 'uprobe' || p.kind === 'usdt') && obj.update('str_args', u32(i), u32(strMask)));
        let inKernel = 0;
        formats.forEach((f, i) => {
          const terms = f && filter ? kernelTerms(f, filter.conjunction) : null;
          if (!terms) return;
          inKernel++;
          terms.forEach((t, j) => obj.update('filters', u32(i * FILTER_TERMS + j), t));
        });
        if (filter && opts.verbose) process.stderr.write(`memscope: the filter runs in the kernel for ${inKernel} of ${probes.length} probes (all of it in userspace too)\n`);
        obj.onRecords('events', (recs) => recs.forEach(onEvent));
      },
      attach(obj, pid) {
        attachProbes(obj, probes, PROGS, pid);
        printHeader();
      },
      finish(obj) {
        finished = true;
        reportStacksLost(obj, opts, userLost);
        if (filter && opts.verbose) process.stderr.write(`memscope: ${obj.readGlobalU64('filtered_in_kernel')} events filtered out in the kernel\n`);
      },
    });
  },
};
