// SPDX-License-Identifier: Apache-2.0
// OOM post-mortems: for each kill, what oomkill reports (trigger, victim, constraint, the memcg
// whose limit was hit and that limit, the victim's RSS by kind) with the cgroup's container and
// usage, and the victim's fault stacks collected while it lived. Kept newest-last, bounded.
import { pageSizeKb } from '../procfs/pid';
import { formatFrame, Frame } from '../core/frames';
import { describe, OomKill } from '../tools/oomkill';
import type { Container } from '../containers';
import type { Collectors } from './collectors';
import { logEvent } from './log';

export interface FaultStack {
  count: number;
  /** innermost first */
  user: Frame[];
}

export interface OomPostMortem extends OomKill {
  id: number;
  container: Omit<Container, 'cgroup'> | null;
  /** the usage of the memcg whose limit was hit, read in BPF when the victim was chosen (bytes):
   * read later, the kill has already freed the victim's memory */
  oom_memcg_usage_bytes: number | null;
  /** the victim's faults counted while it lived, and the stacks that took them */
  victim_faults: number;
  victim_fault_stacks: FaultStack[];
  /** faults beyond the per-process stack limit, counted but without a stack */
  victim_faults_without_stack: number;
}

/** Labels of memscope_oom_kills_total. */
export interface OomKey {
  cgroup: string;
  container: string;
  pod: string;
  namespace: string;
  constraint: string;
}

const STACKS_PER_KILL = 64;

export class OomStore {
  private readonly kills: OomPostMortem[] = [];
  private nextId = 1;
  /** kills by label set, kept for the life of the agent (bounded) */
  readonly counts = new Map<string, { key: OomKey; n: number }>();

  constructor(
    private readonly max: number,
    private readonly maxLabelSets = 4096,
  ) {}

  /** triggerStack: the trigger's frames, named (oomkill's TriggerStacks) */
  record(rec: Buffer, triggerStack: string[] | undefined, c: Collectors): OomPostMortem {
    const k = describe(rec, pageSizeKb());
    if (triggerStack) k.trigger_ustack = triggerStack;
    const cont = k.cgroup ? c.containers.ofCgroupPath(k.cgroup) : null;
    const victim = c.faults.get(k.victim.pid);
    const raw = victim ? [...victim.stacks.values()].sort((a, b) => b.count - a.count) : [];
    // named now, while the victim's mappings are still recorded
    const stacks: FaultStack[] = raw.slice(0, STACKS_PER_KILL).map((s) => ({ count: s.count, user: c.symbolize(k.victim.pid, s) }));
    const pm: OomPostMortem = {
      id: this.nextId++,
      ...k,
      container: cont && cont.id ? (({ cgroup: _c, ...rest }) => rest)(cont) : null,
      oom_memcg_usage_bytes: k.oom_memcg_usage_kb == null ? null : k.oom_memcg_usage_kb * 1024,
      victim_faults: victim?.total ?? 0,
      victim_fault_stacks: stacks,
      victim_faults_without_stack: (victim?.dropped ?? 0) + raw.slice(STACKS_PER_KILL).reduce((s, x) => s + x.count, 0),
    };
    this.kills.push(pm);
    if (this.kills.length > this.max) this.kills.shift();
    const key: OomKey = {
      cgroup: k.cgroup ?? '',
      container: cont?.name ?? cont?.id?.slice(0, 12) ?? '',
      pod: cont?.pod ?? '',
      namespace: cont?.namespace ?? '',
      constraint: k.constraint,
    };
    const ks = JSON.stringify(key);
    const prev = this.counts.get(ks);
    if (prev) prev.n++;
    else if (this.counts.size < this.maxLabelSets) this.counts.set(ks, { key, n: 1 });
    const top = stacks[0]?.user.find((f) => f.symbol && !f.note);
    logEvent('oom_kill', {
      id: pm.id,
      victim: k.victim,
      trigger: k.trigger,
      constraint: k.constraint,
      cgroup: k.cgroup,
      container: key.container || undefined,
      oom_memcg: k.oom_memcg,
      limit_bytes: k.oom_memcg_limit_kb === null ? null : k.oom_memcg_limit_kb * 1024,
      usage_bytes: pm.oom_memcg_usage_bytes,
      anon_rss_bytes: k.anon_rss_kb * 1024,
      victim_faults: pm.victim_faults,
      top_fault_function: top ? formatFrame(top, { offset: false }) : undefined,
    });
    return pm;
  }

  list(): OomPostMortem[] {
    return this.kills;
  }

  get(id: number): OomPostMortem | undefined {
    return this.kills.find((k) => k.id === id);
  }
}
