// SPDX-License-Identifier: Apache-2.0
// Cgroups as the kernel names them: a process's memory cgroup from /proc/PID/cgroup, the
// hierarchy it lives in (v1 memory controller or v2), and cgroup ids (the kernfs id, which is the
// inode number of the cgroup's directory) mapped back to paths by walking that hierarchy.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CgroupLine {
  /** hierarchy id: 0 for v2 */
  hierarchy: number;
  /** controllers of a v1 hierarchy ("memory", "cpu,cpuacct", "name=systemd"); empty for v2 */
  controllers: string[];
  path: string;
}

/** /proc/PID/cgroup: "hierarchy-id:controller-list:path" per line. */
export function parseProcCgroup(text: string): CgroupLine[] {
  const out: CgroupLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    out.push({ hierarchy: Number(m[1]), controllers: m[2] ? m[2].split(',') : [], path: m[3] });
  }
  return out;
}

/** The memory cgroup among those lines: the v1 memory controller's when mounted, else v2's. */
export function memoryCgroupPath(lines: CgroupLine[]): string | null {
  const v1 = lines.find((l) => l.controllers.includes('memory'));
  if (v1) return v1.path;
  const v2 = lines.find((l) => l.hierarchy === 0 && l.controllers.length === 0);
  return v2 ? v2.path : null;
}

export interface Hierarchies {
  /** mount point of the v1 memory controller, if mounted */
  memoryV1?: string;
  /** mount point of cgroup v2 (the unified hierarchy), if mounted */
  v2?: string;
}

/** Where the cgroup hierarchies are mounted, from a mountinfo text (/proc/self/mountinfo). */
export function parseMountinfo(text: string): Hierarchies {
  const out: Hierarchies = {};
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = unescapeMount(left[4] ?? '');
    const fstype = right[0];
    const superOpts = (right[2] ?? '').split(',');
    if (fstype === 'cgroup2' && !out.v2) out.v2 = mountPoint;
    if (fstype === 'cgroup' && superOpts.includes('memory') && !out.memoryV1) out.memoryV1 = mountPoint;
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

let hierarchies: Hierarchies | undefined;

export function systemHierarchies(): Hierarchies {
  if (!hierarchies) {
    try {
      hierarchies = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
    } catch {
      hierarchies = {};
    }
  }
  return hierarchies;
}

/** The directory holding memory cgroups: the v1 memory controller's mount, else v2's. */
export function memoryHierarchyRoot(h: Hierarchies = systemHierarchies()): string | undefined {
  return h.memoryV1 ?? h.v2;
}

/** The memory cgroup of a live process, as a path below the hierarchy root ("/a/b"), or null. */
export function memoryCgroupOfPid(pid: number): string | null {
  try {
    return memoryCgroupPath(parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')));
  } catch {
    return null;
  }
}

/** The kernfs id of a cgroup directory: its inode number (what bpf_get_current_cgroup_id and the
 * memcg's css.cgroup->kn->id return on 64-bit kernels). */
export function cgroupIdOfDir(dir: string): bigint | null {
  try {
    return fs.statSync(dir, { bigint: true }).ino;
  } catch {
    return null;
  }
}

/**
 * Cgroup id → path below one hierarchy's root. Paths are found by walking the hierarchy, again
 * only when an id is not known (a new cgroup), at most once per `minRescanMs` so a stream of
 * unknown ids (cgroups already removed) cannot turn into a walk per lookup.
 */
export class CgroupIndex {
  private byId = new Map<bigint, string>();
  private lastScan = -Infinity;
  /** ids a scan did not find: cgroups already removed (ids are not reused), never looked for again */
  private missing = new Set<bigint>();
  /** ids found by an earlier scan and gone at a later one, until takeRemoved() */
  private removed: bigint[] = [];

  constructor(
    readonly root: string,
    private readonly minRescanMs = 1000,
    private readonly maxEntries = 100_000,
  ) {}

  pathOf(id: bigint): string | null {
    const hit = this.byId.get(id);
    if (hit !== undefined) return hit;
    if (this.missing.has(id)) return null;
    const now = Date.now();
    if (now - this.lastScan < this.minRescanMs) return null;
    this.lastScan = now;
    this.scan();
    const found = this.byId.get(id);
    if (found !== undefined) return found;
    if (this.missing.size >= this.maxEntries) this.missing.clear();
    this.missing.add(id);
    return null;
  }

  /** The ids of cgroups seen once and removed since (each reported once). */
  takeRemoved(): bigint[] {
    const r = this.removed;
    this.removed = [];
    return r;
  }

  /** Records the ids of every cgroup below the root; forgets cgroups that are gone. */
  scan(): void {
    const found = new Map<bigint, string>();
    walkCgroupDirs(this.root, (dir, rel) => {
      if (found.size >= this.maxEntries) return false;
      const id = cgroupIdOfDir(dir);
      if (id !== null) found.set(id, rel);
      return true;
    });
    for (const id of this.byId.keys()) if (!found.has(id) && this.removed.length < this.maxEntries) this.removed.push(id);
    this.byId = found;
  }
}

/** Visits every cgroup directory below root, depth first, with its path below root ("/" for the
 * root itself, "/a/b" below it); a directory is not entered when visit returns false. */
export function walkCgroupDirs(root: string, visit: (dir: string, rel: string) => boolean): void {
  const walk = (dir: string, rel: string) => {
    if (!visit(dir, rel || '/')) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name), `${rel}/${e.name}`);
  };
  walk(root, '');
}
