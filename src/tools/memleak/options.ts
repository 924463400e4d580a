// SPDX-License-Identifier: Apache-2.0
// memleak's options and their validation: what the user asked for, checked once, before anything
// is loaded, and the settings derived from it that the other parts share.
import type { Command } from 'commander';
import { addCommonOptions, addInterval, CommonOptions, InvalidArgumentError, Option } from '../options';
import { UsageError } from '../../core/errors';
import { addUnwindOptions, UnwindMode, UnwindOptions } from '../../unwind/dwarf-stacks';
import { examples } from '../tool';
import type { AttachPlan, Injected } from './inject';
import { samplerLibrary } from './sampler';

export interface MemleakOptions extends CommonOptions, UnwindOptions {
  older?: number;
  showAllocs?: boolean;
  trace?: boolean;
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
  waMissingFree?: boolean;
  percpu?: boolean;
  stackStorageSize?: number;
  /** false with --no-mmap */
  mmap: boolean;
  /** --unwind was given on the command line (not its default) */
  unwindGiven?: boolean;
}

/** What the parts of memleak derive from the options. */
export interface Settings {
  opts: MemleakOptions;
  /** -o was not given: BCC's 500 ms applies while the target runs, not to the report after it exited
   * (nothing is in flight then) */
  olderDefault: boolean;
  /** -p or -c: the allocator of a process; else kernel allocations */
  user: boolean;
  /** rows keep their process (text of kernel mode merges processes, as BCC does) */
  perProcess: boolean;
  /** --sample-bytes: the path of the sampler (preloaded by -c, loaded into the process by -p) */
  sampler?: string;
  /** -p --sample-bytes: how the sampler gets into the running process (memleak.ts plans it) */
  attachPlan?: AttachPlan;
  /** -p --sample-bytes once loaded: the redirected slots, put back at the end */
  injected?: Injected;
  /** -s N */
  rate: number;
  /** totals are estimates (sampled) */
  estimate: boolean;
  /** " (estimates: ...)" for titles, or '' */
  estimateNote: string;
  interval: number;
  count?: number;
  /** how user stacks are taken: --unwind, fp in kernel mode and with --combined-only */
  unwind: UnwindMode;
}

export const DEFAULT_OLDER_MS = 500;

function parseSize(v: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(v);
  if (!m) throw new InvalidArgumentError('expected a size in bytes (suffixes k, m, g allowed).');
  return Number(m[1]) * { '': 1, k: 1024, m: 1 << 20, g: 1 << 30 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
}

function parseWhole(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number.');
  return Number(v);
}

export function configure(cmd: Command): void {
  addUnwindOptions(addInterval(addCommonOptions(cmd, ['pid', 'command', 'json', 'folded', 'svg', 'pprof'])));
  // --sample-bytes takes frame-pointer stacks unless --unwind is asked for: validate() must know
  cmd.on('option:unwind', () => cmd.setOptionValue('unwindGiven', true));
  cmd
    .option('-o, --older <MS>', 'only allocations older than MS milliseconds (default 500, as BCC; 0 for all)', parseWhole)
    .option('-a, --show-allocs', 'list each outstanding address and size under its stack')
    .option('-t, --trace', 'print each recorded allocation and free as it happens, instead of the reports (as BCC)')
    .option('-T, --top <N>', 'show the N stacks with the most outstanding bytes', parseWhole, 10)
    .option('-z, --min-size <BYTES>', 'only allocations of at least BYTES', parseSize)
    .option('-Z, --max-size <BYTES>', 'only allocations of at most BYTES', parseSize)
    .option('-s, --sample-rate <RATE>', 'record 1 in RATE allocations (totals are scaled and marked as estimates)', parseWhole)
    .option(
      '--sample-bytes <BYTES>',
      'sample 1 per BYTES allocated, inside the process (lowest overhead): -c preloads the sampler, -p loads it into the running process; 1 traces every allocation exactly',
      parseSize,
    )
    .option('-C, --combined-only', 'report per-stack totals only (the cheapest report; implies --unwind fp and -o 0)')
    .option('--max-allocs <N>', 'size of the table of outstanding allocations (default 262144)', parseWhole)
    .addOption(new Option('--sort <KEY>', 'order stacks by outstanding size or count').choices(['size', 'count']).default('size'))
    .option('-O, --obj <LIB>', 'trace this allocator library or binary instead of libc (jemalloc, tcmalloc, a static binary)')
    .option('-S, --symbols-prefix <PREFIX>', "prefix of the allocator's function names (je_ for je_malloc)", '')
    .option('-F, --wa-missing-free', 'accepted for BCC: an address handed out again without a free seen always ends its old allocation here')
    .option('-P, --percpu', 'kernel mode: percpu allocations only (as BCC)')
    .option('--stack-storage-size <N>', 'distinct stacks kept (default 16384)', parseWhole)
    .option(
      '--no-mmap',
      "with -p/-c: leave out regions the program maps with mmap() itself (thread stacks, custom arenas); malloc's own large blocks stay counted",
    );
  cmd.addHelpText(
    'after',
    '\nWith -p or -c, traces the allocator of that process (malloc, calloc, realloc, posix_memalign,\n' +
      'aligned_alloc, memalign, valloc, pvalloc, free, mmap, munmap); without them, kernel allocations\n' +
      '(kmalloc, kmem_cache, pages, percpu). The caller of malloc is the first frame (read from the\n' +
      'return address at entry). User stacks are unwound with DWARF CFI (--unwind auto: up to\n' +
      '--unwind-rate allocations per second per CPU, then frame pointers); a frame-pointer stack ends\n' +
      'with [unwind stopped: no frame pointer in FN] where a function keeps none, never with a guess.\n' +
      'With --sample-bytes, stacks are walked by frame pointers unless --unwind is given: a DWARF\n' +
      "sample copies the user stack (microseconds per sample, the larger part of the sampler's cost).\n" +
      'An exec of the target ends the records of its old image. -c runs a command line as /bin/sh\n' +
      'does (VAR=1 cmd, cd dir && cmd, cmd < file) and traces the program its last command runs.\n' +
      'Each report shows, per stack, the growth of its outstanding bytes across reports: a leak grows,\n' +
      'a long-lived allocation stays flat (a stack unchanged over its last 3 reports is flat, whatever it\n' +
      'did before). Each text report ends with the grand total over every stack, saying whether regions\n' +
      'the program mapped with mmap() itself (thread stacks) are counted (--no-mmap leaves them out).\n' +
      'As BCC, allocations younger than 500 ms are not reported (-o); the report after the target\n' +
      'exited shows every allocation (nothing is in flight then).\n' +
      examples([
        ['memscope memleak -p 181', 'outstanding allocations of PID 181, every 5 s'],
        ['memscope memleak -p 181 -o 60000 10', 'only allocations older than a minute, every 10 s'],
        ['memscope memleak -c "./server --port 8080"', 'start a command traced from its first instruction'],
        ['memscope memleak -c ./server --sample-bytes 512k', 'in-process sampling: lowest overhead, estimates'],
        ['memscope memleak -p 181 --sample-bytes 1m', 'the same sampler loaded into a running process (ptrace)'],
        ['memscope memleak -p 181 --sample-bytes 1', "every allocation, exact, at a fraction of the uprobes' cost"],
        ['memscope memleak -p 181 -O /usr/lib/libjemalloc.so.2 --symbols-prefix je_', 'a jemalloc with prefixed names'],
        ['memscope memleak -p 181 -s 10 --combined-only', 'cheaper: 1 in 10 allocations, totals only'],
        ['memscope memleak -c "cd /srv && PYTHONMALLOC=malloc python3 app.py"', 'a command line, as the shell runs it'],
        ['memscope memleak -p 181 --unwind dwarf', 'every stack unwound with CFI (no rate limit)'],
        ['memscope memleak 10 3', 'kernel allocations: three reports 10 s apart'],
        ['memscope memleak -p 181 --svg leak.svg 30 1', 'a flame graph of outstanding bytes after 30 s'],
      ]),
  );
}

/**
 * The sampler's report title note. At 1 byte every byte is a sample point: each allocation is
 * reported once at its own size (shim/memscope_sampler.c draws intervals of exactly N below 5),
 * an exact trace, not an estimate. `preloaded`: the rate of a sampler a memleak -c started.
 */
export function samplerNote(bytes: number, attached: boolean, preloaded = false): Pick<Settings, 'estimate' | 'estimateNote'> {
  const before = attached ? '; memory allocated before the attach is not counted' : '';
  const by = preloaded ? ' by the sampler it preloads' : '';
  if (bytes === 1) return { estimate: false, estimateNote: ` (every allocation, through the in-process sampler${by}${before})` };
  return { estimate: true, estimateNote: ` (estimates: sampled 1 per ${bytes} bytes${by}${before})` };
}

/** Checks the options against each other (one line and exit 2 on a conflict). */
export function validate(opts: MemleakOptions, interval: number | undefined, count: number | undefined): Settings {
  const user = opts.pid !== undefined || opts.command !== undefined;
  if (opts.combinedOnly && ((opts.older !== undefined && opts.older > 0) || opts.showAllocs)) {
    throw new UsageError('-o and -a need each allocation; --combined-only keeps per-stack totals only');
  }
  // BCC's default age: allocations younger than 500 ms are not reported (--combined-only keeps no ages)
  const olderDefault = opts.older === undefined && !opts.combinedOnly;
  if (olderDefault) opts.older = DEFAULT_OLDER_MS;
  if (opts.older === 0) opts.older = undefined;
  if (opts.trace && !user) throw new UsageError('-t traces the allocator calls of a process: it needs -p or -c');
  if (opts.trace && opts.sampleBytes !== undefined) throw new UsageError('-t prints every call; --sample-bytes sees only the sampled ones');
  if (opts.percpu && user) throw new UsageError('--percpu traces kernel percpu allocations: it takes no -p or -c');
  if (opts.stackStorageSize !== undefined && opts.stackStorageSize < 1) throw new UsageError('--stack-storage-size must be at least 1');
  if (opts.sampleBytes !== undefined) {
    if (!user) throw new UsageError('--sample-bytes works with -c or -p (the sampler runs inside the process)');
    if (opts.sampleRate !== undefined || opts.obj) throw new UsageError('--sample-bytes replaces -s and -O');
    if (opts.sampleBytes < 1) throw new UsageError('--sample-bytes must be at least 1');
    // the sampler takes a mean of at most 2^30 and ignores a larger one (MEAN_INTERVAL_MAX, shim/memscope_sampler.c)
    if (opts.sampleBytes > 2 ** 30) throw new UsageError('--sample-bytes must be at most 1g');
  }
  if (opts.sampleRate !== undefined && opts.sampleRate < 1) throw new UsageError('-s RATE must be at least 1');
  if (opts.maxAllocs !== undefined && opts.maxAllocs < 1) throw new UsageError('--max-allocs must be at least 1');
  if (!user && opts.obj) throw new UsageError('-O needs a process (-p or -c)');
  if (opts.minSize !== undefined && opts.maxSize !== undefined && opts.minSize > opts.maxSize) {
    throw new UsageError('-z must not be larger than -Z');
  }
  const sampler = opts.sampleBytes !== undefined ? samplerLibrary() : undefined;
  const rate = opts.sampleRate ?? 1;
  return {
    opts,
    olderDefault,
    user,
    perProcess: user || !!opts.json,
    sampler,
    rate,
    ...(sampler
      ? samplerNote(opts.sampleBytes!, opts.pid !== undefined)
      : { estimate: rate > 1, estimateNote: rate > 1 ? ` (estimates: sampled 1 in ${rate} allocations)` : '' }),
    interval: interval ?? 5,
    count,
    // the sampler's cost is its samples: a DWARF sample copies up to --unwind-bytes of user stack
    // and costs several times a frame-pointer walk in BPF (bench:memleak), so samples walk frame
    // pointers unless --unwind is asked for
    unwind: !user || opts.combinedOnly || (sampler !== undefined && !opts.unwindGiven) ? 'fp' : opts.unwind,
  };
}
