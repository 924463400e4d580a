// SPDX-License-Identifier: Apache-2.0
// One resolver from what events carry (a pid, a cgroup id, a cgroup path) to a container: the
// memory cgroup's path, the container id and runtime from the path's naming, and the names the
// runtime recorded. Results are cached per cgroup path (a path's container never changes; the
// entry goes when the cgroup does).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CgroupIndex, memoryCgroupOfPid, memoryHierarchyRoot } from './cgroups';
import { identifyCgroup, Runtime } from './ids';
import { containerNames, DEFAULT_DIRS, RuntimeDirs } from './names';

export interface Container {
  /** the memory cgroup, below its hierarchy's root ("/docker/<id>") */
  cgroup: string;
  id?: string;
  runtime?: Runtime;
  /** the runtime's name for it (Docker's Name, or the Kubernetes container name) */
  name?: string;
  image?: string;
  pod?: string;
  namespace?: string;
  podUid?: string;
}

export class ContainerResolver {
  private readonly byPath = new Map<string, Container>();
  private readonly ids: CgroupIndex | null;

  constructor(
    readonly root: string | undefined = memoryHierarchyRoot(),
    private readonly dirs: RuntimeDirs = DEFAULT_DIRS,
    private readonly maxCached = 20_000,
  ) {
    this.ids = root ? new CgroupIndex(root) : null;
  }

  /** The container of a cgroup path (below the memory hierarchy's root). */
  ofCgroupPath(cgroup: string): Container {
    const hit = this.byPath.get(cgroup);
    // a name missing on first sight may appear once the runtime has written its files
    if (hit && (hit.name || !hit.id)) return hit;
    const ident = identifyCgroup(cgroup);
    const c: Container = { cgroup, id: ident.containerId, runtime: ident.runtime, podUid: ident.podUid };
    if (ident.containerId) Object.assign(c, dropUndefined(containerNames(ident.containerId, ident.runtime, this.dirs) ?? {}));
    if (this.byPath.size >= this.maxCached) this.prune();
    this.byPath.set(cgroup, c);
    return c;
  }

  /** The container of a cgroup id (kernfs id = directory inode), or null when no such cgroup exists. */
  ofCgroupId(id: bigint): Container | null {
    const p = this.ids?.pathOf(id);
    return p ? this.ofCgroupPath(p) : null;
  }

  /** The ids of cgroups removed since the last call (their totals can be dropped). */
  removedCgroupIds(): bigint[] {
    return this.ids?.takeRemoved() ?? [];
  }

  ofPid(pid: number): Container | null {
    const p = memoryCgroupOfPid(pid);
    return p === null ? null : this.ofCgroupPath(p);
  }

  /** Whether a container is the one asked for: by container id (or a prefix of 12+), name, namespace/pod/name, or cgroup path (and below). */
  matches(c: Container, query: string): boolean {
    if (query.startsWith('/')) return c.cgroup === query || c.cgroup.startsWith(query.endsWith('/') ? query : query + '/');
    if (c.id && query.length >= 12 && c.id.startsWith(query)) return true;
    return c.name === query || (c.pod !== undefined && `${c.namespace ?? ''}/${c.pod}/${c.name ?? ''}` === query);
  }

  /** Forgets cached cgroups that no longer exist. */
  prune(): void {
    for (const p of this.byPath.keys()) {
      if (!this.root || !fs.existsSync(path.join(this.root, p))) this.byPath.delete(p);
    }
  }
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export { identifyCgroup } from './ids';
export { parseProcCgroup, memoryCgroupPath, parseMountinfo, cgroupIdOfDir, memoryCgroupOfPid, memoryHierarchyRoot, CgroupIndex } from './cgroups';
export { containerNames, DEFAULT_DIRS } from './names';
export type { RuntimeDirs } from './names';
