// Probe names as users type them for BCC and bpftrace, resolved against this kernel:
//   t:vmscan:*  tracepoint:syscalls:sys_enter_brk  t:compaction:mm_compaction_*   (classic tracepoints)
//   software:page-faults:1  s:major-faults  software:cpu-clock:1000000            (perf software events)
// One generic BPF program serves them all: each attachment carries a cookie (the probe's index),
// read in BPF with bpf_get_attach_cookie, so per-probe counts need no program per probe.
import * as fs from 'node:fs';
import { tracefs } from './features';
import { MemscopeError, UsageError } from './errors';
import type { BpfObject } from './bpf-object';
import { PERF_TYPE_SOFTWARE } from './sources';

export interface TracepointProbe {
  kind: 'tracepoint';
  category: string;
  name: string;
  /** "category:name", as printed. */
  label: string;
}

export interface SoftwareProbe {
  kind: 'software';
  event: string;
  config: number;
  period: number;
  label: string;
}

export type Probe = TracepointProbe | SoftwareProbe;

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
  } catch {
    return [];
  }
}

/** Every classic tracepoint of this kernel as [category, name]. */
export function allTracepoints(): [string, string][] {
  const root = tracefs();
  if (!root) throw new MemscopeError('tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)');
  const out: [string, string][] = [];
  for (const cat of listDirs(`${root}/events`)) {
    for (const name of listDirs(`${root}/events/${cat}`)) {
      if (fs.existsSync(`${root}/events/${cat}/${name}/format`)) out.push([cat, name]);
    }
  }
  return out;
}

/** Tracepoints matching a "category:name" glob. */
export function matchTracepoints(catGlob: string, nameGlob: string): [string, string][] {
  const root = tracefs();
  if (!root) throw new MemscopeError('tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)');
  if (!/[*?]/.test(catGlob + nameGlob)) {
    return fs.existsSync(`${root}/events/${catGlob}/${nameGlob}/format`) ? [[catGlob, nameGlob]] : [];
  }
  const c = globToRegExp(catGlob);
  const n = globToRegExp(nameGlob);
  return allTracepoints().filter(([cat, name]) => c.test(cat) && n.test(name));
}

/** Parses one probe spec and expands its wildcards; throws a one-line error for bad or unknown probes. */
export function resolveProbe(spec: string): Probe[] {
  const parts = spec.split(':');
  const type = parts[0];
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
    return [{ kind: 'software', event: parts[1], config: ev[0], period, label: `software:${parts[1]}:${period}` }];
  }
  if (parts.length === 2 && /^[\w*?]+$/.test(parts[0]) && /^[\w*?]+$/.test(parts[1])) {
    // "category:name" without a prefix, as perf spells tracepoints
    return resolveProbe(`t:${spec}`);
  }
  if (parts.length === 1 || type === 'k' || type === 'kprobe' || type === 'kr' || type === 'kretprobe') {
    throw new UsageError(
      `'${spec}' would be a kprobe, and this kernel has none (CONFIG_KPROBES off): use a tracepoint (t:CATEGORY:NAME) or a software event; 'memscope list' shows them`,
    );
  }
  throw new UsageError(`unknown probe type in '${spec}': use t:CATEGORY:NAME or software:EVENT[:PERIOD]`);
}

/** Resolves several specs; duplicates collapse. Caps the total: each classic tracepoint costs a perf event. */
export function resolveProbes(specs: string[], max = 512): Probe[] {
  const seen = new Set<string>();
  const out: Probe[] = [];
  for (const s of specs) {
    for (const p of resolveProbe(s)) {
      if (!seen.has(p.label)) {
        seen.add(p.label);
        out.push(p);
      }
    }
  }
  if (out.length > max) throw new UsageError(`${out.length} probes match; at most ${max} at once (narrow the wildcard)`);
  return out;
}

/** Names of the generic programs a tool built for resolved probes: one per probe kind. */
export interface GenericPrograms {
  tracepoint: string;
  software: string;
}

/** The probe group for runTrace: the generic programs needed, attached by attachProbes (manual). */
export function probeGroup(what: string, probes: Probe[], progs: GenericPrograms) {
  const tps = probes.filter((p): p is TracepointProbe => p.kind === 'tracepoint');
  const sws = probes.filter((p) => p.kind === 'software');
  const programs = [...(tps.length ? [progs.tracepoint] : []), ...(sws.length ? [progs.software] : [])];
  const parts = [tps.length ? `${tps.length} tracepoint${tps.length > 1 ? 's' : ''}` : '', sws.length ? `${sws.length} software event${sws.length > 1 ? 's' : ''}` : '']
    .filter(Boolean)
    .join(' + ');
  return {
    what,
    sources: [
      {
        name: `${parts}, one generic program each kind, probe identified by attach cookie`,
        programs,
        requires: tps.map((p) => ({ tracepoint: `${p.category}/${p.name}` })),
        attach: 'manual' as const,
      },
    ],
  };
}

/** Attaches the generic programs to every probe; the cookie is the probe's index in `probes`. */
export function attachProbes(obj: BpfObject, probes: Probe[], progs: GenericPrograms): void {
  probes.forEach((p, i) => {
    if (p.kind === 'tracepoint') obj.attachTracepoint(progs.tracepoint, p.category, p.name, i);
    else {
      try {
        obj.attachPerfEvent(progs.software, PERF_TYPE_SOFTWARE, p.config, p.period, { cookie: i });
      } catch (e) {
        throw new MemscopeError(`cannot open software event ${p.event}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  });
}
