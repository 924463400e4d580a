// SPDX-License-Identifier: Apache-2.0
// The JSON records the tools print with --json: one type per record kind, in one place.
// Tools build their --json output as these types (so a renamed field fails to compile), and
// readers of that output (triage, the agent, the dashboard) parse it as these types rather than
// by field names copied by hand. A leaf module: it imports nothing, so any layer may use it.
//
// Conventions: one JSON object per line; bigints print as "0x..." strings (render/json.ts);
// sizes say their unit in the name (_kb, _bytes, _ms); `time` is the wall clock (HH:MM:SS)
// unless a comment says otherwise.

/** A count by stack (faults, brkstack, stackcount and the other stack tools; render/stacks.ts stackJson). */
export interface StackRecord {
  /** Absent when the tool counted stacks without processes (kernel-only stacks). */
  pid?: number;
  comm?: string;
  /** Events (or bytes, for allocation tools) on this stack. */
  count: number;
  /** Innermost frame first, formatted "func+0x1a [module]". */
  ustack: string[];
  kstack?: string[];
  /** Tool-specific extra fields (e.g. memleak's allocations). */
  [extra: string]: unknown;
}

/** memleak -t --json: one allocator call as it happened (src/tools/memleak/calls.ts). */
export interface MemleakCallRecord {
  time: string;
  pid: number;
  tid: number;
  comm: string;
  call: 'alloc_enter' | 'alloc_exit' | 'free';
  /** Bytes asked for (free: the size its allocation asked for). */
  size: number;
  /** alloc_exit: the address returned (0x0 for a failure); free: the address freed. */
  addr?: string;
}

/** swapin: pages read back from swap, per process and interval. */
export interface SwapinRecord {
  time: string;
  comm: string;
  pid: number;
  pages: number;
  bytes: number;
  /** Of `pages`, those brought back from zswap. */
  zswap_pages: number;
  /** The process's container (its name, else its id); null for a host process. */
  container?: string | null;
}

/** ffaults: page faults by backing file name; `time` only with an interval. */
export interface FfaultsRecord {
  time?: string;
  /** The mapped file's last path component, or [anon], [heap], [stack], [vdso], [unmapped]... */
  file: string;
  /** ffaults: the faulting processes' container (name, else id), null for the host */
  container?: string | null;
  /** every fault, as perf stat -e page-faults counts them */
  count: number;
  /** completed faults that read from disk or were retried (perf's major-faults) */
  major: number;
  /** count - major: faults the page cache or a fresh page answered */
  minor: number;
}

/** vmgrowth: virtual memory growth of one process in one interval (or the whole run). */
export interface VmgrowthRecord {
  time: string;
  pid: number;
  comm: string;
  /** The process's container (its name, else its id); null for a host process. */
  container?: string | null;
  /** Net move of the heap break (negative when it shrank). */
  brk_bytes: number;
  mmap_bytes: number;
  munmap_bytes: number;
  net_bytes: number;
  /** With -s: the stacks that grew or shrank it, `bytes` per stack. */
  grow_stacks?: (StackRecord & { bytes: number })[];
  shrink_stacks?: (StackRecord & { bytes: number })[];
}

/** vmscan: reclaim time in one interval (the last interval may be partial: see `seconds`). */
export interface VmscanIntervalRecord {
  time: string;
  /** Length of this interval in seconds. */
  seconds?: number;
  s_slab_ms: number;
  d_reclaim_ms: number;
  m_reclaim_ms: number;
  kswapd: number;
  writepage: number;
  s_slab_events: number;
  d_reclaim_events: number;
  m_reclaim_events: number;
}

/** vmscan at exit: a log2 histogram of per-event times in nanoseconds. */
export interface VmscanHistogramRecord {
  histogram: 'shrink_slab_ns' | 'direct_reclaim_ns' | 'memcg_reclaim_ns';
  buckets: { min: number; max: number; count: number }[];
}

/** vmscan --by-shrinker at exit: shrink_slab time by shrinker function. */
export interface VmscanShrinkerRecord {
  shrinker: string;
  /** The shrinker function's address ("0x..."). */
  addr: string;
  calls: number;
  ms: number;
  freed: number;
}

export type VmscanRecord = VmscanIntervalRecord | VmscanHistogramRecord | VmscanShrinkerRecord;

export function isVmscanInterval(r: VmscanRecord): r is VmscanIntervalRecord {
  return (r as VmscanIntervalRecord).d_reclaim_ms !== undefined;
}

/** drsnoop: one direct or memory-cgroup reclaim. */
export interface DrsnoopRecord {
  /** ISO wall-clock time of the reclaim's end. */
  time: string;
  /** HH:MM:SS.ffffff */
  clock: string;
  /** Seconds since the first traced reclaim. */
  time_s: number;
  comm: string;
  pid: number;
  /** The process's container (its name, else its id); null for a host process. */
  container?: string | null;
  tid: number;
  uid: number;
  lat_ms: number;
  pages: number;
  /** With -e: free memory (kB) as the reclaim ended. */
  free_kb?: number;
  kind: 'direct' | 'memcg' | string;
}

/** pmc: the first line, saying what is counted. */
export interface PmcHeaderRecord {
  /** false: no hardware PMU; the software fault events are counted instead. */
  pmu: boolean;
  reason?: string;
  events: string[];
}

/** pmc: counts over one interval (`time`: seconds since start) or the whole run (`time`: "total"). */
export interface PmcCountsRecord {
  time: number | 'total';
  seconds: number;
  'miss%'?: number;
  /** Counts by event name: LLC-loads, LLC-load-misses, or page-faults, minor-faults, major-faults. */
  [event: string]: number | string | undefined;
}

export type PmcRecord = PmcHeaderRecord | PmcCountsRecord;

export function isPmcHeader(r: PmcRecord): r is PmcHeaderRecord {
  return (r as PmcHeaderRecord).pmu !== undefined;
}

/** oomkill: one OOM kill as traced. */
export interface OomkillRecord {
  time: string;
  trigger: { pid: number; tid: number; comm: string };
  /** container (oomkill): the victim's container name, else its id; null for the host. */
  victim: { pid: number; tid: number; comm: string; uid: number; container?: string | null };
  /** The pages the OOM decision measured tasks against (oom_control.totalpages, BCC's "N pages"),
   * computed as constrained_alloc() does; null for cpuset/mempolicy constraints. */
  totalpages?: number | null;
  /** The victim's size (total_vm), in pages. */
  pages: number;
  /** The page size the pages are in, so readers need not assume 4 kB. */
  page_kb?: number;
  anon_rss_kb: number;
  file_rss_kb: number;
  shmem_rss_kb: number;
  oom_score_adj: number;
  /** memcg: a memory cgroup's limit; global: the whole system; cpuset, mempolicy: from the kernel log. */
  constraint: 'memcg' | 'global' | 'cpuset' | 'mempolicy' | string;
  /** Where the constraint came from: the kernel's own OOM report, or the memcg limits read in BPF. */
  constraint_source: 'kernel log' | 'memcg limits';
  /** The memory cgroup whose limit was hit (constraint memcg). */
  oom_memcg: string | null;
  oom_memcg_limit_kb: number | null;
  /** That memcg's usage (memory, or memory+swap when that limit was hit) when the victim was chosen, before the kill freed anything. */
  oom_memcg_usage_kb?: number | null;
  /** The victim's memory cgroup. */
  cgroup: string | null;
  loadavg: string;
  /** The user stack of the task that triggered the OOM, innermost frame first. */
  trigger_ustack?: string[];
}

/** oomlog: one OOM kill as the kernel log reported it (also what triage lists). */
export interface OomEvent {
  /** Seconds since boot of the "invoked oom-killer" line. */
  time?: number;
  /** ISO wall-clock time, for events read from this boot's /dev/kmsg. */
  wallclock?: string;
  /** Seconds ago, for events read from this boot's /dev/kmsg. */
  ageSeconds?: number;
  invoker: { comm: string; pid?: number; gfpMask?: string; order?: number; oomScoreAdj?: number };
  /** The kernel's word: CONSTRAINT_NONE, CONSTRAINT_MEMCG, CONSTRAINT_CPUSET, CONSTRAINT_MEMORY_POLICY. */
  constraint?: string;
  /** The memory cgroup whose limit was hit (CONSTRAINT_MEMCG), else the victim's cgroup. */
  cgroup?: string;
  taskCgroup?: string;
  victim?: {
    pid: number;
    comm: string;
    totalVmKb?: number;
    anonRssKb?: number;
    fileRssKb?: number;
    shmemRssKb?: number;
    score?: number;
    oomScoreAdj?: number;
  };
  /** "memory: usage 65536kB, limit 65536kB, failcnt 79" */
  memcg?: { usageKb: number; limitKb: number; failcnt: number };
  /** The Mem-Info block (global OOM), counts in pages. */
  memInfo?: Record<string, number>;
  /** Tasks in the report's table. */
  tasks?: number;
  /** The largest tasks of the table by rss (pages). */
  topTasks?: { pid: number; comm: string; rssPages: number; totalVmPages: number }[];
}

/** triage: how bad a finding is; findings are ranked by it. */
export type Severity = 'critical' | 'warning' | 'info' | 'ok';

/** triage: one thing found, with its numbers and the commands to dig deeper. */
export interface Finding {
  /** The checklist step (TriageStep id) that found it. */
  step: string;
  severity: Severity;
  title: string;
  details: string[];
  /** memscope commands to dig deeper */
  dig: string[];
  /** orders findings of equal severity (bigger first) */
  weight?: number;
}

/** triage: the result of one step of the checklist (BPF Performance Tools 7.1.3). */
export interface StepResult {
  id: 'oom' | 'swap' | 'memory' | 'processes' | 'faults' | 'files' | 'growth' | 'reclaim' | 'pmc';
  name: string;
  status: 'problem' | 'clean' | 'info' | 'not available';
  summary: string;
}

/** triage: a memory cgroup with a limit. */
export interface CgroupRecord {
  /** Relative to the memory controller's root: "/a/b". */
  path: string;
  usageKb: number;
  limitKb: number;
  /** v1 failcnt or v2 memory.events "max": times the limit was hit */
  hits: number;
  pids: number[];
}

/** triage: how one BPF tool it ran went. */
export interface TriageToolRecord {
  available: boolean;
  args: string[];
  exit: number | null;
  /** Wall-clock seconds the subprocess ran. */
  seconds?: number;
  /** Seconds it traced: from attaching to being told to stop. */
  traced?: number;
  error?: string;
}

/** triage --json: the whole report, one object. */
export interface TriageReport {
  host: string;
  kernel: string;
  cpus: number;
  memTotalKb: number;
  startedAt: string;
  durationSeconds: number;
  /** Seconds the BPF tools traced (the longest of them). */
  windowSeconds: number;
  findings: Finding[];
  steps: StepResult[];
  tools: Record<string, TriageToolRecord>;
  tables: {
    processes: { pid: number; comm: string; rssKb: number; rssGrowthKb: number; swapKb: number; faultsPerS: number }[];
    faultStacks: { pid: number; comm: string; count: number; ustack: string[] }[];
    files: { file: string; count: number }[];
    growth: { pid: number; comm: string; netBytes: number; brkBytes?: number; mmapBytes?: number }[];
    /** free(1)'s figures in kB, and memTotalKb. */
    memory: Record<string, number>;
    swaps: { name: string; type: string; sizeKb: number; usedKb: number; priority: number }[];
    cgroups: CgroupRecord[];
    oomKills: OomEvent[];
    /** pgscan, pgsteal, allocstall (/proc/vmstat), and directMs, memcgMs, slabMs, kswapdWakeups, writepage when vmscan ran. */
    reclaim: Record<string, number>;
  };
  /** the processes whose fault stacks were traced (the top faulters of the first second) */
  faultTargets: { pid: number; comm: string; rate: number }[];
  /** folded page-fault stacks for the flame graph (not in --json) */
  faultsFolded?: string[];
}

/** Parses JSON lines as records of one kind; lines that are not JSON objects (a line cut short
 * by a kill, a stray message) are skipped. The caller names the kind; nothing is checked at run
 * time beyond "a JSON object". */
export function parseRecords<T>(text: string): T[] {
  const out: T[] = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as T);
    } catch {
      /* a line cut by a kill */
    }
  }
  return out;
}
