// SPDX-License-Identifier: Apache-2.0
// triage's rules on made-up observations: pure functions, no root, no BPF. Each case is one
// situation the rules must judge, with the numbers they must report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Observations, ToolRuns } from '../../src/tools/triage/collect';
import { judge } from '../../src/tools/triage/judge';
import { chooseFaultTargets } from '../../src/tools/triage/plan';
import type { ProcSnap } from '../../src/tools/triage/snapshot';
import { formatTriage } from '../../src/tools/triage/render-text';
import { triageHtml } from '../../src/tools/triage/render-html';
import type { OomkillRecord, TriageReport } from '../../src/core/records';

const TRIAGE_PID = 900;
const GiB = 1 << 20; // in kB

function proc(pid: number, comm: string, v: Partial<ProcSnap> = {}): ProcSnap {
  return { pid, comm, faults: 0, majflt: 0, rssKb: 1000, swapKb: 0, ...v };
}

/** A quiet 10-second window on a 16 GiB machine, changed by `over`. */
function observe(over: Partial<Observations> = {}, runs: ToolRuns = {}): Observations {
  const procs = new Map([[1, proc(1, 'init')], [TRIAGE_PID, proc(TRIAGE_PID, 'node', { rssKb: 15 * GiB })]]);
  const ok = <T>(tool: string, records: T[]) => ({ tool, args: [], available: true, records, code: 0, traced: 9 });
  return {
    elapsed: 10,
    window: 9,
    meminfo: { MemTotal: 16 * GiB, MemFree: 8 * GiB, MemAvailable: 12 * GiB, Cached: 2 * GiB },
    vm0: { pgfault: 0, pgmajfault: 0, pswpin: 0, pswpout: 0 },
    vm1: { pgfault: 1000, pgmajfault: 0, pswpin: 0, pswpout: 0 },
    procs0: procs,
    procs1: procs,
    cg0: new Map(),
    cg1: new Map(),
    swaps: [],
    oomLog: { events: [] },
    runs: {
      oomkill: ok('oomkill', []),
      swapin: ok('swapin', []),
      ffaults: ok('ffaults', []),
      vmgrowth: ok('vmgrowth', []),
      vmscan: ok('vmscan', []),
      drsnoop: ok('drsnoop', []),
      pmc: ok('pmc', [{ pmu: false, reason: 'ENOENT', events: ['page-faults'] }, { time: 'total', seconds: 9, 'page-faults': 900 }]),
      ...runs,
    },
    growthTool: 'vmgrowth',
    ownPids: new Set([TRIAGE_PID]),
    faultTargets: [],
    noFaultTargets: 'no process faulted notably in the first second',
    installed: () => true,
    ...over,
  };
}

const step = (j: ReturnType<typeof judge>, id: string) => j.steps.find((s) => s.id === id)!;

test('a quiet window: every step in checklist order, no problem; memscope itself is never a finding', () => {
  const j = judge(observe(), 3600);
  assert.deepEqual(
    j.steps.map((s) => s.id),
    ['oom', 'swap', 'memory', 'processes', 'faults', 'files', 'growth', 'reclaim', 'pmc'],
  );
  assert.deepEqual(j.findings, []);
  // triage's own 15 GiB node process is excluded: the largest is init
  assert.equal(step(j, 'processes').summary, 'largest: init (PID 1) RSS 1000 kB, 0.0% of memory');
  assert.equal(step(j, 'pmc').summary, 'no hardware PMU on this machine; software page-faults 100/s');
  assert.equal(step(j, 'faults').summary, '100 faults/s system-wide (no stacks: no process faulted notably in the first second)');
});

test('active swapping: the rate from /proc/vmstat, the process named from swapin records', () => {
  const o = observe(
    { vm1: { pgfault: 0, pswpin: 6400, pswpout: 0 }, swaps: [{ name: '/swap', type: 'file', sizeKb: GiB, usedKb: 10240, priority: -2 }] },
    {
      swapin: {
        tool: 'swapin',
        args: [],
        available: true,
        code: 0,
        records: [
          { time: 't', comm: 'hog', pid: 42, pages: 2000, bytes: 0, zswap_pages: 0 },
          { time: 't', comm: 'hog', pid: 42, pages: 500, bytes: 0, zswap_pages: 0 },
          { time: 't', comm: 'node', pid: TRIAGE_PID, pages: 9999, bytes: 0, zswap_pages: 0 },
        ],
      },
    },
  );
  const j = judge(o, 3600);
  const f = j.findings.find((x) => x.step === 'swap')!;
  // 6400 pages of 4 kB in 10 s: 2.5 MB/s, under the 10 MB/s critical rate
  assert.equal(f.severity, 'warning');
  assert.equal(f.title, 'Active swapping: 2.5 MiB/s in, 0 kB/s out; hog (PID 42) swapped in 2,500 pages');
  assert.equal(step(j, 'swap').status, 'problem');
  // with 16 kB pages the same counts are four times the bytes: critical
  assert.equal(judge(o, 3600, 16).findings.find((x) => x.step === 'swap')!.severity, 'critical');
});

test('an OOM kill traced by oomkill but missing from the rate-limited log: critical, its memcg named', () => {
  const kill: OomkillRecord = {
    time: '12:00:00',
    trigger: { pid: 50, tid: 50, comm: 'hog' },
    victim: { pid: 50, tid: 50, comm: 'hog', uid: 0 },
    pages: 1000,
    page_kb: 4,
    anon_rss_kb: 3000,
    file_rss_kb: 100,
    shmem_rss_kb: 0,
    oom_score_adj: 0,
    constraint: 'memcg',
    constraint_source: 'memcg limits',
    oom_memcg: '/box',
    oom_memcg_limit_kb: 4096,
    cgroup: '/box',
    loadavg: '0 0 0',
  };
  const j = judge(observe({}, { oomkill: { tool: 'oomkill', args: [], available: true, code: 0, records: [kill] } }), 3600);
  assert.equal(j.findings[0].severity, 'critical');
  assert.equal(j.findings[0].title, 'OOM kill 0 s ago: hog (PID 50) was killed; memory cgroup /box hit its limit');
  assert.equal(j.findings[0].details[0], 'victim hog (PID 50): anon-rss 2.9 MiB, file-rss 100 kB, total-vm 3.9 MiB');
  assert.equal(step(j, 'oom').summary, '1 OOM kill in the last 60 min');
});

test('reclaim: vmscan time summed over every interval, the stalled process named by drsnoop', () => {
  const row = (d: number, m: number) => ({ time: 't', seconds: 1, s_slab_ms: 0.5, d_reclaim_ms: d, m_reclaim_ms: m, kswapd: 1, writepage: 10, s_slab_events: 1, d_reclaim_events: 0, m_reclaim_events: 1 });
  const j = judge(
    observe(
      {},
      {
        vmscan: { tool: 'vmscan', args: [], available: true, code: 0, traced: 9, records: [row(0, 0), row(0, 30), row(0, 12.5), { histogram: 'memcg_reclaim_ns', buckets: [] }] },
        drsnoop: {
          tool: 'drsnoop',
          args: [],
          available: true,
          code: 0,
          records: [
            { time: 't', clock: 'c', time_s: 0, comm: 'hog', pid: 7, tid: 7, uid: 0, lat_ms: 40, pages: 32, kind: 'memcg' },
            { time: 't', clock: 'c', time_s: 0, comm: 'hog', pid: 7, tid: 7, uid: 0, lat_ms: 2.5, pages: 32, kind: 'memcg' },
          ],
        },
      },
    ),
    3600,
  );
  const f = j.findings.find((x) => x.step === 'reclaim')!;
  assert.equal(f.title, 'Memory cgroup limit reclaim stalled processes for 42.5 ms in 9.0 s; most: hog (PID 7) 42.5 ms in 2 reclaims');
  assert.equal(step(j, 'reclaim').summary, 'direct 0.0 ms, memcg 42.5 ms, shrink_slab 1.5 ms');
  assert.deepEqual({ ...j.tables.reclaim }, { pgscan: 0, pgsteal: 0, allocstall: 0, directMs: 0, memcgMs: 42.5, slabMs: 1.5, kswapdWakeups: 3, writepage: 30 });
});

test('a fast faulter: a warning with its top named stack; folded lines for the flame graph', () => {
  const procs0 = new Map([[42, proc(42, 'hog', { faults: 0 })]]);
  const procs1 = new Map([[42, proc(42, 'hog', { faults: 500_000 })]]);
  const faults = {
    tool: 'faults',
    args: [],
    available: true,
    code: 0,
    traced: 8,
    records: [
      { pid: 42, comm: 'hog', count: 900, ustack: ['[unknown]'] },
      { pid: 42, comm: 'hog', count: 400, ustack: ['touch+0x1a [hog]', 'main+0x9 [hog]'] },
    ],
  };
  const j = judge(observe({ procs0, procs1, faultTargets: [{ pid: 42, comm: 'hog', rate: 60000 }], noFaultTargets: undefined }, { faults }), 3600);
  const f = j.findings.find((x) => x.step === 'faults')!;
  assert.equal(f.title, 'High page-fault rate: hog (PID 42) 50,000 faults/s (100.0% of all process faults), in touch ← main');
  assert.equal(f.details[1], 'top stack of hog (400 faults in 8.0 s, memscope faults): touch+0x1a [hog] ← main+0x9 [hog]');
  assert.deepEqual(j.faultsFolded, ['hog;[unknown] 900', 'hog;main;touch 400']);
});

test('a top faulter that stops after the first second: says so, not "failed: undefined"', () => {
  const procs0 = new Map([[42, proc(42, 'hog')]]);
  const procs1 = new Map([[42, proc(42, 'hog', { faults: 200_000 })]]);
  const faults = { tool: 'faults', args: [], available: true, code: 0, traced: 3, records: [] };
  const j = judge(observe({ procs0, procs1, faultTargets: [{ pid: 42, comm: 'hog', rate: 200_000 }], noFaultTargets: undefined }, { faults }), 3600);
  assert.match(step(j, 'faults').summary, /\(no stacks: hog \(PID 42\) made no page fault after the first second\)$/);
  assert.equal(j.findings.find((x) => x.step === 'faults')!.details[1], 'no fault stacks for it: hog (PID 42) made no page fault after the first second');
  assert.doesNotMatch(JSON.stringify(j), /undefined/);
});

test('memory: a cgroup hitting its limit during the window, and low available memory', () => {
  const cg = (hits: number) => ({ path: '/box', usageKb: 63 * 1024, limitKb: 64 * 1024, hits, pids: [42] });
  const j = judge(
    observe({
      meminfo: { MemTotal: 16 * GiB, MemFree: 100, MemAvailable: 0.04 * 16 * GiB },
      cg0: new Map([['/box', cg(10)]]),
      cg1: new Map([['/box', cg(25)]]),
      procs1: new Map([[42, proc(42, 'hog')]]),
    }),
    3600,
  );
  assert.deepEqual(
    j.findings.map((f) => [f.severity, f.title.split(':')[0]]),
    [
      ['critical', 'Low available memory'],
      ['warning', 'Memory cgroup /box is hitting its limit'],
    ],
  );
  assert.equal(j.findings[1].details[0], 'processes: hog (PID 42)');
  assert.match(j.findings[1].title, /limit hit 15 times in 10\.0 s$/);
});

test('growth: vmgrowth intervals added up per process', () => {
  const rec = (pid: number, net: number) => ({ time: 't', pid, comm: `p${pid}`, brk_bytes: net, mmap_bytes: 0, munmap_bytes: 0, net_bytes: net });
  const j = judge(observe({}, { vmgrowth: { tool: 'vmgrowth', args: [], available: true, code: 0, records: [rec(5, 1 << 20), rec(6, 3 << 20), rec(5, 4 << 20)] } }), 3600);
  assert.deepEqual(
    j.tables.growth.map((g) => [g.pid, g.netBytes]),
    [
      [5, 5 << 20],
      [6, 3 << 20],
    ],
  );
  assert.equal(step(j, 'growth').summary, 'largest net virtual growth: p5 (PID 5) 5.0 MiB');
});

test('a tool that failed or is missing makes its step "not available" with its reason', () => {
  const j = judge(observe({}, { ffaults: { tool: 'ffaults', args: [], available: true, code: 1, records: [], error: 'no tracepoint' }, pmc: { tool: 'pmc', args: [], available: false, code: null, records: [] } }), 3600);
  assert.deepEqual(step(j, 'files'), { id: 'files', name: 'files backing page faults', status: 'not available', summary: 'memscope ffaults failed: no tracepoint' });
  assert.equal(step(j, 'pmc').summary, 'memscope pmc is not available');
});

test('fault targets: the top faulter of the first second, a second one only when it is fast too; never memscope', () => {
  const before = new Map([[1, { faults: 0 }], [2, { faults: 0 }], [3, { faults: 0 }], [TRIAGE_PID, { faults: 0 }]]);
  const now = [
    { pid: 1, comm: 'a', faults: 100 },
    { pid: 2, comm: 'b', faults: 1500 },
    { pid: 3, comm: 'c', faults: 40 },
    { pid: TRIAGE_PID, comm: 'node', faults: 1e6 },
  ];
  assert.deepEqual(
    chooseFaultTargets(before, now, 1, new Set([TRIAGE_PID])).map((t) => t.pid),
    [2],
  );
  now[0].faults = 5000;
  assert.deepEqual(
    chooseFaultTargets(before, now, 1, new Set([TRIAGE_PID])).map((t) => t.pid),
    [1, 2],
  );
});

test('renderers: text ranks findings, HTML carries them with their severity', () => {
  const procs0 = new Map([[42, proc(42, 'hog')]]);
  const procs1 = new Map([[42, proc(42, 'hog<x>', { faults: 200_000 })]]);
  const o = observe({ procs0, procs1, vm1: { pgfault: 0, pswpin: 3000, pswpout: 0 } });
  const j = judge(o, 3600);
  const report: TriageReport = {
    host: 'h',
    kernel: 'k',
    cpus: 2,
    memTotalKb: 16 * GiB,
    startedAt: 'now',
    durationSeconds: 10,
    windowSeconds: 9,
    ...j,
    tables: { ...j.tables, memory: { total: 1, used: 1, free: 1, shared: 1, buffCache: 1, available: 1 }, swaps: [], cgroups: [] },
    tools: {},
    faultTargets: [],
  };
  const text = formatTriage(report);
  assert.equal(text[2], 'Findings, most severe first:');
  assert.match(text[3], /^ 1\. WARNING +High page-fault rate: hog<x> \(PID 42\) 20,000 faults\/s/);
  assert.match(text.find((l) => l.startsWith(' 2.'))!, /^ 2\. WARNING +Active swapping: 1\.2 MiB\/s in/);
  const html = triageHtml(report);
  assert.match(html, /data-severity="warning" data-step="faults"><span class="sev">warning<\/span><strong>High page-fault rate: hog&lt;x&gt;/);
  assert.match(html, /No page-fault stacks \(no process faulted notably in the first second\)/);
});
