// SPDX-License-Identifier: Apache-2.0
// --cgroup PATH and --container ID|NAME: which cgroup a tool keeps, resolved before anything is
// loaded. Event tools pass the result to BPF (memscope.h ms_cgroup_traced compares the current
// task's cgroup, or its ancestor at the target's depth, with the target's kernfs id); tools that
// read /proc (ps) test each process's cgroup with inCgroup().
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../core/errors';
import { escapeText } from '../core/escape';
import { cgroupIdOfDir, memoryHierarchyRoot, parseProcCgroup, systemHierarchies, walkCgroupDirs, Hierarchies } from './cgroups';
import { identifyCgroup } from './ids';
import { DEFAULT_DIRS, RuntimeDirs } from './names';
import { Container, ContainerResolver } from './index';

export interface CgroupFilter {
  /** the cgroup directory, e.g. /sys/fs/cgroup/memory/docker/<id> */
  dir: string;
  /** its path below its hierarchy's root ("/docker/<id>") */
  rel: string;
  /** which hierarchy: the v2 (unified) one, or the v1 memory controller's */
  v2: boolean;
  /** kernfs id: the directory's inode */
  id: bigint;
  /** depth below the hierarchy's root (root = 0) */
  level: number;
  /** the container, when --container chose it */
  container?: Container;
}

/** Docker's data root: MEMSCOPE_DOCKER_ROOT when set (a daemon started with --data-root, as the
 * agent's dockerRoot setting allows), else /var/lib/docker. */
export function runtimeDirs(): RuntimeDirs {
  const docker = process.env.MEMSCOPE_DOCKER_ROOT;
  return docker ? { ...DEFAULT_DIRS, docker } : DEFAULT_DIRS;
}

const shown = (s: string) => escapeText(s);

function under(p: string, root: string | undefined): string | null {
  if (!root) return null;
  const r = root.replace(/\/+$/, '');
  if (p === r) return '/';
  return p.startsWith(r + '/') ? p.slice(r.length) : null;
}

function filterOf(dir: string, rel: string, v2: boolean, what: string): CgroupFilter {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new UsageError(`${what}: no such cgroup (looked for ${shown(dir)})`);
  }
  if (!st.isDirectory() || !fs.existsSync(path.join(dir, 'cgroup.procs'))) throw new UsageError(`${what}: ${shown(dir)} is not a cgroup`);
  const id = cgroupIdOfDir(dir);
  if (id === null) throw new UsageError(`${what}: cannot read ${shown(dir)}`);
  const norm = path.posix.normalize(rel);
  const level = norm.split('/').filter(Boolean).length;
  return { dir, rel: norm === '.' ? '/' : norm, v2, id, level };
}

/**
 * --cgroup PATH: an absolute path in the v1 memory hierarchy or the v2 one
 * (/sys/fs/cgroup/memory/x, /sys/fs/cgroup/unified/x), else a path below the memory cgroups' root
 * (the v1 memory controller's mount when mounted, else v2's): "x", "/docker/<id>".
 */
export function resolveCgroupPath(arg: string, h: Hierarchies = systemHierarchies()): CgroupFilter {
  const what = `--cgroup ${shown(arg)}`;
  if (arg === '' || arg.split('/').includes('..')) throw new UsageError(`${what}: expected a cgroup path without ".."`);
  const inV1 = under(arg, h.memoryV1);
  if (inV1 !== null) return filterOf(arg, inV1, false, what);
  const inV2 = under(arg, h.v2);
  if (inV2 !== null) return filterOf(arg, inV2, true, what);
  const root = h.memoryV1 ?? h.v2;
  if (!root) throw new UsageError(`${what}: no memory cgroup hierarchy is mounted`);
  const rel = '/' + arg.replace(/^\/+/, '');
  return filterOf(path.join(root, rel), rel, !h.memoryV1, what);
}

/** Every cgroup below a root, as paths below it ("/a/b"); bounded. */
function walkCgroups(root: string, max = 100_000): string[] {
  const out: string[] = [];
  walkCgroupDirs(root, (_dir, rel) => {
    if (out.length >= max) return false;
    out.push(rel);
    return true;
  });
  return out;
}

/**
 * --container ID|NAME: the memory cgroup of the container with this full id, id prefix (12 or more
 * hex digits, as `docker ps` shows) or name (as its runtime recorded it). The outermost cgroup of
 * the container is chosen (its children, if any, count as inside).
 */
export function resolveContainer(query: string, h: Hierarchies = systemHierarchies(), dirs: RuntimeDirs = runtimeDirs()): CgroupFilter {
  const what = `--container ${shown(query)}`;
  if (query === '') throw new UsageError(`${what}: expected a container id or name`);
  const root = h.memoryV1 ?? h.v2;
  if (!root) throw new UsageError(`${what}: no memory cgroup hierarchy is mounted`);
  const resolver = new ContainerResolver(root, dirs);
  const found = new Map<string, { rel: string; c: Container }>();
  for (const rel of walkCgroups(root)) {
    const ident = identifyCgroup(rel);
    if (!ident.containerId || found.has(ident.containerId)) continue;
    const c = resolver.ofCgroupPath(rel);
    if (c.id === query || (query.length >= 12 && /^[0-9a-f]+$/.test(query) && c.id?.startsWith(query)) || c.name === query) {
      found.set(ident.containerId, { rel, c });
    }
  }
  if (found.size === 0) throw new UsageError(`${what}: no running container has this id or name`);
  if (found.size > 1) throw new UsageError(`${what}: matches ${found.size} containers; give more of the id`);
  const [{ rel, c }] = [...found.values()];
  // the container's own cgroup: the path up to the component that names it
  const comps = rel.split('/').filter(Boolean);
  let top = rel;
  for (let i = 1; i <= comps.length; i++) {
    const p = '/' + comps.slice(0, i).join('/');
    if (identifyCgroup(p).containerId === c.id) {
      top = p;
      break;
    }
  }
  const f = filterOf(path.join(root, top), top, !h.memoryV1, what);
  return { ...f, container: { ...c, cgroup: top } };
}

/** The filter --cgroup or --container asks for, or undefined; refuses both at once. */
export function cgroupFilterOf(opts: { cgroup?: string; container?: string }): CgroupFilter | undefined {
  if (opts.cgroup !== undefined && opts.container !== undefined) throw new UsageError('--cgroup and --container exclude each other');
  if (opts.cgroup !== undefined) return resolveCgroupPath(opts.cgroup);
  if (opts.container !== undefined) return resolveContainer(opts.container);
  return undefined;
}

/** Whether process pid lies in the filter's cgroup or below it (read from /proc/PID/cgroup). */
export function inCgroup(pid: number, f: CgroupFilter): boolean {
  let lines;
  try {
    lines = parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  } catch {
    return false;
  }
  const line = f.v2 ? lines.find((l) => l.hierarchy === 0 && l.controllers.length === 0) : lines.find((l) => l.controllers.includes('memory'));
  if (!line) return false;
  return f.rel === '/' || line.path === f.rel || line.path.startsWith(f.rel + '/');
}

/** The CONTAINER column's text for a process: the container's name, else its id's first 12 hex
 * digits, else "-" (a host process). Callers escape it as every name. */
export function containerLabel(c: Container | null | undefined): string {
  if (!c?.id) return '-';
  return c.name ?? c.id.slice(0, 12);
}

/** A resolver shared by one run's rows (names are read once per cgroup). */
let shared: ContainerResolver | undefined;
export function containerOfPid(pid: number): Container | null {
  shared ??= new ContainerResolver(undefined, runtimeDirs());
  return shared.ofPid(pid);
}

/**
 * --cgroup/--container as a test of a memory cgroup path that may no longer exist (oomlog reads
 * kills from the kernel log, perhaps a saved one): --cgroup PATH compares paths (a mount prefix is
 * dropped), --container names the container from the path's naming and the runtime's files. Paths
 * are the memory cgroup's, as the kernel prints them ("/docker/<id>"). undefined: no filter.
 */
export function cgroupPathFilter(opts: { cgroup?: string; container?: string }, h: Hierarchies = systemHierarchies()): ((cgroup: string | undefined) => boolean) | undefined {
  if (opts.cgroup !== undefined && opts.container !== undefined) throw new UsageError('--cgroup and --container exclude each other');
  if (opts.cgroup !== undefined) {
    const arg = opts.cgroup;
    if (arg === '' || arg.split('/').includes('..')) throw new UsageError(`--cgroup ${shown(arg)}: expected a cgroup path without ".."`);
    const rel = path.posix.normalize('/' + (under(arg, h.memoryV1) ?? under(arg, h.v2) ?? arg).replace(/^\/+/, '')).replace(/(.)\/$/, '$1');
    return (cg) => cg !== undefined && (rel === '/' || cg === rel || cg.startsWith(rel + '/'));
  }
  if (opts.container !== undefined) {
    const q = opts.container;
    if (q === '') throw new UsageError(`--container ${shown(q)}: expected a container id or name`);
    const resolver = new ContainerResolver(memoryHierarchyRoot(h), runtimeDirs());
    return (cg) => {
      if (cg === undefined) return false;
      const c = resolver.ofCgroupPath(cg);
      return c.id !== undefined && !q.startsWith('/') && (c.id === q || resolver.matches(c, q));
    };
  }
  return undefined;
}
