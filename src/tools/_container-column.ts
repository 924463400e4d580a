// SPDX-License-Identifier: Apache-2.0
// The CONTAINER column of the event tools that show processes (snoops, per-process summaries).
// BPF notes each traced process's memory cgroup id at its first event (memscope.h
// ms_note_cgroup); a row's process is looked up once in that map, its cgroup id resolved to a
// path and container by the one resolver (src/containers, cached per cgroup): no syscall per event,
// and a process that has exited before its row is printed is still named.
import type { BpfObject } from '../engine/bpf-object';
import { ContainerResolver, Container } from '../containers/index';
import { containerLabel, runtimeDirs } from '../containers/filter';
import { escapeText } from '../core/escape';

/** pids remembered (a pid's cgroup is read once); past this the cache starts over */
const MAX_PIDS = 16_384;
/** the text column's width: a short container id (docker ps's 12 digits); longer names are cut */
export const CONTAINER_WIDTH = 12;

export class ContainerColumn {
  private readonly resolver = new ContainerResolver(undefined, runtimeDirs());
  private readonly byPid = new Map<number, Container | null>();
  private obj?: BpfObject;

  /** Before load: BPF records each traced process's memory cgroup (from runTrace's configure). */
  configure(obj: BpfObject): void {
    obj.setConst('ms_want_cgroups', true);
    obj.setMaxEntries('ms_pid_cgroup', MAX_PIDS);
    this.obj = obj;
  }

  /** The container of a traced process, null for a host process (or one never seen). */
  of(pid: number): Container | null {
    if (this.byPid.has(pid)) return this.byPid.get(pid)!;
    let c: Container | null = null;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(pid >>> 0);
    let v: Buffer | null = null;
    try {
      v = this.obj?.lookup('ms_pid_cgroup', key) ?? null;
    } catch {
      v = null; // the object is already closed: /proc below
    }
    if (v) c = this.resolver.ofCgroupId(v.readBigUInt64LE(0));
    // not recorded (the map was full) or its cgroup is gone: /proc, while the process lives
    if (!c) c = this.resolver.ofPid(pid);
    if (!c?.id) c = null;
    if (this.byPid.size >= MAX_PIDS) this.byPid.clear();
    this.byPid.set(pid, c);
    return c;
  }

  /** The container of a memory cgroup id BPF recorded (0: none), null for the host. */
  ofCgroupId(cgid: bigint): Container | null {
    const c = cgid ? this.resolver.ofCgroupId(cgid) : null;
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
