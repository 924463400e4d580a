// SPDX-License-Identifier: Apache-2.0
// The CONTAINER column of the event tools that show processes (snoops, per-process summaries).
// BPF keeps each traced process's memory cgroup id as of its latest event (memscope.h
// ms_note_cgroup, written only when it changes); a row's process is looked up in that map and its
// cgroup id named through a cache per cgroup id (src/containers names the path once per cgroup): a
// process that moved into a container (`docker exec`) is named by where it is now, one that has
// exited before its row is printed is still named, and no /proc read is made per event.
import type { BpfObject } from '../engine/bpf-object';
import { ContainerResolver, Container } from '../containers/index';
import { containerLabel, runtimeDirs } from '../containers/filter';
import { escapeText } from '../core/escape';

/** processes BPF keeps a cgroup for (an LRU map), and cgroup ids (and /proc answers) cached here */
const MAX_PIDS = 16_384;
/** the text column's width: a short container id (docker ps's 12 digits); longer names are cut */
export const CONTAINER_WIDTH = 12;

export class ContainerColumn {
  private readonly resolver = new ContainerResolver(undefined, runtimeDirs());
  /** cgroup id -> its path below the memory hierarchy (null: no such cgroup) */
  private readonly pathById = new Map<bigint, string | null>();
  /** processes BPF has no cgroup for (the map was full, or the object is closed): read from /proc once */
  private readonly fromProc = new Map<number, Container | null>();
  private readonly key = Buffer.alloc(4);
  private obj?: BpfObject;

  /** Before load: BPF records each traced process's memory cgroup (from runTrace's configure). */
  configure(obj: BpfObject): void {
    obj.setConst('ms_want_cgroups', true);
    obj.setMaxEntries('ms_pid_cgroup', MAX_PIDS);
    this.obj = obj;
  }

  /** The container of a traced process now (as of its latest event), null for a host process. */
  of(pid: number): Container | null {
    this.key.writeUInt32LE(pid >>> 0);
    let v: Buffer | null = null;
    try {
      v = this.obj?.lookup('ms_pid_cgroup', this.key) ?? null;
    } catch {
      v = null; // the object is already closed: /proc below
    }
    if (v) {
      const c = this.ofCgroupId(v.readBigUInt64LE(0));
      if (c || this.pathById.get(v.readBigUInt64LE(0)) !== null) return c;
      // its cgroup is gone (removed since): /proc, while the process lives
    }
    if (this.fromProc.has(pid)) return this.fromProc.get(pid)!;
    let c = this.resolver.ofPid(pid);
    if (!c?.id) c = null;
    if (this.fromProc.size >= MAX_PIDS) this.fromProc.clear();
    this.fromProc.set(pid, c);
    return c;
  }

  /** The container of a memory cgroup id BPF recorded (0: none), null for the host. */
  ofCgroupId(cgid: bigint): Container | null {
    if (!cgid) return null;
    let p = this.pathById.get(cgid);
    if (p === undefined) {
      p = this.resolver.ofCgroupId(cgid)?.cgroup ?? null;
      if (this.pathById.size >= MAX_PIDS) this.pathById.clear();
      this.pathById.set(cgid, p);
    }
    // by path: the resolver reads a name the runtime had not written yet on a later look
    const c = p === null ? null : this.resolver.ofCgroupPath(p);
    return c?.id ? c : null;
  }

  /** The container of a memory cgroup path ("/docker/<id>"), null for a host cgroup: oomkill's
   * victim, whose cgroup BPF read from the victim task (it may be gone by the time it is named). */
  ofCgroupPath(cgroup: string | null): Container | null {
    if (cgroup === null) return null;
    const c = this.resolver.ofCgroupPath(cgroup);
    return c.id ? c : null;
  }

  /** The text cell: the name (else the short id), cut to the column's width; "-" for the host. */
  text(pid: number): string {
    return containerCell(this.of(pid));
  }

  /** The --json value: the name (else the full id), null for the host. */
  json(pid: number): string | null {
    return containerValue(this.of(pid));
  }
}

/** A container's text cell (see ContainerColumn.text). */
export function containerCell(c: Container | null): string {
  const s = escapeText(containerLabel(c));
  return s.length > CONTAINER_WIDTH ? s.slice(0, CONTAINER_WIDTH - 1) + '~' : s;
}

/** A container's --json value (see ContainerColumn.json). */
export function containerValue(c: Container | null): string | null {
  return c?.id ? (c.name ?? c.id) : null;
}
