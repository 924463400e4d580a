// SPDX-License-Identifier: Apache-2.0
// memleak -p PID --sample-bytes N: the sampler that -c preloads, loaded into a running process.
// Checked first (each refusal one line, before anything is loaded), then build/shim/memscope-inject
// has one thread of the target dlopen the sampler and start it, and memscope points the
// allocator slots of the target's modules at the sampler (got.ts). When memscope ends the slots
// are put back; if it is killed, the sampler notices (its lifeline) and only forwards to glibc.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemscopeError } from '../../core/errors';
import { projectRoot } from '../../core/paths';
import { readMaps } from '../../procfs/maps';
import { ElfFile } from '../../symbols/elf';
import { moduleBase, redirect, restore, Slot, TargetMemory, visiblePath, WRAPPED } from './got';
import { readDesc } from './shim-desc';
import { SAMPLER_MODULE } from './sampler';

const OTHER_ALLOCATORS = /^lib(jemalloc|tcmalloc(_minimal)?|mimalloc|hoard|snmalloc)\b/;

/** How memscope gets the sampler into the process. */
export interface AttachPlan {
  pid: number;
  /** the sampler file whose hooks are probed (the one the process has mapped, when it has one) */
  shim: string;
  /** the process preloads the sampler (memleak -c): its hooks are probed as they are, at its rate */
  preloaded: boolean;
  /** the preloaded sampler's bytes per sample */
  rate?: number;
  libc: string;
}

function status(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    throw new MemscopeError(`PID ${pid} has exited`);
  }
}

/** The refusals of issue 17: where loading a library into the process cannot be done safely. */
export function planAttach(pid: number, ourShim: string): AttachPlan {
  const refuse = (why: string) => new MemscopeError(`cannot load the sampler into PID ${pid}: ${why}`);
  if (process.arch !== 'x64') throw refuse(`memscope-inject knows x86-64 only (this is ${process.arch})`);
  let yama = '';
  try {
    yama = fs.readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim();
  } catch {
    // no YAMA in this kernel: ptrace is allowed to root
  }
  if (yama === '3') throw refuse('ptrace is disabled on this system (kernel.yama.ptrace_scope = 3); memleak -p without --sample-bytes uses uprobes');
  const st = status(pid);
  const tracer = Number(/^TracerPid:\s+(\d+)/m.exec(st)?.[1] ?? 0);
  if (tracer) throw refuse(`it is being traced by PID ${tracer} (${comm(tracer)}), and a process has one tracer at a time`);
  const seccomp = Number(/^Seccomp:\s+(\d+)/m.exec(st)?.[1] ?? 0);
  if (seccomp) {
    throw refuse(
      `it runs under seccomp (${seccomp === 1 ? 'strict mode' : 'a filter'}), which may refuse or kill the open and mmap of loading a library; memleak -p without --sample-bytes uses uprobes`,
    );
  }
  const maps = readMaps(pid) ?? [];
  const files = [...new Set(maps.filter((m) => m.path.startsWith('/')).map((m) => m.path))];
  // Debian maps musl's loader as /usr/lib/x86_64-linux-musl/libc.so, Alpine as /lib/ld-musl-x86_64.so.1
  const musl = files.find((p) => /musl/.test(p) && /\/(ld-musl-[^/]*|libc\.so[.\d]*|libc\.musl[^/]*)$/.test(p));
  if (musl) throw refuse(`its libc is musl (${musl}), not glibc; memleak -p ${pid} -O ${musl} traces its malloc with uprobes`);
  const libc = files.find((p) => /\/libc(\.so[.\d]*|-[\d.]+\.so)$/.test(p));
  if (!libc) {
    throw refuse(`it has no libc.so mapped (a static binary?): nothing to redirect; memleak -p ${pid} -O /proc/${pid}/exe traces its allocator with uprobes`);
  }
  const other = files.map((p) => path.basename(p)).find((b) => OTHER_ALLOCATORS.test(b));
  if (other) throw refuse(`it allocates with ${other}, not glibc's malloc; memleak -p ${pid} -O ${other} traces that allocator with uprobes`);

  const mapped = files.find((p) => path.basename(p) === SAMPLER_MODULE);
  const shim = mapped ?? ourShim;
  if (!mapped) {
    // dlopen in the target opens the path in the target's file system
    const ours = fs.statSync(ourShim);
    let theirs: fs.Stats | undefined;
    try {
      theirs = fs.statSync(`/proc/${pid}/root${ourShim}`);
    } catch {
      // not visible there
    }
    if (!theirs || theirs.ino !== ours.ino || theirs.dev !== ours.dev) {
      throw refuse(`it sees another file system (a container?) where ${ourShim} is not memscope's sampler`);
    }
  }
  if (mapped) {
    // attach_pidfd is -1 in a sampler that was preloaded and never attached (memscope_attach.c)
    const mem = new TargetMemory(pid);
    try {
      const d = readDesc(pid, mem.fd, shim, maps);
      if (typeof d === 'string') throw refuse(`it has a sampler memscope cannot read: ${d}`);
      if (mem.read(d.attachPidfd, 4).readInt32LE(0) === -1) {
        return { pid, shim, preloaded: true, rate: Number(mem.u64(d.meanInterval)), libc };
      }
    } finally {
      mem.close();
    }
  }
  return { pid, shim, preloaded: false, libc };
}

function comm(pid: number): string {
  try {
    return fs
      .readFileSync(`/proc/${pid}/comm`, 'utf8')
      .trim()
      .replace(/[^\x20-\x7e]/g, '?');
  } catch {
    return '?';
  }
}

export function injector(): string {
  const bin = path.join(projectRoot, 'build', 'shim', 'memscope-inject');
  if (!fs.existsSync(bin)) throw new MemscopeError(`${bin} is missing: run the README's setup command (or make -C shim)`);
  return bin;
}

/** The addresses of functions of a module loaded in the process. */
function loadedFunctions(pid: number, file: string, names: string[]): Map<string, bigint> {
  const elf = ElfFile.read(visiblePath(pid, file));
  const base = elf ? moduleBase(readMaps(pid) ?? [], file, elf) : undefined;
  const out = new Map<string, bigint>();
  if (!elf || base === undefined) return out;
  for (const [n, a] of elf.functionAddresses(names)) out.set(n, BigInt(base + a));
  return out;
}

export interface Injected {
  /** the thread that loaded the sampler, and how long it was stopped */
  tid: number;
  pauseMs: number;
  /** the pause's parts: stopping the thread, its dlopen of the sampler, starting the sampler */
  parts: { stopMs: number; dlopenMs: number; startMs: number };
  slots: Slot[];
  /** puts the slots back (idempotent) */
  detach(): number;
}

/** Loads the sampler into the process and redirects its allocator slots. */
export function inject(plan: AttachPlan, meanBytes: number): Injected {
  const { pid, shim } = plan;
  const libcFns = loadedFunctions(pid, plan.libc, ['dlopen', '__libc_dlopen_mode', ...WRAPPED]);
  const dlopen = libcFns.get('dlopen') ?? libcFns.get('__libc_dlopen_mode');
  if (dlopen === undefined) throw new MemscopeError(`cannot load the sampler into PID ${pid}: ${plan.libc} has no dlopen`);
  const begin = ElfFile.read(visiblePath(pid, shim))?.functionAddresses(['memscope_attach_begin']).get('memscope_attach_begin');
  if (begin === undefined) throw new MemscopeError(`${shim} has no memscope_attach_begin: rebuild it (make -C shim)`);
  let out: string;
  try {
    out = execFileSync(injector(), [String(pid), `0x${dlopen.toString(16)}`, shim, `0x${begin.toString(16)}`, String(meanBytes), String(process.pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
  } catch (e) {
    const err = e as { stdout?: string; message: string };
    const line = /^error: (.*)$/m.exec(err.stdout ?? '')?.[1] ?? err.message.split('\n')[0];
    throw new MemscopeError(`cannot load the sampler into PID ${pid}: ${line}`);
  }
  const m = /^ok (-?\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$/m.exec(out);
  if (!m) throw new MemscopeError(`cannot load the sampler into PID ${pid}: memscope-inject said ${JSON.stringify(out.slice(0, 200))}`);
  const begun = Number(m[1]);
  if (begun === -16) throw new MemscopeError(`PID ${pid} is already sampled by another memscope (memleak -p --sample-bytes): end that one first`);
  if (begun !== 0) throw new MemscopeError(`cannot start the sampler in PID ${pid}: error ${-begun} (${errnoName(-begun)})`);
  const wrapped = loadedFunctions(pid, shim, WRAPPED);
  const libcOnly = new Map([...libcFns].filter(([n]) => WRAPPED.includes(n)));
  const mem = new TargetMemory(pid);
  const slots = redirect(mem, pid, shim, wrapped, libcOnly);
  let done = false;
  const detach = () => {
    if (done) return 0;
    done = true;
    const n = restore(mem, slots);
    mem.close();
    return n;
  };
  // an error or exit of memscope puts the slots back too (SIGKILL cannot: the lifeline does)
  process.once('exit', detach);
  const ms = (i: number) => Number(m[i]) / 1000;
  return { tid: Number(m[3]), pauseMs: ms(2), parts: { stopMs: ms(4), dlopenMs: ms(5), startMs: ms(6) }, slots, detach };
}

function errnoName(n: number): string {
  return Object.entries(os.constants.errno).find(([, v]) => v === n)?.[0] ?? '?';
}
