// SPDX-License-Identifier: Apache-2.0
// Where memleak's probes go: the allocator library of the target (uprobes, attached here after
// load) or the kernel's kmem tracepoints (probe groups chosen by the session), and the hints and
// errors about a target whose allocator cannot be traced.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BpfObject } from '../../engine/bpf-object';
import { MemscopeError, UsageError } from '../../core/errors';
import { chooseSource, ProbeGroup } from '../../engine/sources';
import { readMaps } from '../../procfs/maps';
import { ElfFile } from '../../symbols/elf';
import type { Settings } from './options';
import { inject } from './inject';
import { emulatedProbeOffset } from './probe-offset';
import { SAMPLER_ALLOC_HOOK, SAMPLER_FREE_HOOK } from './sampler';

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
const USER_PROGRAMS = [
  'malloc_enter',
  'calloc_enter',
  'realloc_enter',
  'memalign_enter',
  'posix_memalign_enter',
  'mmap_enter',
  'alloc_return',
  'free_enter',
  'munmap_enter',
];
const SAMPLER_PROGRAMS = ['sampled_alloc', 'sampled_free'];
/** Allocators that replace malloc without going through libc's: a target using one needs -O. */
const OTHER_ALLOCATORS = /^lib(jemalloc|tcmalloc(_minimal)?|mimalloc|hoard|snmalloc)\b/;

/** The probe groups: one manual source for the uprobes (attached by attachAllocator), or the kmem tracepoints. */
export function probeGroups(s: Settings): ProbeGroup[] {
  const groups: ProbeGroup[] = s.user
    ? [
        {
          what: s.sampler ? 'sampled allocations (preloaded sampler hooks)' : 'allocator calls (uprobes)',
          sources: [
            {
              name: s.sampler ? 'uprobes on the sampler hooks' : 'uprobes on the allocator',
              // the user-mode programs belong to this manual source: the ones this mode uses load
              programs: s.sampler ? SAMPLER_PROGRAMS : USER_PROGRAMS,
              requires: [{ always: true }],
              attach: 'manual',
            },
          ],
        },
      ]
    : kernelGroups(s.opts.percpu === true);
  groups.push({
    what: "the target's exec",
    off: !s.user,
    sources: [
      { name: 'tp_btf sched_process_exec', programs: ['exec_btf'], requires: [{ btf: 'sched_process_exec' }] },
      { name: 'tracepoint sched/sched_process_exec', programs: ['exec_tp'], requires: [{ tracepoint: 'sched/sched_process_exec' }] },
    ],
  });
  const unused = s.user ? (s.sampler ? USER_PROGRAMS : SAMPLER_PROGRAMS) : [...USER_PROGRAMS, ...SAMPLER_PROGRAMS];
  groups.push({ what: 'unused', off: true, sources: [{ name: '', programs: unused, requires: [] }] });
  return groups;
}

function kernelGroups(percpuOnly: boolean): ProbeGroup[] {
  const g = (what: string, btf: [string, string][], tp: [string, string][]): ProbeGroup => ({
    what,
    sources: [
      { name: `tp_btf ${btf.map(([t]) => t).join(', ')}`, programs: btf.map(([, p]) => p), requires: btf.map(([t]) => ({ btf: t })) },
      { name: `tracepoints ${tp.map(([t]) => t).join(', ')}`, programs: tp.map(([, p]) => p), requires: tp.map(([t]) => ({ tracepoint: t })) },
    ],
  });
  const groups = [
    g(
      'kmalloc/kfree',
      [
        ['kmalloc', 'kmalloc_btf'],
        ['kfree', 'kfree_btf'],
      ],
      [
        ['kmem/kmalloc', 'kmalloc_tp'],
        ['kmem/kfree', 'kfree_tp'],
      ],
    ),
    g(
      'kmem_cache_alloc/free',
      [
        ['kmem_cache_alloc', 'kmem_cache_alloc_btf'],
        ['kmem_cache_free', 'kmem_cache_free_btf'],
      ],
      [
        ['kmem/kmem_cache_alloc', 'kmem_cache_alloc_tp'],
        ['kmem/kmem_cache_free', 'kmem_cache_free_tp'],
      ],
    ),
    g(
      'page allocations',
      [
        ['mm_page_alloc', 'page_alloc_btf'],
        ['mm_page_free', 'page_free_btf'],
        ['mm_page_free_batched', 'page_free_batched_btf'],
      ],
      [
        ['kmem/mm_page_alloc', 'page_alloc_tp'],
        ['kmem/mm_page_free', 'page_free_tp'],
        ['kmem/mm_page_free_batched', 'page_free_batched_tp'],
      ],
    ),
    g(
      'percpu allocations',
      [
        ['percpu_alloc_percpu', 'percpu_alloc_btf'],
        ['percpu_free_percpu', 'percpu_free_btf'],
      ],
      [
        ['percpu/percpu_alloc_percpu', 'percpu_alloc_tp'],
        ['percpu/percpu_free_percpu', 'percpu_free_tp'],
      ],
    ),
  ];
  // "where present": a kind of allocation the kernel has no tracepoints for is left out (its
  // programs are not loaded); only when none is left is that an error
  for (const x of groups) if (typeof chooseSource(x) === 'string' || (percpuOnly && x.what !== 'percpu allocations')) x.off = true;
  if (groups.every((x) => x.off)) {
    throw new MemscopeError(`this kernel offers no kmem tracepoints (${chooseSource(groups[0])})`);
  }
  return groups;
}

/** A mapped file of the process whose path passes test (through /proc/PID/root when not visible here). */
function findInMaps(pid: number, test: (p: string) => boolean): string | undefined {
  const m = (readMaps(pid) ?? []).find((x) => x.path.startsWith('/') && test(x.path));
  if (!m) return undefined;
  return fs.existsSync(m.path) ? m.path : `/proc/${pid}/root${m.path}`;
}

export function libcOf(pid: number): string | undefined {
  return findInMaps(pid, (p) => /\/libc(\.so[.\d]*|-[\d.]+\.so)$/.test(p));
}

function resolveLibrary(spec: string, pid: number): string {
  if (spec.includes('/')) {
    if (!fs.existsSync(spec)) throw new UsageError(`-O ${spec}: no such file`);
    return spec;
  }
  const found = findInMaps(pid, (p) => path.basename(p) === spec || path.basename(p).startsWith(spec + '.'));
  if (!found) throw new UsageError(`-O ${spec}: not mapped by the target (give its full path)`);
  return found;
}

/** Why a process has no libc to probe when it is not a static binary: it is exiting. */
function exitingReason(pid: number): string | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return `PID ${pid} has exited`;
  }
  const state = /^\d+ \(.*\) (\S)/s.exec(stat)?.[1];
  if (state === 'Z' || state === 'X') return `PID ${pid} has exited (a zombie): it has no memory left to trace`;
  if ((readMaps(pid) ?? []).length === 0) return `PID ${pid} is exiting: its memory is already gone`;
  return undefined;
}

interface Probe {
  prog: string;
  file: string;
  name: string;
  ret: boolean;
  offset: number;
}

/** The reason of a failed uprobe attach, in a few words (libbpf's message is long). */
function attachError(e: Error): string {
  const errno = Number(/errno (\d+)/.exec(e.message)?.[1]);
  if (errno === 524) return 'the kernel cannot put a uprobe on its first instruction (ENOTSUPP)';
  const name = Object.entries(os.constants.errno).find(([, v]) => v === errno)?.[0];
  return name
    ? `${name} (${e.message
        .replace(/^cannot attach a uprobe to [^:]*: /, '')
        .split('\n')[0]
        .slice(0, 120)})`
    : e.message;
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/**
 * One uprobe, tried again a few times: attaching can fail for a moment while another tracer
 * changes uprobes on the same file (EINVAL seen with two memleak runs on one libc).
 */
async function attachRetrying(obj: BpfObject, p: Probe, pid: number, retprobe: boolean): Promise<string | null> {
  let last = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      obj.attachUprobe(retprobe ? 'alloc_return' : p.prog, p.file, p.name, { pid, retprobe, offset: p.offset });
      return null;
    } catch (e) {
      last = attachError(e as Error);
      await sleep(50 << attempt);
    }
  }
  return last;
}

/** Uprobes on the target's allocator (or on the sampler's hooks), attached once the object is loaded. */
export async function attachAllocator(obj: BpfObject, pid: number | undefined, s: Settings): Promise<void> {
  if (pid === undefined) return;
  const { opts } = s;
  if (s.sampler) {
    // the hooks first: the sampler's first samples after the slots are redirected are seen
    obj.attachUprobe('sampled_alloc', s.sampler, SAMPLER_ALLOC_HOOK, { pid });
    obj.attachUprobe('sampled_free', s.sampler, SAMPLER_FREE_HOOK, { pid });
    if (opts.verbose) process.stderr.write(`memscope: sampler ${s.sampler} (1 per ${opts.sampleBytes} bytes)\n`);
    const plan = s.attachPlan;
    if (plan?.preloaded) {
      process.stderr.write(`memscope: memleak: PID ${pid} preloads the sampler (memleak -c): probing its hooks at its rate, 1 per ${plan.rate} bytes\n`);
    } else if (plan) {
      const inj = (s.injected = inject(plan, opts.sampleBytes!));
      if (!inj.slots.length) throw new MemscopeError(`PID ${pid} has no allocator slot to redirect (its modules call no malloc through a GOT)`);
      process.stderr.write(
        `memscope: memleak: sampler loaded into PID ${pid} (thread ${inj.tid} stopped ${inj.pauseMs.toFixed(2)} ms, ` +
          `${inj.slots.length} allocator slots redirected); memory allocated before now is not counted\n`,
      );
      if (opts.verbose) {
        const p = inj.parts;
        process.stderr.write(`memscope: pause: ${p.stopMs.toFixed(2)} ms to stop the thread, ${p.dlopenMs.toFixed(2)} ms dlopen, ${p.startMs.toFixed(2)} ms to start the sampler\n`);
      }
      if (opts.verbose) for (const x of inj.slots) process.stderr.write(`memscope: ${x.fn} slot of ${x.module} -> sampler\n`);
    }
    return;
  }
  const libc = libcOf(pid);
  const target = opts.obj ? resolveLibrary(opts.obj, pid) : libc;
  if (!target) {
    throw new MemscopeError(exitingReason(pid) ?? `cannot find libc in /proc/${pid}/maps (a static binary?): name the allocator with -O LIB`);
  }
  if (!opts.obj) hintOtherAllocator(pid);
  const probes: Probe[] = [];
  const seen = new Set<string>();
  const plan = (file: string, fns: [string, string, boolean][], prefix: string, required: string | undefined) => {
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
      if (seen.has(`${file}@${at}`)) continue; // an alias (aligned_alloc = memalign): probe the address once
      seen.add(`${file}@${at}`);
      // probe an instruction the kernel emulates (free: past its `test %rdi,%rdi`): a third of the cost
      probes.push({ prog, file, name, ret, offset: emulatedProbeOffset(elf, at) });
    }
  };
  plan(target, ALLOCATOR, opts.symbolsPrefix, 'malloc');
  // mmap/munmap: from the traced object when it has them (a static binary), else from libc
  const own = ElfFile.read(target)?.functionAddresses(['mmap', 'munmap']);
  const mmapFile = own && own.size ? target : libc;
  if (mmapFile && opts.mmap !== false) plan(mmapFile, MAPPING, '', undefined);

  // return probes first: an entry seen is then always followed by its return (a uretprobe
  // attached while a call runs misses that call's return). A probe that cannot be attached is
  // left out and said, unless it is malloc's: without it nothing would be traced.
  const failed = new Set<Probe>();
  const fail = (p: Probe, why: string) => {
    const where = `${p.name} in ${p.file}`;
    if (p.name === opts.symbolsPrefix + 'malloc' && p.file === target) throw new MemscopeError(`cannot attach a uprobe to ${where}: ${why}`);
    failed.add(p);
    process.stderr.write(`memscope: memleak: cannot attach a uprobe to ${where}: ${why}; going on without ${p.name} (its calls are not traced)\n`);
  };
  for (const p of probes) {
    if (!p.ret) continue;
    const err = await attachRetrying(obj, p, pid, true);
    if (err) fail(p, err);
  }
  for (const p of probes) {
    if (failed.has(p)) continue;
    const err = await attachRetrying(obj, p, pid, false);
    if (err) fail(p, err);
    else if (opts.verbose) process.stderr.write(`memscope: uprobe ${p.name}${p.offset ? `+${p.offset}` : ''} in ${p.file}\n`);
  }
}

/** A process whose malloc is another allocator's: libc's malloc sees none of its allocations. */
function hintOtherAllocator(pid: number): void {
  const lib = findInMaps(pid, (p) => OTHER_ALLOCATORS.test(path.basename(p)));
  if (lib) {
    const base = path.basename(lib);
    process.stderr.write(`memscope: memleak: PID ${pid} uses ${base}, not libc's malloc: trace its allocator with -O ${base}\n`);
  }
}
