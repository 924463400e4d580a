// trace: one line per event of a tracepoint (or software event), with the tracepoint's own fields
// decoded by name from its tracefs format description, and an optional filter on those fields
// (BCC trace, bpftrace printf one-liners).
import { addCommonOptions, CommonOptions, parseCount, parsePositive } from './options';
import { ktimeToDate, formatEventTime } from '../engine/clock';
import { NumericTerm, parseFilter } from '../engine/event-filter';
import { attachProbes, Probe, probeGroups, resolveProbes } from '../engine/probes';
import { runTrace } from '../engine/session';
import { struct } from '../engine/struct';
import { decodeRecord, FieldValue, formatValue, readFormat, TraceFormat } from '../procfs/tracefs-format';
import { printJson } from '../render/json';
import { examples, Tool } from './tool';

interface TraceOptions extends CommonOptions {
  duration?: number;
  maxEvents?: number;
}

const PROGS = { tracepoint: 'trace_tp', software: 'trace_sw' };
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
] as const);
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
] as const);

export const tool: Tool<TraceOptions, [string, string?]> = {
  name: 'trace',
  summary: "print each event of a tracepoint with its fields by name, filtered (trace)",
  configure(cmd) {
    cmd.argument('<probe>', 't:CATEGORY:NAME (wildcards allowed) or software:EVENT[:PERIOD]');
    cmd.argument('[filter]', "keep events whose fields match, e.g. 'nr_reclaimed > 100 && order >= 2'");
    addCommonOptions(cmd, ['pid', 'command', 'timestamp', 'json']);
    cmd.option('-d, --duration <SECONDS>', 'stop after SECONDS', parsePositive);
    cmd.option('-M, --max-events <N>', 'stop after N events', parseCount);
    cmd.addHelpText(
      'after',
      '\nFields are those of the tracepoint\'s format file (memscope list -v PATTERN shows them); pid, tid\n' +
        'and comm of the current task can be filtered on too. Comparisons: == != < <= > >=, joined by\n' +
        '&& and ||, strings in quotes. hugepage_madvise() has no tracepoint: trace madvise(MADV_HUGEPAGE).\n' +
        examples([
          ['memscope trace -T t:compaction:mm_compaction_begin', 'compaction events with times'],
          ["memscope trace t:vmscan:mm_vmscan_memcg_reclaim_end 'nr_reclaimed > 100'", 'large memcg reclaims'],
          ["memscope trace t:syscalls:sys_enter_madvise 'behavior == 14'", 'madvise(MADV_HUGEPAGE) calls by process'],
          ['memscope trace --json t:oom:mark_victim', 'OOM kills as JSON lines'],
        ]),
    );
  },
  async run(opts: TraceOptions, [spec, filterText]: [string, string?]) {
    const probes = resolveProbes([spec]);
    const formats: (TraceFormat | null)[] = probes.map((p) => (p.kind === 'tracepoint' ? readFormat(p.category, p.name) : null));
    const known = new Set<string>(['pid', 'tid', 'comm']);
    for (const f of formats) {
      if (f) f.fields.filter((x) => !x.common).forEach((x) => known.add(x.name));
      else known.add('addr');
    }
    const filter = filterText ? parseFilter(filterText, known) : undefined;
    let shown = 0;
    let finished = false; // records still arriving while the summary runs are dropped
    const w = Math.max(20, ...probes.map((p) => p.label.length));
    const banner = `Tracing ${probes.length === 1 ? probes[0].label : `${probes.length} probes for "${spec}"`}`;
    const printHeader = () => {
      if (!opts.json) {
        process.stdout.write(`${opts.timestamp ? 'TIME         ' : ''}${'PID'.padEnd(7)} ${'TID'.padEnd(7)} ${'COMM'.padEnd(16)} ${'PROBE'.padEnd(w)} FIELDS\n`);
      }
    };
    const onEvent = (r: Buffer) => {
      if (finished) return;
      const h = HEADER.decode(r);
      const probe: Probe | undefined = probes[h.probe];
      const fmt = formats[h.probe];
      if (!probe) return;
      let fields: Record<string, FieldValue>;
      if (fmt) fields = decodeRecord(fmt, r.subarray(HEADER.size, HEADER.size + h.size));
      else fields = { addr: h.addr };
      if (filter) {
        const all: Record<string, FieldValue> = { pid: h.tgid, tid: h.tid, comm: h.comm, ...fields };
        if (!filter(all)) return;
      }
      if (opts.maxEvents && shown >= opts.maxEvents) return;
      shown++;
      const time = ktimeToDate(h.ts);
      if (opts.json) {
        printJson({ ...(opts.timestamp ? { time: time.toISOString() } : {}), pid: h.tgid, tid: h.tid, comm: h.comm, probe: probe.label, fields });
      } else {
        const text = fmt
          ? fmt.fields.filter((f) => !f.common).map((f) => `${f.name}=${formatValue(fields[f.name], f)}`).join(' ')
          : `addr=0x${h.addr.toString(16)}`;
        process.stdout.write(
          `${opts.timestamp ? formatEventTime(time) + ' ' : ''}${String(h.tgid).padEnd(7)} ${String(h.tid).padEnd(7)} ${h.comm.padEnd(16)} ${probe.label.padEnd(w)} ${text}\n`,
        );
      }
      if (opts.maxEvents && shown >= opts.maxEvents) process.kill(process.pid, 'SIGINT');
    };
    await runTrace({
      bpf: 'trace',
      opts,
      banner,
      duration: opts.duration,
      groups: probeGroups('the probes', probes, PROGS),
      setup(obj) {
        formats.forEach((f, i) => {
          if (!f) return;
          const k = Buffer.alloc(4);
          k.writeUInt32LE(i);
          const v = Buffer.alloc(4);
          v.writeUInt32LE(Math.min(MAX_DATA, f.fixedSize + (f.dynamic ? DYNAMIC_ROOM : 0)));
          obj.update('copy_size', k, v);
        });
        let inKernel = 0;
        formats.forEach((f, i) => {
          const terms = f && filter ? kernelTerms(f, filter.conjunction) : null;
          if (!terms) return;
          inKernel++;
          terms.forEach((t, j) => {
            const k = Buffer.alloc(4);
            k.writeUInt32LE(i * FILTER_TERMS + j);
            obj.update('filters', k, t);
          });
        });
        if (filter && opts.verbose) process.stderr.write(`memscope: the filter runs in the kernel for ${inKernel} of ${probes.length} probes (all of it in userspace too)\n`);
        obj.onRecords('events', (recs) => recs.forEach(onEvent));
      },
      attach(obj) {
        attachProbes(obj, probes, PROGS);
        printHeader();
      },
      finish(obj) {
        finished = true;
        if (filter && opts.verbose) process.stderr.write(`memscope: ${obj.readGlobalU64('filtered_in_kernel')} events filtered out in the kernel\n`);
      },
    });
  },
};
