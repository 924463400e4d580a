// SPDX-License-Identifier: Apache-2.0
// GET /metrics: every figure the agent exports, built at scrape time from the kernel's maps.
// Base units (seconds, bytes), counters end in _total, label sets are bounded: cgroups by the
// map size (maxCgroups), files by topComms (the rest summed as "[other]"). Host-wide counters
// node_exporter already has (node_vmstat_*) are not repeated.
import { Family, HistogramSample, log2Buckets, renderExposition, Sample, topK } from '../render/prometheus';
import { readHistograms, readTotals } from '../tools/vmscan';
import { totals as fileFaultTotals } from '../tools/ffaults';
import { readCompactionTotals } from '../tools/compaction';
import type { AgentConfig } from './config';
import { CG_KIND, Collectors } from './collectors';

/** Slot b of a log2 histogram of nanoseconds holds up to 2^b - 1 ns. */
const nsUpper = (b: number) => (2 ** b - 1) / 1e9;
/** Slot b of a log2 histogram of whole microseconds (ns / 1000) holds up to 2^b * 1000 - 1 ns. */
const usUpper = (b: number) => (2 ** b * 1000 - 1) / 1e9;

// vmscan's kinds, in its histogram order (bpf/vmscan.bpf.c K_SLAB, K_DIRECT, K_MEMCG)
const RECLAIM_KINDS = ['shrink_slab', 'direct', 'memcg'];

export function collectMetrics(c: Collectors, config: AgentConfig): Family[] {
  const families: Family[] = [];
  const start = process.hrtime.bigint();

  // per memory cgroup counters
  const labelsOf = (id: bigint) => {
    const cont = c.containers.ofCgroupId(id);
    return { cgroup: cont?.cgroup ?? '', container: cont ? (cont.name ?? cont.id?.slice(0, 12) ?? '') : '' };
  };
  const totals = c.allCgroupTotals();
  const perCgroup = (kind: number, scale = 1): Sample[] => {
    const merged = new Map<string, Sample>();
    for (const [id, v] of totals.get(kind) ?? []) {
      const labels = labelsOf(id);
      const key = `${labels.cgroup}\0${labels.container}`;
      const prev = merged.get(key);
      if (prev) prev.value += v * scale;
      else merged.set(key, { labels, value: v * scale });
    }
    return [...merged.values()].sort((a, b) => (a.labels.cgroup < b.labels.cgroup ? -1 : 1));
  };

  families.push({
    name: 'memscope_oom_kills_total',
    help: "OOM kills by the victim's memory cgroup, its container (name, else short id), pod, namespace, and the constraint (memcg: a cgroup limit; global).",
    type: 'counter',
    samples: [...c.ooms.counts.values()].map(({ key, n }) => ({ labels: { ...key }, value: n })),
  });

  const vmscan = c.source('vmscan');
  if (vmscan) {
    const hists = readHistograms(vmscan);
    const totals = readTotals(vmscan);
    const histograms: HistogramSample[] = RECLAIM_KINDS.map((kind, i) => ({
      labels: { kind },
      ...log2Buckets(hists[i], 10, 35, nsUpper),
      sum: totals[i] / 1e9,
    }));
    families.push({
      name: 'memscope_reclaim_seconds',
      help: 'Time of each reclaim: direct (an allocating task), memcg (a cgroup over its limit), shrink_slab (one shrinker call).',
      type: 'histogram',
      histograms,
    });
  }

  const compaction = c.source('compaction');
  if (compaction) {
    const { slots, totalNs } = readCompactionTotals(compaction);
    families.push({
      name: 'memscope_compaction_seconds',
      help: 'Time of each page compaction run (compact_zone).',
      type: 'histogram',
      histograms: [{ labels: {}, ...log2Buckets(slots, 0, 25, usUpper), sum: totalNs / 1e9 }],
    });
  }

  families.push(
    { name: 'memscope_page_faults_total', help: 'User page faults by memory cgroup and container.', type: 'counter', samples: perCgroup(CG_KIND.faults) },
    {
      name: 'memscope_swapin_pages_total',
      help: 'Pages read in from swap devices, by the memory cgroup charged.',
      type: 'counter',
      samples: perCgroup(CG_KIND.swapin),
    },
    {
      name: 'memscope_reclaim_stall_seconds_total',
      help: 'Time tasks spent in direct and memcg reclaim (drsnoop), by memory cgroup and container.',
      type: 'counter',
      samples: perCgroup(CG_KIND.reclaimStallNs, 1e-9),
    },
    {
      name: 'memscope_reclaim_stalls_total',
      help: 'Direct and memcg reclaims tasks had to do themselves (drsnoop), by memory cgroup and container.',
      type: 'counter',
      samples: perCgroup(CG_KIND.reclaimStalls),
    },
    {
      name: 'memscope_hugetlb_faults_total',
      help: 'Page faults on hugetlbfs mappings by memory cgroup and container.',
      type: 'counter',
      samples: perCgroup(CG_KIND.hugetlbFaults),
    },
    {
      name: 'memscope_heap_growth_bytes_total',
      help: 'Bytes the heap grew by through brk(), by memory cgroup and container.',
      type: 'counter',
      samples: perCgroup(CG_KIND.brkBytes),
    },
    {
      name: 'memscope_mmap_bytes_total',
      help: 'Bytes mapped by mmap() and grown by mremap(), by memory cgroup and container.',
      type: 'counter',
      samples: perCgroup(CG_KIND.mmapBytes),
    },
  );

  const ff = c.source('ffaults');
  if (ff) {
    const samples = [...fileFaultTotals(ff)].map(([file, n]) => ({ labels: { file }, value: n }));
    families.push({
      name: 'memscope_file_page_faults_total',
      help: `User page faults by the file mapped at the address ([anon], [heap], [stack] without one): the top ${config.topComms} files, the rest as [other].`,
      type: 'counter',
      samples: topK(samples, config.topComms, { file: '[other]' }),
    });
  }

  const walks = c.faultWalkStats();
  if (walks) {
    families.push(
      {
        name: 'memscope_fault_stacks_sampled_total',
        help: 'Page faults whose stacks were not walked: past faultStackRate faults a second on the host, one in faultStackSampleEvery on each CPU is walked, weighted by the faults it stands for (fault profiles then estimate; per-cgroup counts stay exact).',
        type: 'counter',
        samples: [{ labels: {}, value: walks.notWalked }],
      },
      {
        name: 'memscope_fault_stack_period',
        help: 'One fault in this many on each CPU has its stack walked now: 1 while the host takes at most faultStackRate faults a second or a fault trace is open, else faultStackSampleEvery.',
        type: 'gauge',
        samples: [{ labels: {}, value: walks.period }],
      },
      {
        name: 'memscope_fault_stack_weighted_walks_total',
        help: 'Fault stacks walked and counted with the weight of the faults not walked before them.',
        type: 'counter',
        samples: [{ labels: {}, value: walks.weighted }],
      },
    );
  }
  families.push({
    name: 'memscope_events_lost_total',
    help: 'Events a source dropped because a kernel map or ring buffer was full.',
    type: 'counter',
    samples: [...c.lostEvents()].map(([source, n]) => ({ labels: { source }, value: n })),
  });
  families.push({
    name: 'memscope_stacks_lost_total',
    help: 'Events whose user stack was not kept, by source: the kernel could not store it (reason full: the stack store was full; collided: its 4 ids were held by other stacks; each is still counted, under [missed user stack] in profiles), or the agent kept its process\'s heaviest maxStacksPerProcess stacks without it (process_full: faults only, not in the process\'s profile since the agent first saw it).',
    type: 'counter',
    samples: [
      ...[...c.stacksLost()].flatMap(([source, l]) => [
        { labels: { source, reason: 'full' }, value: l.full },
        { labels: { source, reason: 'collided' }, value: l.collided },
      ]),
      { labels: { source: 'faults', reason: 'process_full' }, value: c.faults.dropped },
    ],
  });
  // growth stacks are kept the same way, but their counts are bytes, not events
  families.push({
    name: 'memscope_growth_bytes_lost_total',
    help: 'Bytes of brk/mmap growth whose stack the agent did not keep: it kept its process\'s heaviest maxStacksPerProcess growth stacks without it (not in the process\'s growth profile since the agent first saw it).',
    type: 'counter',
    samples: [{ labels: { reason: 'process_full' }, value: c.growth.dropped }],
  });
  families.push({
    name: 'memscope_tracked_processes',
    help: 'Processes whose fault stacks the agent keeps.',
    type: 'gauge',
    samples: [{ labels: {}, value: c.faults.size }],
  });

  const cpu = process.cpuUsage();
  families.push(
    {
      name: 'process_cpu_seconds_total',
      help: 'CPU time of the agent (user and system).',
      type: 'counter',
      samples: [{ labels: {}, value: (cpu.user + cpu.system) / 1e6 }],
    },
    {
      name: 'process_resident_memory_bytes',
      help: 'Resident memory of the agent.',
      type: 'gauge',
      samples: [{ labels: {}, value: process.memoryUsage.rss() }],
    },
    {
      name: 'process_start_time_seconds',
      help: 'Start time of the agent since the epoch.',
      type: 'gauge',
      samples: [{ labels: {}, value: Math.round((Date.now() - process.uptime() * 1000) / 1000) }],
    },
    {
      name: 'memscope_scrape_duration_seconds',
      help: 'Time to read the kernel maps and build this exposition.',
      type: 'gauge',
      samples: [{ labels: {}, value: Number(process.hrtime.bigint() - start) / 1e9 }],
    },
  );
  return families;
}

export function renderMetrics(c: Collectors, config: AgentConfig): string {
  return renderExposition(collectMetrics(c, config));
}
