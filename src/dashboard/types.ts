// SPDX-License-Identifier: Apache-2.0
// What the dashboard shows, as JSON on the wire (the browser's web/src/types.ts mirrors these), and
// what it needs from its host: the agent plugs its collectors in through DashboardSources; anything
// left out falls back to procfs and the CLI tools run as subprocesses (src/dashboard/fallback.ts).

/** One point of the overview's timeline (1 s apart). Memory in kB, rates per second. */
export interface Sample {
  /** the sample's slot: start + seq intervals (src/dashboard/monitor.ts); consecutive unless gap */
  seq: number;
  /** slots just before this one that passed with no sample (the agent's event loop was held) */
  gap?: number;
  /** ms since the epoch */
  t: number;
  total: number;
  available: number;
  free: number;
  cache: number;
  swapUsed: number;
  swapTotal: number;
  faults: number;
  majfaults: number;
  swapins: number;
  swapouts: number;
  /** direct-reclaim and compaction stalls per second (vmstat allocstall*, compact_stall) */
  reclaimStalls: number;
  compactStalls: number;
  /** seconds spent per second, when the host measures them (the agent's vmscan/compaction histograms) */
  reclaimSeconds?: number;
  compactionSeconds?: number;
}

export interface Finding {
  severity: 'critical' | 'warning' | 'info' | 'ok';
  step: string;
  title: string;
  detail: string;
  /** the commands that dig deeper */
  dig: string[];
}

export interface ProcessRow {
  pid: number;
  comm: string;
  cmdline: string;
  /** kB */
  rss: number;
  swap: number;
  /** kB per second over the last refreshes (negative when shrinking) */
  growth: number;
  faultsPerSec: number;
  /** swap-ins per second (only when the host counts them per process) */
  swapinsPerSec?: number;
  /** pages swapped in since the host first counted the process */
  swapins?: number;
  cgroup: string;
  container: string;
  /** bytes; limit null when unlimited */
  cgUsage?: number;
  cgLimit?: number | null;
  /** OOM kills in its memory cgroup (memory.oom_control oom_kill) */
  cgOomKills?: number;
}

export interface Segment {
  start: string;
  kb: number;
  rss: number;
  dirty: number;
  swap: number;
  mode: string;
  mapping: string;
}

/** A stack (root first, as flame graphs draw it) and its value. */
export interface StackValue {
  frames: string[];
  value: number;
  /** bytes per second, for outstanding-bytes profiles */
  growth?: number;
}

export interface Profile {
  unit: 'faults' | 'bytes';
  stacks: StackValue[];
  /** events the kernel could not count while it ran, host-wide (a full count map): the stacks
   * are short by up to this many, and the page says so rather than showing a wrong count as exact */
  lost?: number;
  /** ms since the epoch */
  t: number;
}

export interface OomRecord {
  id: number;
  /** ms since the epoch (approximate for kernel-log records) */
  t: number;
  trigger: { comm: string; pid?: number };
  victim?: { pid: number; comm: string };
  constraint?: string;
  cgroup?: string;
  container?: string;
  /** kB */
  limitKb?: number;
  usageKb?: number;
  rssKb?: { anon?: number; file?: number; shmem?: number };
  /** the victim's fault stacks while it lived, when the host kept them */
  stacks?: StackValue[];
}

export type JobKind = 'faults' | 'memleak';

export interface JobState {
  id: number;
  kind: JobKind;
  pid: number;
  seconds: number;
  state: 'starting' | 'running' | 'done' | 'failed';
  error?: string;
  /** the latest report; memleak replaces it at every interval */
  profile?: Profile;
  reports: number;
}

/** A trace the host runs for the dashboard; it reports profiles until it ends. */
export interface TraceHandle {
  stop(): void;
}

export interface TraceCallbacks {
  /** the tracer is attached: events from now on are counted */
  onStart(): void;
  onProfile(p: Profile): void;
  onEnd(error?: string): void;
}

/** What the host (the agent) provides; each is optional. */
export interface DashboardSources {
  /** the container name and id of a memory cgroup path ("/docker/<id>") */
  container?(cgroup: string): { name?: string; id?: string } | null;
  /** cumulative seconds in reclaim and compaction since the host started */
  reclaimSeconds?(): { reclaim: number; compaction: number };
  /** cumulative swap-ins (pages) per pid */
  swapinsByPid?(): Map<number, number>;
  /** the host's OOM post-mortems, oldest first */
  oomRecords?(): OomRecord[];
  /** page-fault stacks the host kept for a process, without tracing anew */
  faultProfile?(pid: number): Profile | null;
  /** traces on demand (faults or outstanding allocations of one process) */
  trace?(kind: JobKind, pid: number, seconds: number, cb: TraceCallbacks): TraceHandle;
}
