// SPDX-License-Identifier: Apache-2.0
// The dashboard (src/dashboard) served by the agent at GET /, with the agent's collectors as its
// sources: container names from the resolver, reclaim and compaction time from vmscan's and
// compaction's BPF totals, OOM post-mortems with the victim's fault stacks, and every process's
// fault stacks kept since the agent first saw it, page faults traced from the page as a window on
// those same collections, and each process's swap-ins. memleak on demand stays the dashboard's own
// (the memleak tool as a child, as /debug/pprof/heap does).
import { formatFrame, Frame } from '../core/frames';
import { createDashboard, Dashboard, DashboardSources, OomRecord, Profile, StackValue } from '../dashboard/index';
import { subprocessTrace } from '../dashboard/fallback';
import { readCompactionTotals } from '../tools/compaction';
import { readTotals } from '../tools/vmscan';
import type { Authenticator } from './auth';
import type { Collectors } from './collectors';
import { keptFaultTrace, swapinsByPid } from './dash-sources';

// vmscan's totals, in nanoseconds: [shrink_slab, direct, memcg, ...]; shrink_slab runs inside the
// other two, so reclaim time is direct + memcg
const T_DIRECT = 1;
const T_MEMCG = 2;
const MAX_STACKS = 5000;

/** Root first, the process name as the root frame, as the dashboard's flame graphs draw them. */
function stackValue(comm: string, user: Frame[], value: number): StackValue {
  return { frames: [comm, ...user.map((f) => formatFrame(f, { offset: false })).reverse()], value };
}

function merged(stacks: StackValue[]): StackValue[] {
  const by = new Map<string, StackValue>();
  for (const s of stacks) {
    const k = s.frames.join('\0');
    const m = by.get(k);
    if (m) m.value += s.value;
    else by.set(k, { ...s });
  }
  return [...by.values()].sort((a, b) => b.value - a.value).slice(0, MAX_STACKS);
}

export function agentDashboard(c: Collectors, auth: Authenticator, loopbackOnly: boolean): Dashboard {
  // post-mortems carry a wall-clock string; the dashboard places them on its timeline by when it
  // first saw them (within a second: it asks every second)
  const seenAt = new Map<number, number>();
  // a post-mortem does not change once recorded: converted (and its stacks symbolized) once, not
  // at every sample; only those the OOM store still holds are kept
  const converted = new Map<number, OomRecord>();
  const sources: DashboardSources = {
    container(cgroup) {
      const k = c.containers.ofCgroupPath(cgroup);
      return k.id ? { name: k.name, id: k.id } : null;
    },
    reclaimSeconds() {
      const vmscan = c.source('vmscan');
      const t = vmscan ? readTotals(vmscan) : [];
      const compaction = c.source('compaction');
      const compactionNs = compaction ? readCompactionTotals(compaction).totalNs : 0;
      return { reclaim: ((t[T_DIRECT] ?? 0) + (t[T_MEMCG] ?? 0)) / 1e9, compaction: compactionNs / 1e9 };
    },
    oomRecords(): OomRecord[] {
      const list = c.ooms.list();
      if (converted.size > list.length) {
        const held = new Set(list.map((k) => k.id));
        for (const id of converted.keys()) if (!held.has(id)) converted.delete(id);
      }
      return list.map((k) => {
        if (!seenAt.has(k.id)) seenAt.set(k.id, Date.now());
        if (seenAt.size > 10_000) seenAt.delete(seenAt.keys().next().value!);
        const done = converted.get(k.id);
        if (done) return done;
        const r: OomRecord = {
          id: k.id,
          t: seenAt.get(k.id)!,
          trigger: { comm: k.trigger.comm, pid: k.trigger.pid },
          victim: { pid: k.victim.pid, comm: k.victim.comm },
          constraint: k.constraint,
          cgroup: k.oom_memcg ?? k.cgroup ?? undefined,
          container: k.container ? (k.container.name ?? k.container.id?.slice(0, 12)) : undefined,
          limitKb: k.oom_memcg_limit_kb ?? undefined,
          usageKb: k.oom_memcg_usage_bytes === null ? undefined : k.oom_memcg_usage_bytes / 1024,
          rssKb: { anon: k.anon_rss_kb, file: k.file_rss_kb, shmem: k.shmem_rss_kb },
          stacks: merged(k.victim_fault_stacks.map((s) => stackValue(k.victim.comm, s.user, s.count))),
        };
        converted.set(k.id, r);
        return r;
      });
    },
    faultProfile(pid): Profile | null {
      const p = c.faults.get(pid);
      if (!p) return null;
      const stacks = merged([...p.stacks.values()].map((s) => stackValue(p.comm, c.symbolize(pid, s), s.count)));
      return { unit: 'faults', stacks, t: Date.now() };
    },
    swapinsByPid: () => swapinsByPid(c),
    trace(kind, pid, seconds, cb) {
      if (kind === 'memleak') return subprocessTrace(kind, pid, seconds, cb);
      return keptFaultTrace(c, (comm, _pid, st) => merged(st.map((s) => stackValue(comm, s.frames, s.count))), pid, seconds, cb);
    },
  };
  const dash = createDashboard({ sources, loopbackOnly, token: { required: () => auth.required(), matches: (t) => auth.matches(t) } });
  // exited processes' swap-in entries are deleted as they are read; read now and then with no page
  // open too, so the kernel's map never fills with them (a full map would stop counting new ones)
  const prune = setInterval(() => swapinsByPid(c), 10_000);
  prune.unref();
  return {
    handle: (req, res) => dash.handle(req, res),
    close: () => {
      clearInterval(prune);
      dash.close();
    },
  };
}
