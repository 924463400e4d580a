// SPDX-License-Identifier: Apache-2.0
// memleak: outstanding allocations by stack, for a process (uprobes on its allocator) or for the
// kernel (kmem tracepoints), with a growth view that tells a leak from a long-lived allocation.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addCommonOptions, addInterval, CommonOptions, InvalidArgumentError, Option } from './options';
import type { BpfObject } from '../engine/bpf-object';
import { MemscopeError, UsageError } from '../core/errors';
import { runTrace, StopReason } from '../engine/session';
import { chooseSource, ProbeGroup } from '../engine/sources';
import { StackReader } from '../engine/stacks';
import { eachEntry, struct } from '../engine/struct';
import { readMaps } from '../procfs/maps';
import { parseFolded, renderFlameGraph } from '../render/flamegraph';
import { printJson } from '../render/json';
import { writeOutputFile } from '../core/output-file';
import { toFolded } from '../render/stacks';
import { HEAP_SAMPLE_TYPES, renderPprof } from '../render/pprof';
import { writeProfileFile } from './_stack-report';
import { clock } from '../render/table';
import { ElfFile } from '../symbols/elf';
import { CountedStack, Frame, formatFrame } from '../core/frames';
import { Symbolizer } from '../symbols/symbolizer';
import { examples, Tool } from './tool';
import { Growth } from './memleak/growth';
import { emulatedProbeOffset } from './memleak/probe-offset';
import { SAMPLER_ALLOC_HOOK, SAMPLER_FREE_HOOK, SAMPLER_MODULE, samplerLibrary } from './memleak/sampler';
import { escapeText } from '../core/escape';

interface MemleakOptions extends CommonOptions {
  older?: number;
  showAllocs?: boolean;
  top: number;
  minSize?: number;
  maxSize?: number;
  sampleRate?: number;
  sampleBytes?: number;
  combinedOnly?: boolean;
  sort: 'size' | 'count';
  obj?: string;
  symbolsPrefix: string;
  maxAllocs?: number;
}

const KEY = struct([
  ['tgid', 'u32'],
  ['ustack', 's32'],
  ['kstack', 's32'],
  ['pad', 'u32'],
  ['caller', 'addr'],
] as const, { c: 'ml_key', bpf: 'memleak' });
const TOTAL = struct([
  ['bytes', 'u64'],
  ['count', 'u64'],
] as const, { c: 'ml_total', bpf: 'memleak' });
const ALLOC = struct([
  ['size', 'u64'],
  ['bytes', 'u64'],
  ['count', 'u64'],
  ['ts', 'addr'],
  ['tgid', 'u32'],
  ['ustack', 's32'],
  ['kstack', 's32'],
  ['pad', 'u32'],
  ['caller', 'addr'],
] as const, { c: 'ml_alloc', bpf: 'memleak' });
const ADDR = struct([['addr', 'addr']] as const);

/** Allocator entry points: [function, entry program, has a uretprobe]. */
const ALLOCATOR: [string, string, boolean][] = [
  ['malloc', 'malloc_enter', true],
  ['calloc', 'calloc_enter', true],
  ['realloc', 'realloc_enter', true],
  ['posix_memalign', 'posix_memalign_enter', true],
  ['aligned_alloc', 'memalign_enter', true],
  ['memalign', 'memalign_enter', true],
  ['valloc', 'malloc_enter', true],
  ['pvalloc', 'malloc_enter', true],
  ['free', 'free_enter', false],
];
const MAPPING: [string, string, boolean][] = [
  ['mmap', 'mmap_enter', true],
  ['munmap', 'munmap_enter', false],
];

function parseSize(v: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(v);
  if (!m) throw new InvalidArgumentError('expected a size in bytes (suffixes k, m, g allowed).');
  return Number(m[1]) * { '': 1, k: 1024, m: 1 << 20, g: 1 << 30 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
}

function parseWhole(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number.');
  return Number(v);
}

/** One stack's outstanding allocations in a report. */
interface Row {
  id: string;
  pid: number;
  comm: string;
  bytes: number;
  count: number;
  user: Frame[];
  kernel: Frame[];
  allocs?: { addr: bigint; size: number; ageMs: number }[];
}

/** The path of the allocator library of a process: -O, else the libc it has mapped. */
function findInMaps(pid: number, test: (p: string) => boolean): string | undefined {
  const maps = readMaps(pid) ?? [];
  const m = maps.find((x) => x.path.startsWith('/') && test(x.path));
  if (!m) return undefined;
  const viaProc = `/proc/${pid}/root${m.path}`;
  return fs.existsSync(m.path) ? m.path : viaProc;
}

function libcOf(pid: number): string | undefined {
  return findInMaps(pid, (p) => /\/libc(\.so[.\d]*|-[\d.]+\.so)$/.test(p));
}

function resolveLibrary(spec: string, pid: number | undefined): string {
  if (spec.includes('/')) {
    if (!fs.existsSync(spec)) throw new UsageError(`-O ${spec}: no such file`);
    return spec;
  }
  const found = pid !== undefined ? findInMaps(pid, (p) => path.basename(p) === spec || path.basename(p).startsWith(spec + '.')) : undefined;
  if (!found) throw new UsageError(`-O ${spec}: not mapped by the target (give its full path)`);
  return found;
}

export const tool: Tool<MemleakOptions, [number?, number?]> = {
  name: 'memleak',
  summary: 'outstanding allocations by stack, for a process or the kernel, with growth over time',
  configure(cmd) {
    addInterval(addCommonOptions(cmd, ['pid', 'command', 'json', 'folded', 'svg', 'pprof']));
    cmd
      .option('-o, --older <MS>', 'only allocations older than MS milliseconds', parseWhole)
      .option('-a, --show-allocs', 'list each outstanding address and size under its stack')
      .option('-T, --top <N>', 'show the N stacks with the most outstanding bytes', parseWhole, 10)
      .option('-z, --min-size <BYTES>', 'only allocations of at least BYTES', parseSize)
      .option('-Z, --max-size <BYTES>', 'only allocations of at most BYTES', parseSize)
      .option('-s, --sample-rate <RATE>', 'record 1 in RATE allocations (totals are scaled and marked as estimates)', parseWhole)
      .option('--sample-bytes <BYTES>', '-c only: sample 1 per BYTES allocated inside the process (preloaded shim; lowest overhead)', parseSize)
      .option('--combined-only', 'report per-stack totals only (the cheapest report)')
      .option('--max-allocs <N>', 'size of the table of outstanding allocations (default 262144)', parseWhole)
      .addOption(new Option('--sort <KEY>', 'order stacks by outstanding size or count').choices(['size', 'count']).default('size'))
      .option('-O, --obj <LIB>', 'trace this allocator library or binary instead of libc (jemalloc, tcmalloc, a static binary)')
      .option('--symbols-prefix <PREFIX>', "prefix of the allocator's function names (je_ for je_malloc)", '');
    cmd.addHelpText(
      'after',
      '\nWith -p or -c, traces the allocator of that process (malloc, calloc, realloc, posix_memalign,\n' +
        'aligned_alloc, memalign, valloc, pvalloc, free, mmap, munmap); without them, kernel allocations\n' +
        '(kmalloc, kmem_cache, pages, percpu). The caller of malloc is the first frame (read from the\n' +
        'return address at entry). Stacks of code built without frame pointers stop early.\n' +
        'Each report shows, per stack, the growth of its outstanding bytes across reports: a leak grows,\n' +
        'a long-lived allocation stays flat.\n' +
        examples([
          ['memscope memleak -p 181', 'outstanding allocations of PID 181, every 5 s'],
          ['memscope memleak -p 181 -o 60000 10', 'only allocations older than a minute, every 10 s'],
          ['memscope memleak -c "./server --port 8080"', 'start a command traced from its first instruction'],
          ['memscope memleak -c ./server --sample-bytes 512k', 'in-process sampling: lowest overhead, estimates'],
          ['memscope memleak -p 181 -O /usr/lib/libjemalloc.so.2 --symbols-prefix je_', 'a jemalloc with prefixed names'],
          ['memscope memleak -p 181 -s 10 --combined-only', 'cheaper: 1 in 10 allocations, totals only'],
          ['memscope memleak 10 3', 'kernel allocations: three reports 10 s apart'],
          ['memscope memleak -p 181 --svg leak.svg 30 1', 'a flame graph of outstanding bytes after 30 s'],
        ]),
    );
  },
  async run(opts: MemleakOptions, [interval, count]: [number?, number?]) {
    const user = opts.pid !== undefined || opts.command !== undefined;
    if (opts.combinedOnly && (opts.older !== undefined || opts.showAllocs)) {
      throw new UsageError('-o and -a need each allocation; --combined-only keeps per-stack totals only');
    }
    if (opts.sampleBytes !== undefined) {
      if (opts.command === undefined) throw new UsageError('--sample-bytes works with -c (the sampler is preloaded into the command)');
      if (opts.sampleRate !== undefined || opts.obj) throw new UsageError('--sample-bytes replaces -s and -O');
      if (opts.sampleBytes < 1) throw new UsageError('--sample-bytes must be at least 1');
    }
    if (opts.sampleRate !== undefined && opts.sampleRate < 1) throw new UsageError('-s RATE must be at least 1');
    if (opts.maxAllocs !== undefined && opts.maxAllocs < 1) throw new UsageError('--max-allocs must be at least 1');
    if (!user && opts.obj) throw new UsageError('-O needs a process (-p or -c)');
    if (opts.minSize !== undefined && opts.maxSize !== undefined && opts.minSize > opts.maxSize) {
      throw new UsageError('-z must not be larger than -Z');
    }
    // kernel mode: text merges stacks across processes (as BCC does); JSON keeps the process
    const perProcess = user || !!opts.json;
    const sampler = opts.sampleBytes !== undefined ? samplerLibrary() : undefined;
    const rate = opts.sampleRate ?? 1;
    const estimate = rate > 1 || sampler !== undefined;
    const symbolizer = new Symbolizer();
    const growth = new Growth();
    const comms = new Map<number, string>();
    let stacks: StackReader | undefined;
    let reports = 0;
    const warned = new Set<string>();

    const commOf = (pid: number): string => {
      let c = comms.get(pid);
      if (c === undefined) {
        try {
          c = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        } catch {
          c = '';
        }
        if (c) comms.set(pid, c);
      }
      return c;
    };

    // the target's name, known now, for reports made after it exited
    if (opts.pid !== undefined) commOf(opts.pid);
    const commandName = opts.command !== undefined ? path.basename(opts.command.trim().split(/\s+/)[0]).slice(0, 15) : '';

    const userFrames = (pid: number, ustack: number, caller: bigint): Frame[] => {
      // the walk starts at the caller's frame; the caller itself is the return address at [sp]
      // (or, from the sampler, the return address of the malloc call)
      const frames = stacks!.userStackPlain(ustack, 'ml_stacks');
      if (caller !== 0n) frames.unshift({ ip: caller });
      const out = symbolizer.user(pid, frames);
      // sampler mode: no frame of the shim itself belongs in the stack
      return sampler ? out.filter((f) => f.module !== SAMPLER_MODULE) : out;
    };

    const collect = (obj: BpfObject): Row[] => {
      stacks = new StackReader(obj);
      const rows = new Map<string, Row>();
      const add = (k: { tgid: number; ustack: number; kstack: number; caller: bigint }, bytes: number, n: number) => {
        const id = `${k.tgid}/${k.ustack}/${k.kstack}/${k.caller}`;
        let r = rows.get(id);
        if (!r) {
          r = { id, pid: k.tgid, comm: '', bytes: 0, count: 0, user: [], kernel: [] };
          rows.set(id, r);
        }
        r.bytes += bytes;
        r.count += n;
        return r;
      };
      if (opts.older === undefined && !opts.showAllocs) {
        for (const [k, v] of eachEntry(obj.entries('combined'), KEY)) {
          const t = TOTAL.decode(v);
          if (t.count > 0 && t.bytes > 0) add(k, t.bytes, t.count);
        }
      } else {
        const now = process.hrtime.bigint();
        const minAge = BigInt(opts.older ?? 0) * 1_000_000n;
        for (const [k, v] of eachEntry(obj.entries('allocs'), ADDR)) {
          const a = ALLOC.decode(v);
          const age = now > a.ts ? now - a.ts : 0n;
          if (age < minAge) continue;
          const r = add(a, a.bytes, a.count);
          if (opts.showAllocs) (r.allocs ??= []).push({ addr: k.addr, size: a.size, ageMs: Number(age / 1_000_000n) });
        }
      }
      // symbolize, then merge rows whose frames read the same (kernel mode: across processes)
      const merged = new Map<string, Row>();
      for (const r of rows.values()) {
        const [tgid, ustack, kstack, caller] = r.id.split('/');
        r.user = user ? userFrames(r.pid, Number(ustack), BigInt(caller)) : [];
        r.kernel = Number(kstack) >= 0 || !user ? kernelFrames(symbolizer.kernel(stacks.kernelStack(Number(kstack)))) : [];
        r.comm = perProcess ? commOf(Number(tgid)) || commandName : '';
        const pid = perProcess ? r.pid : 0;
        const key = [pid, ...r.kernel.map((f) => formatFrame(f)), '|', ...r.user.map((f) => formatFrame(f))].join('\n');
        const m = merged.get(key);
        if (m) {
          m.bytes += r.bytes;
          m.count += r.count;
          if (r.allocs) (m.allocs ??= []).push(...r.allocs);
        } else merged.set(key, { ...r, id: key, pid });
      }
      const out = [...merged.values()];
      if (rate > 1) {
        for (const r of out) {
          r.bytes *= rate;
          r.count *= rate;
        }
      }
      return out;
    };

    const checkOverflow = (obj: BpfObject) => {
      const notes: [string, string][] = [
        ['allocs_full', 'the table of outstanding allocations is full: new allocations are not recorded (totals are low)'],
        ['combined_full', 'the table of stacks is full: allocations from new stacks are not recorded'],
        ['stacks_lost', 'some stacks could not be captured (stack table full, or two stacks hashed alike): they show as [unknown]'],
        ['pending_full', 'too many threads in allocator calls at once: some allocations were missed'],
      ];
      for (const [name, text] of notes) {
        if (!warned.has(name) && obj.readGlobalU64(name) > 0n) {
          warned.add(name);
          process.stderr.write(`memscope: memleak: ${text}; continuing\n`);
        }
      }
    };

    const estimateNote = sampler
      ? ` (estimates: sampled 1 per ${opts.sampleBytes} bytes)`
      : rate > 1
        ? ` (estimates: sampled 1 in ${rate} allocations)`
        : '';

    const report = (obj: BpfObject, final: boolean) => {
      checkOverflow(obj);
      if (opts.pid === undefined && opts.command === undefined) {
        /* kernel mode */
      } else {
        const pid = opts.pid;
        if (pid !== undefined && fs.existsSync(`/proc/${pid}`)) symbolizer.observe(pid);
      }
      const now = Date.now();
      const rows = collect(obj);
      reports++;
      for (const r of rows) growth.add(r.id, now, r.bytes);
      growth.endReport(now);
      const sorted = rows
        .filter((r) => r.count > 0)
        .sort((a, b) => (opts.sort === 'count' ? b.count - a.count || b.bytes - a.bytes : b.bytes - a.bytes || b.count - a.count))
        .slice(0, opts.top);
      if (final && opts.pprof) {
        // memleak keeps outstanding allocations only: alloc_* are those still allocated at the end
        const live = rows.filter((r) => r.count > 0);
        const data = renderPprof({
          sampleTypes: HEAP_SAMPLE_TYPES,
          periodType: ['space', 'bytes'],
          period: 1,
          defaultSampleType: 'inuse_space',
          stacks: live.map((r) => {
            const n = Math.round(r.count);
            const b = Math.round(r.bytes);
            return { values: [n, b, n, b], user: r.user, kernel: r.kernel, pid: r.pid, comm: r.comm };
          }),
          moduleOf: (pid, f) => symbolizer.moduleOf(pid, f),
          comments: estimateNote ? [estimateNote.trim()] : [],
        });
        writeProfileFile(opts.pprof, data, `${live.length} stacks`);
      }
      if (opts.folded || opts.svg) {
        if (!final) return;
        const counted: CountedStack[] = sorted.map((r) => ({ pid: r.pid, comm: r.comm, count: r.bytes, user: r.user, kernel: r.kernel }));
        const folded = toFolded(counted);
        if (opts.svg) {
          const title = `Outstanding allocations${estimateNote}`;
          const svg = renderFlameGraph(parseFolded(folded.join('\n')), { title, unit: 'bytes', palette: 'mem' });
          writeOutputFile(opts.svg, svg, `${counted.length} stacks`);
        }
        if (opts.folded) for (const l of folded) process.stdout.write(l + '\n');
        if (!opts.json && !opts.folded) printText(sorted);
        return;
      }
      if (opts.json) {
        const time = clock(new Date(now));
        for (const r of sorted) {
          const g = growth.of(r.id);
          printJson({
            report: reports,
            time,
            ...(perProcess ? { pid: r.pid, comm: r.comm } : {}),
            bytes: Math.round(r.bytes),
            allocations: Math.round(r.count),
            estimated: estimate,
            ...(g ? { growth: g.verdict, growth_bytes_per_sec: Math.round(g.slope), growth_reports: g.points } : {}),
            ustack: r.user.map((f) => formatFrame(f)),
            ...(r.kernel.length ? { kstack: r.kernel.map((f) => formatFrame(f)) } : {}),
            ...(r.allocs ? { allocs: r.allocs.map((a) => ({ addr: a.addr, size: a.size, age_ms: a.ageMs })) } : {}),
          });
        }
        return;
      }
      printText(sorted);
    };

    const printText = (sorted: Row[]) => {
      const lines = [`[${clock()}] Top ${opts.top} stacks with outstanding allocations${estimateNote}:`];
      // BCC's order: the largest last, nearest the prompt
      for (const r of [...sorted].reverse()) {
        if (r.allocs) {
          for (const a of r.allocs.sort((x, y) => (x.addr < y.addr ? -1 : 1))) {
            lines.push(`\taddr = ${a.addr.toString(16)} size = ${a.size} age = ${a.ageMs} ms`);
          }
        }
        const g = growth.of(r.id);
        const trend = g ? `  [growth ${formatRate(g.slope)} over ${g.points} reports: ${g.verdict}]` : '';
        const who = user && opts.command === undefined && opts.pid === undefined ? ` [${escapeText(r.comm)} ${r.pid}]` : '';
        lines.push(`\t${Math.round(r.bytes)} bytes in ${Math.round(r.count)} allocations from stack${who}${trend}`);
        const frames = [...r.kernel, ...r.user];
        if (!frames.length) lines.push('\t\t[unknown]');
        for (const f of frames) lines.push(`\t\t${escapeText(formatFrame(f))}`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    };

    const groups: ProbeGroup[] = user
      ? [
          {
            what: sampler ? 'sampled allocations (preloaded sampler hooks)' : 'allocator calls (uprobes)',
            sources: [{ name: sampler ? 'uprobes on the sampler hooks' : 'uprobes on the allocator', programs: [], requires: [{ always: true }], attach: 'manual' }],
          },
        ]
      : kernelGroups();
    const userPrograms = ['malloc_enter', 'calloc_enter', 'realloc_enter', 'memalign_enter', 'posix_memalign_enter', 'mmap_enter', 'alloc_return', 'free_enter', 'munmap_enter'];
    const samplerPrograms = ['sampled_alloc', 'sampled_free'];
    groups.push({
      what: "the command's exec",
      off: opts.command === undefined,
      sources: [
        { name: 'tp_btf sched_process_exec', programs: ['exec_btf'], requires: [{ btf: 'sched_process_exec' }] },
        { name: 'tracepoint sched/sched_process_exec', programs: ['exec_tp'], requires: [{ tracepoint: 'sched/sched_process_exec' }] },
      ],
    });
    if (user) {
      // the user-mode programs belong to the one manual source: load the ones this mode uses
      groups[0].sources[0].programs = sampler ? samplerPrograms : userPrograms;
      groups.push({ what: 'unused', off: true, sources: [{ name: '', programs: sampler ? userPrograms : samplerPrograms, requires: [] }] });
    } else {
      groups.push({ what: 'unused', off: true, sources: [{ name: '', programs: [...userPrograms, ...samplerPrograms], requires: [] }] });
    }

    const attachUser = (obj: BpfObject, pid: number | undefined) => {
      if (pid === undefined) return;
      if (sampler) {
        obj.attachUprobe('sampled_alloc', sampler, SAMPLER_ALLOC_HOOK, { pid });
        obj.attachUprobe('sampled_free', sampler, SAMPLER_FREE_HOOK, { pid });
        if (opts.verbose) process.stderr.write(`memscope: sampler ${sampler} (1 per ${opts.sampleBytes} bytes)\n`);
        return;
      }
      const libc = libcOf(pid);
      const target = opts.obj ? resolveLibrary(opts.obj, pid) : libc;
      if (!target) throw new MemscopeError(`cannot find libc in /proc/${pid}/maps: name the allocator with -O LIB`);
      const attached = new Set<string>();
      const attachAll = (file: string, fns: [string, string, boolean][], prefix: string, required: string | undefined) => {
        const elf = ElfFile.read(file);
        if (!elf) throw new MemscopeError(`${file} is not an ELF file`);
        const addrs = elf.functionAddresses(fns.map(([f]) => prefix + f));
        if (required && !addrs.has(prefix + required)) throw new MemscopeError(`${file} has no function ${prefix + required}`);
        for (const [fn, prog, ret] of fns) {
          const name = prefix + fn;
          const at = addrs.get(name);
          if (at === undefined) {
            if (opts.verbose) process.stderr.write(`memscope: ${file} has no ${name}: not traced\n`);
            continue;
          }
          const id = `${file}@${at}`;
          if (attached.has(id)) continue; // an alias (aligned_alloc = memalign): probe the address once
          attached.add(id);
          // probe an instruction the kernel emulates (free: past its `test %rdi,%rdi`): a third of the cost
          const offset = emulatedProbeOffset(elf, at);
          obj.attachUprobe(prog, file, name, { pid, offset });
          if (ret) obj.attachUprobe('alloc_return', file, name, { pid, retprobe: true, offset });
          if (opts.verbose) process.stderr.write(`memscope: uprobe ${name}${offset ? `+${offset}` : ''} in ${file}\n`);
        }
        return addrs;
      };
      attachAll(target, ALLOCATOR, opts.symbolsPrefix, 'malloc');
      // mmap/munmap: from the traced object when it has them (a static binary), else from libc
      const own = ElfFile.read(target)?.functionAddresses(['mmap', 'munmap']);
      const mmapFile = own && own.size ? target : libc;
      if (mmapFile) attachAll(mmapFile, MAPPING, '', undefined);
    };

    const banner = user
      ? `Tracing outstanding allocations of ${opts.pid !== undefined ? `PID ${opts.pid}` : 'the command'}${estimateNote}, a report every ${interval ?? 5} s`
      : `Tracing outstanding kernel allocations${estimateNote}, a report every ${interval ?? 5} s`;

    await runTrace({
      bpf: 'memleak',
      opts,
      interval: interval ?? 5,
      count,
      symbolizer,
      banner,
      groups,
      consts: {
        min_size: opts.minSize ?? 0,
        max_size: opts.maxSize ?? 0xffffffffffffffffn,
        sample_every: rate,
        wait_exec: opts.command !== undefined,
      },
      commandEnv: sampler ? { LD_PRELOAD: sampler, MEMSCOPE_SAMPLE_BYTES: String(opts.sampleBytes) } : undefined,
      configure(obj) {
        // stack storage where this mode needs it: kernel mode sees many distinct kernel stacks
        if (opts.maxAllocs !== undefined) obj.setMaxEntries('allocs', opts.maxAllocs);
        obj.setMaxEntries('ms_ustacks', 1);
        if (user) obj.setMaxEntries('ms_kstacks', 1);
        else obj.setMaxEntries('ms_kstacks', 16384).setMaxEntries('ml_stacks', 1);
      },
      attach: user ? attachUser : undefined,
      tick(obj) {
        report(obj, false);
      },
      finish(obj, reason: StopReason) {
        if (reason === 'count') {
          if (opts.folded || opts.svg || opts.pprof) report(obj, true);
          return;
        }
        report(obj, true);
      },
    });
  },
};

function kernelGroups(): ProbeGroup[] {
  const g = (what: string, btf: [string, string][], tp: [string, string][]): ProbeGroup => ({
    what,
    sources: [
      { name: `tp_btf ${btf.map(([t]) => t).join(', ')}`, programs: btf.map(([, p]) => p), requires: btf.map(([t]) => ({ btf: t })) },
      { name: `tracepoints ${tp.map(([t]) => t).join(', ')}`, programs: tp.map(([, p]) => p), requires: tp.map(([t]) => ({ tracepoint: t })) },
    ],
  });
  const groups = [
    g('kmalloc/kfree', [['kmalloc', 'kmalloc_btf'], ['kfree', 'kfree_btf']], [['kmem/kmalloc', 'kmalloc_tp'], ['kmem/kfree', 'kfree_tp']]),
    g(
      'kmem_cache_alloc/free',
      [['kmem_cache_alloc', 'kmem_cache_alloc_btf'], ['kmem_cache_free', 'kmem_cache_free_btf']],
      [['kmem/kmem_cache_alloc', 'kmem_cache_alloc_tp'], ['kmem/kmem_cache_free', 'kmem_cache_free_tp']],
    ),
    g(
      'page allocations',
      [['mm_page_alloc', 'page_alloc_btf'], ['mm_page_free', 'page_free_btf'], ['mm_page_free_batched', 'page_free_batched_btf']],
      [['kmem/mm_page_alloc', 'page_alloc_tp'], ['kmem/mm_page_free', 'page_free_tp'], ['kmem/mm_page_free_batched', 'page_free_batched_tp']],
    ),
    g(
      'percpu allocations',
      [['percpu_alloc_percpu', 'percpu_alloc_btf'], ['percpu_free_percpu', 'percpu_free_btf']],
      [['percpu/percpu_alloc_percpu', 'percpu_alloc_tp'], ['percpu/percpu_free_percpu', 'percpu_free_tp']],
    ),
  ];
  // "where present": a kind of allocation the kernel has no tracepoints for is left out (its
  // programs are not loaded); only when none is left is that an error
  for (const x of groups) if (typeof chooseSource(x) === 'string') x.off = true;
  if (groups.every((x) => x.off)) {
    throw new MemscopeError(`this kernel offers no kmem tracepoints (${chooseSource(groups[0])})`);
  }
  return groups;
}

/** Kernel frames from the allocation on: without the BPF program and tracepoint plumbing above it. */
function kernelFrames(frames: Frame[]): Frame[] {
  let i = 0;
  while (i < frames.length - 1 && (frames[i].module === 'bpf' || /^(bpf_trace_run\d|__bpf_trace_|__traceiter_|trace_)/.test(frames[i].symbol ?? ''))) i++;
  return frames.slice(i);
}

function formatRate(bytesPerSec: number): string {
  const sign = bytesPerSec > 0 ? '+' : bytesPerSec < 0 ? '-' : '';
  const v = Math.abs(bytesPerSec);
  const s = v >= 1 << 20 ? `${(v / (1 << 20)).toFixed(1)} MiB/s` : v >= 1024 ? `${(v / 1024).toFixed(1)} KiB/s` : `${Math.round(v)} B/s`;
  return sign + s;
}

