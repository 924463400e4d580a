// SPDX-License-Identifier: Apache-2.0
// Probe names as users type them for BCC and bpftrace, resolved against this kernel:
//   t:vmscan:*  tracepoint:syscalls:sys_enter_brk  t:compaction:mm_compaction_*   (classic tracepoints)
//   software:page-faults:1  s:major-faults  software:cpu-clock:1000000            (perf software events)
//   hardware:cache-misses:100000                                                 (needs a PMU)
//   p:c:malloc  r:c:malloc  c:free  uprobe:/bin/bash:readline                    (uprobes, uretprobes)
//   u:python3.11:gc__start  u:stdc++:throw  usdt:/usr/bin/python3.11:python:line  (USDT, BCC's u:)
// One generic BPF program serves them all: each attachment carries a cookie (the probe's index),
// read in BPF with bpf_get_attach_cookie (bpf_usdt_cookie for USDT), so per-probe counts need no
// program per probe.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { noTracefsReason, tracefs } from '../procfs/tracefs';
import { btfTracepointsAmong } from './features';
import { MemscopeError, UsageError } from '../core/errors';
import type { BpfObject } from './bpf-object';
import { PERF_TYPE_SOFTWARE, ProbeGroup } from './sources';
import { ElfFile } from '../symbols/elf';
import { usdtProbes } from '../symbols/usdt';
import { HARDWARE_EVENT_NAMES, HARDWARE_EVENTS, hasPmu, noPmuMessage } from './pmu';

export interface TracepointProbe {
  kind: 'tracepoint';
  category: string;
  name: string;
  /** "category:name", as printed. */
  label: string;
}

/** A perf event sampled every `period` events: software (cpu-clock, page-faults) or, on machines
 * with a PMU, hardware (hardware:cache-misses:PERIOD, as bpftrace and perf record -c). */
export interface SoftwareProbe {
  kind: 'software';
  event: string;
  /** perf_event_attr type: PERF_TYPE_SOFTWARE, or PERF_TYPE_HARDWARE / PERF_TYPE_HW_CACHE. */
  perfType: number;
  config: number;
  period: number;
  label: string;
}

export interface UprobeProbe {
  kind: 'uprobe';
  /** The ELF file (executable or library) as resolved. */
  file: string;
  func: string;
  retprobe: boolean;
  label: string;
}

/** A USDT probe (BCC's u:LIB:PROBE, bpftrace's usdt:PATH:[PROVIDER:]PROBE). */
export interface UsdtProbe {
  kind: 'usdt';
  file: string;
  provider: string;
  name: string;
  label: string;
}

export type Probe = TracepointProbe | SoftwareProbe | UprobeProbe | UsdtProbe;

/** An ELF executable of that name on PATH (BCC's find_exe), or null. */
function findExecutable(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const f = path.join(dir || '.', name);
    try {
      const fd = fs.openSync(f, 'r');
      const magic = Buffer.alloc(4);
      fs.readSync(fd, magic, 0, 4, 0);
      fs.closeSync(fd);
      // an ELF file, not a wrapper script (pyenv's shims are shell scripts)
      if (magic.readUInt32BE(0) === 0x7f454c46) return fs.realpathSync(f);
    } catch {
      /* not here */
    }
  }
  return null;
}

/** "c" (BCC's libc shorthand), "libc", "pthread", a path, or an executable on PATH (python3.11)
 * → the file a uprobe or USDT probe goes into. Names starting with "lib" are libraries first. */
export function resolveLibrary(name: string): string {
  if (name.includes('/')) return checkElf(name);
  const exe = name.startsWith('lib') ? null : findExecutable(name);
  if (exe) return exe;
  const base = name.startsWith('lib') ? name : `lib${name}`;
  const cached = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of cached.split('\n')) {
    const m = /^\s*(\S+) \(([^)]*)\) => (\S+)$/.exec(line);
    if (m && m[2].includes('x86-64') === (process.arch === 'x64') && (m[1] === `${base}.so` || m[1].startsWith(`${base}.so.`))) return fs.realpathSync(m[3]);
  }
  throw new MemscopeError(`no library or executable '${name}' found (give its path, e.g. p:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc)`);
}

/** u:LIB:PROBE or u:LIB:PROVIDER:PROBE (BCC), usdt:PATH:[PROVIDER:]PROBE (bpftrace). */
function resolveUsdt(spec: string, parts: string[]): UsdtProbe[] {
  if (parts.length < 3 || parts.length > 4 || !parts[1] || !parts[parts.length - 1]) {
    throw new UsageError(`bad USDT probe '${spec}': expected u:LIBRARY_OR_PATH:PROBE (e.g. u:python3.11:gc__start) or u:LIBRARY:PROVIDER:PROBE`);
  }
  const file = resolveLibrary(parts[1]);
  const name = parts[parts.length - 1];
  const provider = parts.length === 4 ? parts[2] : undefined;
  const all = usdtProbes(file);
  const found = all.filter((p) => p.name === name && (!provider || p.provider === provider));
  if (found.length === 0) {
    // memscope's old u:LIB:FUNC meant a uprobe: say how that is written now
    const isFunc = parts.length === 3 && ElfFile.read(file)?.symbols().addressOf(name) != null;
    if (isFunc) {
      throw new UsageError(
        `'${spec}': u: is a USDT probe (BCC's syntax) and ${path.basename(file)} has no USDT probe '${name}'; for a uprobe on the function write p:${parts[1]}:${name} (uretprobe: r:${parts[1]}:${name})`,
      );
    }
    const some = all.slice(0, 5).map((p) => `${p.provider}:${p.name}`).join(', ');
    throw new MemscopeError(`no USDT probe '${provider ? `${provider}:` : ''}${name}' in ${file}${all.length ? ` (it has ${all.length}, e.g. ${some})` : ' (it has no USDT probes)'}`);
  }
  if (found.length > 1) throw new UsageError(`'${spec}': ${found.length} providers have a probe '${name}' in ${file}: name one, u:${parts[1]}:PROVIDER:${name}`);
  return [{ kind: 'usdt', file, provider: found[0].provider, name, label: `usdt:${path.basename(file)}:${found[0].provider}:${name}` }];
}

/**
 * A uprobe's file must be a readable ELF file: libbpf says "Unknown error 4001" of anything else,
 * and opening a FIFO would block until a writer comes (past any duration). Checked by stat()
 * before it is opened, and by its magic number.
 */
export function checkElf(name: string): string {
  let real: string;
  let st: fs.Stats;
  try {
    real = fs.realpathSync(name);
    st = fs.statSync(real);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MemscopeError(code === 'ENOENT' ? `no file ${name}` : `cannot use ${name}: ${code ?? (e as Error).message}`);
  }
  if (!st.isFile()) {
    const what = st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file';
    throw new MemscopeError(`cannot put a uprobe in ${name}: it is ${what}, not an ELF executable or library`);
  }
  const magic = Buffer.alloc(4);
  let fd: number | undefined;
  try {
    fd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    fs.readSync(fd, magic, 0, 4, 0);
  } catch (e) {
    throw new MemscopeError(`cannot read ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  if (!magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) throw new MemscopeError(`cannot put a uprobe in ${name}: not an ELF file (no \\x7fELF header)`);
  return real;
}

/** perf software events by bpftrace's names and aliases: [config, default period]. */
export const SOFTWARE_EVENTS: Record<string, [number, number]> = {
  'cpu-clock': [0, 1_000_000],
  cpu: [0, 1_000_000],
  'task-clock': [1, 1_000_000],
  'page-faults': [2, 1],
  'page-fault': [2, 1],
  faults: [2, 1],
  'context-switches': [3, 1],
  cs: [3, 1],
  'cpu-migrations': [4, 1],
  'minor-faults': [5, 1],
  'major-faults': [6, 1],
  'alignment-faults': [7, 1],
  'emulation-faults': [8, 1],
};

/** Canonical names (no aliases) for `memscope list`. */
export const SOFTWARE_EVENT_NAMES = ['cpu-clock', 'task-clock', 'page-faults', 'context-switches', 'cpu-migrations', 'minor-faults', 'major-faults', 'alignment-faults', 'emulation-faults'];

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

function listDirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch { // no such category directory (or tracefs unreadable): no tracepoint matches
    return [];
  }
}

/** Every classic tracepoint of this kernel as [category, name]. */
export function allTracepoints(): [string, string][] {
  const root = tracefs();
  if (!root) throw new MemscopeError(noTracefsReason());
  const out: [string, string][] = [];
  // every directory under a category is an event (with its format file)
  for (const cat of listDirs(`${root}/events`)) for (const name of listDirs(`${root}/events/${cat}`)) out.push([cat, name]);
  return out;
}

/** Tracepoints matching a "category:name" glob. */
export function matchTracepoints(catGlob: string, nameGlob: string): [string, string][] {
  const root = tracefs();
  if (!root) throw new MemscopeError(noTracefsReason());
  if (!/[*?]/.test(catGlob + nameGlob)) {
    return fs.existsSync(`${root}/events/${catGlob}/${nameGlob}/format`) ? [[catGlob, nameGlob]] : [];
  }
  const c = globToRegExp(catGlob);
  const n = globToRegExp(nameGlob);
  const cats = /[*?]/.test(catGlob) ? listDirs(`${root}/events`).filter((x) => c.test(x)) : [catGlob];
  const out: [string, string][] = [];
  for (const cat of cats) for (const name of listDirs(`${root}/events/${cat}`)) if (n.test(name)) out.push([cat, name]);
  return out;
}

/** Tracepoints whose category and name match regular expressions (BCC's -r), whole names. */
function regexTracepoints(spec: string, catRe: string, nameRe: string): [string, string][] {
  let c: RegExp;
  let n: RegExp;
  try {
    c = new RegExp(`^(?:${catRe})$`);
    n = new RegExp(`^(?:${nameRe})$`);
  } catch (e) {
    throw new UsageError(`bad regular expression in '${spec}': ${(e as Error).message}`);
  }
  return allTracepoints().filter(([cat, name]) => c.test(cat) && n.test(name));
}

/** BCC's -r on a uprobe (stackcount -r 'c:mall.*'): one probe per function of the library whose
 * whole name matches, aliases (one address, several names) probed once. */
function regexUprobes(spec: string, lib: string, funcRe: string, retprobe: boolean): Probe[] {
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${funcRe})$`);
  } catch (e) {
    throw new UsageError(`bad regular expression in '${spec}': ${(e as Error).message}`);
  }
  const file = resolveLibrary(lib);
  const elf = ElfFile.read(file);
  if (!elf) throw new MemscopeError(`${file} is not an ELF file`);
  const byAddr = new Map<number, string>();
  for (const [name, addr] of [...elf.functionAddresses((n) => re.test(n))].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!byAddr.has(addr)) byAddr.set(addr, name);
  }
  if (byAddr.size === 0) throw new MemscopeError(`no function of ${file} matches the regular expression '${funcRe}'`);
  return [...byAddr.values()].map((func) => ({ kind: 'uprobe', file, func, retprobe, label: `${retprobe ? 'uretprobe' : 'uprobe'}:${path.basename(file)}:${func}` }));
}

/** Parses one probe spec and expands its wildcards; throws a one-line error for bad or unknown probes.
 * With `regex` (BCC's -r), tracepoint names are regular expressions instead of globs. */
export function resolveProbe(spec: string, opts: { regex?: boolean } = {}): Probe[] {
  const parts = spec.split(':');
  const type = parts[0];
  if (opts.regex && (type === 't' || type === 'tracepoint') && parts.length === 3) {
    const found = regexTracepoints(spec, parts[1], parts[2]);
    if (found.length === 0) throw new MemscopeError(`no tracepoint matches the regular expressions '${parts[1]}:${parts[2]}' on this kernel (see 'memscope list')`);
    return found.map(([category, name]) => ({ kind: 'tracepoint', category, name, label: `${category}:${name}` }));
  }
  if (type === 't' || type === 'tracepoint') {
    if (parts.length !== 3 || !parts[1] || !parts[2]) {
      throw new UsageError(`bad tracepoint '${spec}': expected t:CATEGORY:NAME (wildcards allowed, e.g. 't:vmscan:*')`);
    }
    if (!/^[\w*?]+$/.test(parts[1]) || !/^[\w*?]+$/.test(parts[2])) throw new UsageError(`bad tracepoint '${spec}'`);
    const found = matchTracepoints(parts[1], parts[2]);
    if (found.length === 0) throw new MemscopeError(`no tracepoint matches '${parts[1]}:${parts[2]}' on this kernel (see 'memscope list')`);
    return found.map(([category, name]) => ({ kind: 'tracepoint', category, name, label: `${category}:${name}` }));
  }
  if (type === 's' || type === 'software') {
    if (parts.length < 2 || parts.length > 3) throw new UsageError(`bad software event '${spec}': expected software:EVENT[:PERIOD]`);
    const ev = SOFTWARE_EVENTS[parts[1]];
    if (!ev) throw new UsageError(`unknown software event '${parts[1]}' (one of: ${SOFTWARE_EVENT_NAMES.join(', ')})`);
    let period = ev[1];
    if (parts.length === 3) {
      if (!/^\d+$/.test(parts[2]) || Number(parts[2]) <= 0) throw new UsageError(`bad period in '${spec}': a positive whole number`);
      period = Number(parts[2]);
    }
    return [{ kind: 'software', event: parts[1], perfType: PERF_TYPE_SOFTWARE, config: ev[0], period, label: `software:${parts[1]}:${period}` }];
  }
  if (type === 'h' || type === 'hardware') {
    if (parts.length < 2 || parts.length > 3) throw new UsageError(`bad hardware event '${spec}': expected hardware:EVENT[:PERIOD]`);
    const ev = HARDWARE_EVENTS[parts[1]];
    if (!ev) throw new UsageError(`unknown hardware event '${parts[1]}' (one of: ${HARDWARE_EVENT_NAMES.join(', ')})`);
    let period = ev[2];
    if (parts.length === 3) {
      if (!/^\d+$/.test(parts[2]) || Number(parts[2]) <= 0) throw new UsageError(`bad period in '${spec}': a positive whole number`);
      period = Number(parts[2]);
    }
    // said before anything is loaded: perf_event_open would only answer ENOENT
    if (!hasPmu()) throw new MemscopeError(noPmuMessage(`hardware:${parts[1]}`, 'sample software events instead (software:cpu-clock, software:page-faults; memscope list software)'));
    return [{ kind: 'software', event: parts[1], perfType: ev[0], config: ev[1], period, label: `hardware:${parts[1]}:${period}` }];
  }
  if (type === 'u' || type === 'usdt') return resolveUsdt(spec, parts);
  if (type === 'ur') {
    throw new UsageError(`'${spec}': ur: is not a probe type; a uretprobe is r:LIBRARY:FUNCTION (BCC) or uretprobe:LIBRARY:FUNCTION (bpftrace)`);
  }
  if ((type === 'p' || type === 'r') && (parts.length < 3 || !parts[1])) {
    throw new UsageError(
      `'${spec}' would be a ${type === 'p' ? 'kprobe' : 'kretprobe'}, and this kernel has none (CONFIG_KPROBES off): give a library for a uprobe (${type}:LIBRARY:FUNCTION, e.g. ${type}:c:malloc) or use a tracepoint`,
    );
  }
  if (['p', 'r', 'uprobe', 'uretprobe'].includes(type) || (type === 'c' && parts.length === 2)) {
    const [lib, func] = type === 'c' ? ['c', parts[1]] : [parts.slice(1, -1).join(':'), parts[parts.length - 1]];
    if (opts.regex && lib && func) return regexUprobes(spec, lib, func, type === 'r' || type === 'uretprobe');
    if (!lib || !func || !/^[A-Za-z_][\w.@]*$/.test(func)) {
      throw new UsageError(`bad uprobe '${spec}': expected p:LIBRARY_OR_PATH:FUNCTION (e.g. p:c:malloc, uprobe:/usr/bin/bash:readline), r:... for a uretprobe, or c:FUNCTION`);
    }
    const retprobe = type === 'r' || type === 'uretprobe';
    const file = resolveLibrary(lib);
    return [{ kind: 'uprobe', file, func, retprobe, label: `${retprobe ? 'uretprobe' : 'uprobe'}:${path.basename(file)}:${func}` }];
  }
  // before the perf-style fallback below, which would read kprobe:foo as category 'kprobe'
  if (parts.length === 1 || type === 'k' || type === 'kprobe' || type === 'kr' || type === 'kretprobe') {
    throw new UsageError(
      `'${spec}' would be a kprobe, and this kernel has none (CONFIG_KPROBES off): use a tracepoint (t:CATEGORY:NAME) or a software event; 'memscope list' shows them`,
    );
  }
  if (parts.length === 2 && /^[\w*?]+$/.test(parts[0]) && /^[\w*?]+$/.test(parts[1])) {
    // "category:name" without a prefix, as perf spells tracepoints
    return resolveProbe(`t:${spec}`);
  }
  throw new UsageError(`unknown probe type in '${spec}': use t:CATEGORY:NAME, software:EVENT[:PERIOD], p:LIBRARY:FUNCTION, r:LIBRARY:FUNCTION or u:LIBRARY:USDT_PROBE`);
}

/** Resolves several specs; duplicates collapse. Caps the total: each classic tracepoint costs a perf event. */
export function resolveProbes(specs: string[], max = 512, opts: { regex?: boolean } = {}): Probe[] {
  const seen = new Set<string>();
  const out: Probe[] = [];
  for (const s of specs) {
    for (const p of resolveProbe(s, opts)) {
      if (!seen.has(p.label)) {
        seen.add(p.label);
        out.push(p);
      }
    }
  }
  if (out.length > max) throw new UsageError(`${out.length} probes match; at most ${max} at once (narrow the wildcard)`);
  return out;
}

/** Raw-tracepoint slots in bpf/raw-slots.h: programs PREFIX0 .. PREFIX63. */
export const RAW_SLOTS = 64;

/** Names of the generic programs a tool built for resolved probes: one per probe kind, and
 * optionally raw-tracepoint slots (`${raw}${i}` reports probe i), used for probes that are real
 * tracepoints: a raw tracepoint link detaches at once, a classic one costs an RCU grace period. */
export interface GenericPrograms {
  tracepoint: string;
  software: string;
  raw?: string;
  /** A uprobe program; without it, uprobes are refused for this tool. */
  uprobe?: string;
  /** A USDT program (SEC("usdt"), the probe's index from bpf_usdt_cookie); without it, USDT is refused. */
  usdt?: string;
}

/** How each probe is attached: by raw tracepoint slot, classic tracepoint with cookie, or perf event. */
function plan(probes: Probe[], progs: GenericPrograms): ('raw' | 'classic' | 'software' | 'uprobe' | 'usdt')[] {
  // asked for all at once: kernel BTF is read once, and only as far as these names
  const tps = probes.slice(0, RAW_SLOTS).flatMap((p) => (p.kind === 'tracepoint' ? [p.name] : []));
  const raws = progs.raw ? btfTracepointsAmong(tps) : new Set<string>();
  return probes.map((p, i) => {
    if (p.kind === 'software') return 'software';
    if (p.kind === 'usdt') {
      if (!progs.usdt) throw new UsageError(`${p.label}: this tool takes no USDT probes`);
      return 'usdt';
    }
    if (p.kind === 'uprobe') {
      if (!progs.uprobe) throw new UsageError(`${p.label}: this tool takes tracepoints and software events only`);
      return 'uprobe';
    }
    return progs.raw && i < RAW_SLOTS && raws.has(p.name) ? 'raw' : 'classic';
  });
}

/** The probe groups for runTrace: the generic programs needed, attached by attachProbes (manual);
 * unused raw slots are switched off. */
export function probeGroups(what: string, probes: Probe[], progs: GenericPrograms): ProbeGroup[] {
  const how = plan(probes, progs);
  const raw = probes.map((_, i) => i).filter((i) => how[i] === 'raw');
  const classic = probes.filter((_, i) => how[i] === 'classic') as TracepointProbe[];
  const sws = how.filter((h) => h === 'software').length;
  const ups = how.filter((h) => h === 'uprobe').length;
  const usdts = how.filter((h) => h === 'usdt').length;
  const programs = [
    ...(classic.length ? [progs.tracepoint] : []),
    ...(sws ? [progs.software] : []),
    ...(ups ? [progs.uprobe!] : []),
    ...(usdts ? [progs.usdt!] : []),
    ...raw.map((i) => `${progs.raw}${i}`),
  ];
  const n = (k: number, w: string) => (k ? `${k} ${w}${k > 1 ? 's' : ''}` : '');
  const parts = [n(raw.length, 'raw tracepoint'), n(classic.length, 'tracepoint'), n(sws, 'perf event'), n(ups, 'uprobe'), n(usdts, 'USDT probe')].filter(Boolean).join(' + ');
  const cookies = classic.length + sws + ups + usdts;
  const groups: ProbeGroup[] = [
    {
      what,
      sources: [
        {
          name: `${parts} (generic programs; probes told apart by ${raw.length ? 'slot' : ''}${raw.length && cookies ? ' and ' : ''}${cookies ? 'attach cookie' : ''})`,
          programs,
          requires: [
            ...classic.map((p) => ({ tracepoint: `${p.category}/${p.name}` })),
            ...raw.map((i) => ({ btf: (probes[i] as TracepointProbe).name })),
          ],
          attach: 'manual',
        },
      ],
    },
  ];
  // a generic program no probe uses is not loaded either (each costs a verification)
  if (!classic.length) groups.push({ what: 'tracepoints', off: true, sources: [{ name: 'tracepoint', programs: [progs.tracepoint], requires: [] }] });
  if (!sws) groups.push({ what: 'perf events', off: true, sources: [{ name: 'perf event', programs: [progs.software], requires: [] }] });
  if (progs.uprobe && !ups) groups.push({ what: 'uprobes', off: true, sources: [{ name: 'uprobe', programs: [progs.uprobe], requires: [] }] });
  if (progs.usdt && !usdts) groups.push({ what: 'USDT probes', off: true, sources: [{ name: 'usdt', programs: [progs.usdt], requires: [] }] });
  if (progs.raw) {
    const used = new Set(raw);
    const unused = Array.from({ length: RAW_SLOTS }, (_, i) => i).filter((i) => !used.has(i));
    groups.push({ what: 'unused raw tracepoint slots', off: true, sources: [{ name: 'raw slots', programs: unused.map((i) => `${progs.raw}${i}`), requires: [] }] });
  }
  return groups;
}

/** Attaches the generic programs to every probe; the cookie (or raw slot) is the probe's index. */
export function attachProbes(obj: BpfObject, probes: Probe[], progs: GenericPrograms, pid?: number): void {
  const how = plan(probes, progs);
  probes.forEach((p, i) => {
    if (p.kind === 'uprobe') obj.attachUprobe(progs.uprobe!, p.file, p.func, { pid: pid ?? -1, retprobe: p.retprobe, cookie: i });
    else if (p.kind === 'usdt') obj.attachUsdt(progs.usdt!, p.file, p.provider, p.name, pid ?? -1, i);
    else if (p.kind === 'tracepoint') {
      if (how[i] === 'raw') obj.attachRawTracepoint(`${progs.raw}${i}`, p.name);
      else obj.attachTracepoint(progs.tracepoint, p.category, p.name, i);
    } else {
      try {
        obj.attachPerfEvent(progs.software, p.perfType, p.config, p.period, { cookie: i });
      } catch (e) {
        throw new MemscopeError(`cannot open ${p.perfType === PERF_TYPE_SOFTWARE ? 'software' : 'hardware'} event ${p.event}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  });
}
