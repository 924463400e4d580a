// SPDX-License-Identifier: Apache-2.0
// memscope agent with real clients: Prometheus (Debian's prometheus) scraping /metrics, `go tool
// pprof` reading /debug/pprof/*, and the JSON API, against workloads that make known events: an
// OOM kill in a memory cgroup, swap-ins in another, page faults and leaks of known sizes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { jsonLines, memscope, start } from './lib/run';
import { get, pprofRaw, startAgent, startPrometheus, until } from './lib/agent';
import { assertNothingLoaded } from './lib/bpf';
import { HugePages, MemoryCgroup, Swapfile, vmstat } from './lib/scenario';
import { assertInOrder, frameName } from './lib/frames';

test('agent: bad input is one line and a non-zero exit, nothing left loaded', () => {
  let r = memscope(['agent', '--listen', '0.0.0.0:9477']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^memscope: listening on 0\.0\.0\.0 \(beyond loopback\) needs --token-file FILE/);
  r = memscope(['agent', '--listen', 'localhost']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "memscope: --listen: expected ADDR:PORT (e.g. 127.0.0.1:9477), got 'localhost'\n");
  const cfg = path.join(os.tmpdir(), `memscope-agent-cfg-${process.pid}.json`);
  fs.writeFileSync(cfg, '{"topComms": -1}');
  r = memscope(['agent', '--config', cfg]);
  fs.rmSync(cfg);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^memscope: config .*: 'topComms' must be an integer from 0 to 1000\n$/);
});

test('agent: go tool pprof reads the faults of a process with its exact count, and a heap profile with the bytes leaked; a bearer token is required when set', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-agent-'));
  const tokenFile = path.join(tmp, 'token');
  fs.writeFileSync(tokenFile, 'a-test-token-0123456789\n');
  // every fault walked whatever the host's fault rate (the exact count below; sampling: next test)
  const cfg = path.join(tmp, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ faultStackRate: 10_000_000 }));
  const agent = await startAgent(['--token-file', tokenFile, '--config', cfg]);
  const auth = { Authorization: 'Bearer a-test-token-0123456789' };
  const touch = start(workload('fault_touch'), ['3217']);
  const leaks = start(workload('memleak_sites'));
  try {
    assert.equal((await get(`${agent.base}/metrics`)).status, 401);
    assert.equal((await get(`${agent.base}/metrics`, { Authorization: 'Bearer wrong-token-0123456789' })).status, 401);
    const metrics = await get(`${agent.base}/metrics`, auth);
    assert.equal(metrics.status, 200);
    // promtool (Debian's prometheus) finds nothing to say about the exposition
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: metrics.body, encoding: 'utf8' });
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    assert.equal(lint.stdout + lint.stderr, '');

    // faults: every fault of touch_pages, counted by the agent since it first saw the process
    await touch.waitFor('ready');
    touch.send('go');
    await touch.waitFor('done');
    const prof = await get(`${agent.base}/debug/pprof/faults?pid=${touch.pid}`, auth);
    assert.equal(prof.status, 200);
    assert.equal(prof.body[0], 0x1f, 'gzip');
    const file = path.join(tmp, 'faults.pb.gz');
    fs.writeFileSync(file, prof.body);
    const samples = pprofRaw(file);
    const mine = samples.filter((s) => s.functions[0] === 'touch_pages');
    assert.equal(
      mine.reduce((n, s) => n + s.values[0], 0),
      3217,
      JSON.stringify(samples.filter((s) => s.values[0] > 5)),
    );
    assert.equal(
      mine.reduce((n, s) => n + s.values[1], 0),
      3217 * 4096,
    );
    assert.match(mine[0].labels, new RegExp(`pid:\\[${touch.pid}\\]`));
    assert.match(mine[0].labels, /comm:\[fault_touch\]/);
    assert.ok(mine[0].functions.includes('main'), mine[0].functions.join(' '));
    // the mapping carries the workload's build id (go tool pprof -raw prints the mappings)
    const raw = execFileSync('go', ['tool', 'pprof', '-raw', file], { encoding: 'utf8', env: { ...process.env, HOME: tmp } });
    const buildId = execFileSync('readelf', ['-n', workload('fault_touch')], { encoding: 'utf8' }).match(/Build ID: ([0-9a-f]+)/)![1];
    assert.match(raw, new RegExp(`fault_touch ${buildId}`));

    // heap: memleak on the process for 20 s; the allocations are made once memleak is attached,
    // and must all fall in the window (churn_d's 100,000 traced calls take a few seconds here)
    await leaks.waitFor('ready');
    let answered = false;
    const heapReq = get(`${agent.base}/debug/pprof/heap?pid=${leaks.pid}&seconds=20`, auth).then((r) => ((answered = true), r));
    await agent.run.waitFor(new RegExp(`"event":"heap_profile_attached","pid":${leaks.pid}`), 60_000);
    // the memleak the agent runs for it: memscope too, so never traced (asked for below)
    const task = `/proc/${agent.run.pid}/task`;
    const children = fs.readdirSync(task).flatMap((t) => fs.readFileSync(`${task}/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    assert.equal(children.length, 1, `the agent's children: ${children}`);
    leaks.send('go');
    await leaks.waitFor('done', 60_000);
    assert.ok(!answered, 'the heap profile window ended before the workload was done: the counts below would be partial');
    const heap = await heapReq;
    assert.equal(heap.status, 200, heap.body.toString());
    const heapFile = path.join(tmp, 'heap.pb.gz');
    fs.writeFileSync(heapFile, heap.body);
    const hs = pprofRaw(heapFile);
    // alloc_objects alloc_space inuse_objects inuse_space
    const at = (fn: string) => hs.filter((s) => s.functions[0] === fn).reduce((a, s) => a.map((v, i) => v + s.values[i]), [0, 0, 0, 0]);
    assert.deepEqual(at('leak_a'), [100, 100_000, 100, 100_000], JSON.stringify(hs.slice(0, 5)));
    assert.deepEqual(at('leak_b'), [50, 3200, 50, 3200]);
    // alloc_* count every allocation in the window, inuse_* the outstanding ones: churn_d's
    // 100,000 mallocs of 48 bytes were all freed
    assert.deepEqual(at('churn_d'), [100_000, 4_800_000, 0, 0]);
    // as go tool pprof reads them by -sample_index: churn_d is 4.58MB of alloc_space, absent from inuse_space
    const topBy = (index: string) =>
      execFileSync('go', ['tool', 'pprof', '-top', `-sample_index=${index}`, heapFile], { encoding: 'utf8', env: { ...process.env, HOME: tmp } });
    assert.match(topBy('alloc_space'), /^\s*4\.58MB .* churn_d$/m);
    assert.match(topBy('alloc_objects'), /^\s*100000 .* churn_d$/m);
    assert.doesNotMatch(topBy('inuse_space'), /churn_d/);
    const top = execFileSync('go', ['tool', 'pprof', '-top', '-sample_index=inuse_space', heapFile], { encoding: 'utf8', env: { ...process.env, HOME: tmp } });
    assert.match(top, /Type: inuse_space/);

    // memscope never traces itself: serving the requests above the agent faulted in and grew
    // by megabytes, and its memleak child by more (a Node start), and none of it is counted
    // (before, ~58,000 faults and 740 MB of growth of the agent's own after a few minutes idle, in
    // every profile and metric); the agent keeps a process's stacks a minute after it exits
    for (const [who, pid] of [['the agent', agent.run.pid], ['its memleak child', children[0]]] as const) {
      for (const kind of ['faults', 'growth']) {
        const self = await get(`${agent.base}/debug/pprof/${kind}?pid=${pid}`, auth);
        assert.equal(self.status, 200);
        const selfFile = path.join(tmp, `self-${kind}.pb.gz`);
        fs.writeFileSync(selfFile, self.body);
        assert.deepEqual(pprofRaw(selfFile), [], `${kind} of ${who}`);
      }
    }
  } finally {
    touch.kill();
    leaks.kill();
    await agent.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('agent: above its walk rate the agent walks one fault stack in N, weighted by the faults it stands for: the burst\'s profile sums to its fault count within the faults still carried per CPU, and the metric counts those not walked', async () => {
  // a walk rate of 1 fault a second on the host, so the agent samples from its first collection
  // on, on any machine: the bound below is the rule's (bpf/faults.bpf.c fault_period_weights, the
  // perf event's period), not a speed
  const EVERY = 8;
  const PAGES = 20_000;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-agent-'));
  const cfg = path.join(tmp, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ faultStackRate: 1, faultStackSampleEvery: EVERY }));
  const agent = await startAgent(['--config', cfg]);
  const touch = start(workload('fault_touch'), [String(PAGES)]);
  const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec((await get(`${agent.base}/metrics`)).body.toString())![1]);
  try {
    await touch.waitFor('ready');
    // the host's faults since the agent started (its own, at least) are above 1 a second
    await until('the agent samples fault stacks', async () => (await metric('memscope_fault_stack_period')) === EVERY);
    const notWalked0 = await metric('memscope_fault_stacks_sampled_total');
    const weighted0 = await metric('memscope_fault_stack_weighted_walks_total');
    touch.send('go');
    await touch.waitFor('done');
    const prof = await get(`${agent.base}/debug/pprof/faults?pid=${touch.pid}`);
    assert.equal(prof.status, 200);
    const file = path.join(tmp, 'faults.pb.gz');
    fs.writeFileSync(file, prof.body);
    const samples = pprofRaw(file);
    const touched = samples.filter((s) => s.functions[0] === 'touch_pages').reduce((n, s) => n + s.values[0], 0);
    // the faults not walked yet are at most EVERY - 1 per CPU (the perf event's count towards its
    // next sample): that many faults before the burst may go into touch_pages' first walks, that
    // many of its last may still wait for a walk
    const slack = 2 * (EVERY - 1) * os.cpus().length;
    assert.ok(Math.abs(touched - PAGES) <= slack, `touch_pages: ${touched} faults counted of ${PAGES} (slack ${slack})\n${JSON.stringify(samples.filter((s) => s.values[0] > 5))}`);
    // most of the burst was not walked (one in EVERY was): counted (host-wide counters), walks
    // carried weight
    const notWalked = (await metric('memscope_fault_stacks_sampled_total')) - notWalked0;
    const weighted = (await metric('memscope_fault_stack_weighted_walks_total')) - weighted0;
    assert.ok(notWalked >= PAGES / 2, `${notWalked} faults not walked during a burst of ${PAGES}`);
    assert.ok(weighted > 0, `no weighted walk for ${notWalked} faults not walked`);
  } finally {
    touch.kill();
    await agent.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('agent: Prometheus scraping the agent sees one OOM kill for the cgroup; /api/oom names the cgroup, its limit and the function that faulted the memory in; a JSON log line says it', async () => {
  const agent = await startAgent();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-prom-'));
  const prom = await startPrometheus(agent, tmp);
  const cg = new MemoryCgroup('memscope_agent_oom', 48 << 20, { swappiness: 0 });
  const hog = start('/bin/sh', cg.wrap([workload('mem_hog'), '150']).slice(1));
  const query = prom.query;
  try {
    await prom.scraped();
    await hog.waitFor('ready');
    hog.send('go');
    const h = await hog.exited;
    assert.equal(h.signal, 'SIGKILL', `the workload was not OOM-killed: ${h.stdout}`);
    await agent.run.waitFor(new RegExp(`"event":"oom_kill","id":\\d+,"victim":\\{"pid":${hog.pid},`));
    const sel = `memscope_oom_kills_total{cgroup="${cg.name}"}`;
    await until('the kill in Prometheus', async () => ((await query(sel)) ?? []).length > 0);
    const series = (await query(sel))!;
    assert.equal(series.length, 1);
    assert.equal(series[0].value[1], '1');
    assert.equal(series[0].metric.constraint, 'memcg');

    const log = jsonLines(agent.run.stdout).find((l) => l.event === 'oom_kill' && l.victim.pid === hog.pid);
    assert.equal(log.cgroup, cg.name);
    assert.equal(log.limit_bytes, 48 << 20);
    assert.match(log.top_fault_function, /^main \[mem_hog\]$/);

    const all = JSON.parse((await get(`${agent.base}/api/oom`)).body.toString()) as any[];
    const k = all.find((x) => x.victim.pid === hog.pid);
    assert.ok(k, JSON.stringify(all));
    assert.equal(k.cgroup, cg.name);
    assert.equal(k.oom_memcg, cg.name);
    assert.equal(k.oom_memcg_limit_kb, 48 * 1024);
    // the usage when the victim was chosen, read in BPF before the kill freed it: at the limit
    // (within the 4 MiB oomkill takes as "at its limit"), not the near-zero left after the kill
    assert.ok(k.oom_memcg_usage_bytes > 44 << 20 && k.oom_memcg_usage_bytes <= 48 << 20, String(k.oom_memcg_usage_bytes));
    assert.equal(log.usage_bytes, k.oom_memcg_usage_bytes);
    assert.ok(k.anon_rss_kb > 32 * 1024, String(k.anon_rss_kb));
    // the victim's faults were counted while it lived: its anonymous pages were faulted in by main
    const top = k.victim_fault_stacks[0];
    assert.match(top.user_stack[0], /^main\+0x[0-9a-f]+ \[mem_hog\]$/);
    // each page main touched is one fault, resident until the kill (swappiness 0); libc and the
    // loader fault in well under 1 MiB more. At the limit a fault whose charge fails returns to
    // user space and is taken again (counted again, as perf's page-faults counts it): seen here
    // as up to 31 faults more than the resident pages, so the bound is 1 MiB either way
    assert.ok(Math.abs(top.count * 4 - k.anon_rss_kb) <= 1024, `${top.count} faults for ${k.anon_rss_kb} kB`);
    const oomProf = await get(`${agent.base}${k.profile}`);
    assert.equal(oomProf.status, 200);
    const f = path.join(tmp, 'oom.pb.gz');
    fs.writeFileSync(f, oomProf.body);
    const s = pprofRaw(f).filter((x) => x.functions[0] === 'main');
    assert.equal(
      s.reduce((n, x) => n + x.values[0], 0),
      top.count,
    );
  } finally {
    hog.kill();
    await prom.stop();
    await agent.stop();
    cg.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("agent: /api/oom names the trigger's frames when the trigger is the victim, reaped before the agent read the event (agent stopped meanwhile); go tool pprof reads the victim's fault stacks by name", async () => {
  // The trigger is the victim: SIGKILLed at the event, so /proc/PID is gone by the time the agent
  // reads the event if it was busy (here: stopped across the kill). The trigger's frames must be
  // named from what BPF sent with the event (walked stacks and their mappings, as oomkill --unwind
  // fp does), not from the process's maps. Two builds with frame pointers: one with a build id, one
  // without (its frames can only be found through the mappings).
  const fpFlags = ['-O0', '-g', '-fno-omit-frame-pointer'];
  const bins = [workload('oom_touch'), workload('oom_touch', { cflags: [...fpFlags, '-Wl,--build-id=none'], variant: 'nobuildid' })];
  const agent = await startAgent();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-oomreaped-'));
  try {
    for (const bin of bins) {
      const file = path.basename(bin);
      const cg = new MemoryCgroup('memscope_agent_oom_reaped', 32 << 20, { swappiness: 0 });
      // stopped before the workload starts: the agent hears of the process only once it is gone
      // (had it read its maps while it lived, the old build-id stack was named from them)
      agent.run.child.kill('SIGSTOP');
      const hog = start('/bin/sh', cg.wrap([bin, '100']).slice(1));
      try {
        await hog.waitFor('ready');
        hog.send('go');
        const h = await hog.exited;
        assert.equal(h.signal, 'SIGKILL', `the workload was not OOM-killed: ${h.stdout} ${h.stderr}`);
        assert.ok(!fs.existsSync(`/proc/${hog.pid}`));
        agent.run.child.kill('SIGCONT');
        await agent.run.waitFor(new RegExp(`"event":"oom_kill","id":\\d+,"victim":\\{"pid":${hog.pid},`));
        const all = JSON.parse((await get(`${agent.base}/api/oom`)).body.toString()) as any[];
        const k = all.find((x) => x.victim.pid === hog.pid);
        assert.ok(k, JSON.stringify(all));
        assert.equal(k.trigger.pid, hog.pid);
        const stack: string[] = k.trigger_ustack;
        assert.equal(frameName(stack[0] ?? ''), `touch_pages [${file}]`, `${file}:\n${stack.join('\n')}`);
        assertInOrder(stack, [`touch_pages [${file}]`, `fill_region [${file}]`, `main [${file}]`]);
        // main's caller: a second mapping, libc's
        const main = stack.findIndex((f) => frameName(f) === `main [${file}]`);
        assert.match(stack[main + 1] ?? '', /^__libc_start_call_main\+0x[0-9a-f]+ \[libc\.so\.6\]$/, `${file}:\n${stack.join('\n')}`);
        // the victim's pages were faulted in by touch_pages: its fault stacks, read by go tool pprof
        const prof = await get(`${agent.base}${k.profile}`);
        assert.equal(prof.status, 200);
        const f = path.join(tmp, `oom-${k.id}.pb.gz`);
        fs.writeFileSync(f, prof.body);
        const touched = pprofRaw(f).filter((x) => x.functions[0] === 'touch_pages');
        assert.ok(touched.length > 0, `no touch_pages sample in ${k.profile}`);
        for (const s of touched) assert.deepEqual(s.functions.slice(0, 4), ['touch_pages', 'fill_region', 'main', '__libc_start_call_main']);
        // each page touched is one fault (up to 1 MiB more at the limit: see the test above)
        const faults = touched.reduce((n, x) => n + x.values[0], 0);
        assert.ok(Math.abs(faults * 4 - k.anon_rss_kb) <= 1024, `${faults} faults for ${k.anon_rss_kb} kB`);
      } finally {
        agent.run.child.kill('SIGCONT');
        hog.kill();
        cg.dispose();
      }
    }
  } finally {
    await agent.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("agent: a cgroup's swap-ins in memscope_swapin_pages_total add up to the /proc/vmstat growth", async () => {
  const swap = new Swapfile(256, '/var/tmp/memscope_agent_swap.swap');
  const cg = new MemoryCgroup('memscope_agent_swap', 32 << 20, { swappiness: 100 });
  const agent = await startAgent();
  const hog = start('/bin/sh', cg.wrap([workload('mem_hog'), '128', '2']).slice(1));
  const swapins = async () => {
    const text = (await get(`${agent.base}/metrics`)).body.toString();
    let mine = 0;
    let all = 0;
    for (const m of text.matchAll(/^memscope_swapin_pages_total\{cgroup="([^"]*)",container="[^"]*"\} (\d+)$/gm)) {
      all += Number(m[2]);
      if (m[1] === cg.name) mine += Number(m[2]);
    }
    const stalls = new RegExp(`^memscope_reclaim_stalls_total\\{cgroup="${cg.name}",container=""\\} (\\d+)$`, 'm').exec(text);
    const stallSeconds = new RegExp(`^memscope_reclaim_stall_seconds_total\\{cgroup="${cg.name}",container=""\\} (\\S+)$`, 'm').exec(text);
    const memcgReclaims = /^memscope_reclaim_seconds_count\{kind="memcg"\} (\d+)$/m.exec(text);
    return { mine, all, stalls: Number(stalls?.[1] ?? 0), stallSeconds: Number(stallSeconds?.[1] ?? 0), memcgReclaims: Number(memcgReclaims?.[1] ?? NaN) };
  };
  try {
    await hog.waitFor('ready');
    const m0 = await swapins();
    const v0 = vmstat();
    hog.send('go');
    const h = await hog.exited;
    const v1 = vmstat();
    const m1 = await swapins();
    assert.equal(h.code, 0, h.stdout + h.stderr);
    const grew = v1.pswpin - v0.pswpin;
    const mine = m1.mine - m0.mine;
    const others = m1.all - m0.all - mine;
    assert.ok(grew > 0, 'nothing was swapped in');
    // exact on a quiet machine (others = 0); other processes' swap-ins are told apart by cgroup
    assert.ok(mine <= grew && mine >= grew - others, `cgroup ${mine}, pswpin grew ${grew}, other cgroups ${others}`);
    console.log(`# agent swapin: cgroup ${mine} pages, pswpin +${grew}, other cgroups ${others}`);
    // pushing 128 MiB through 32 MiB, the workload reclaimed in its memcg itself (drsnoop's count
    // per cgroup), and vmscan's count of every memcg reclaim on the machine includes those
    const stalls = m1.stalls - m0.stalls;
    assert.ok(stalls > 0, 'no reclaim stall counted for the cgroup');
    assert.ok(stalls <= m1.memcgReclaims - m0.memcgReclaims, `${stalls} stalls, vmscan counted ${m1.memcgReclaims - m0.memcgReclaims} memcg reclaims`);
    assert.ok(m1.stallSeconds > m0.stallSeconds);
  } finally {
    hog.kill();
    await agent.stop();
    cg.dispose();
    swap.dispose();
  }
});

test('agent: memscope_hugetlb_faults_total counts exactly the huge-page faults of a cgroup (one per MAP_HUGETLB page), none of its ordinary faults', async () => {
  // 3 of 4 reserved huge pages written (one fault each), and 500 ordinary pages beside them
  const huge = new HugePages(4);
  const cg = new MemoryCgroup('memscope_agent_hugetlb', 256 << 20);
  const agent = await startAgent();
  const w = start('/bin/sh', cg.wrap([workload('hf_touch'), '3', '500']).slice(1));
  const hugetlbFaults = async () => {
    const text = (await get(`${agent.base}/metrics`)).body.toString();
    const m = new RegExp(`^memscope_hugetlb_faults_total\\{cgroup="${cg.name}",container=""\\} (\\d+)$`, 'm').exec(text);
    const faults = new RegExp(`^memscope_page_faults_total\\{cgroup="${cg.name}",container=""\\} (\\d+)$`, 'm').exec(text);
    return { huge: Number(m?.[1] ?? 0), all: Number(faults?.[1] ?? 0) };
  };
  // the workload's faults as the kernel accounts them to it (minflt + majflt of /proc/PID/stat): the
  // only task of the cgroup once the shell has exec'd it. Its own faults around the reads (its
  // stdio after "ready" and "done") are bracketed: each metric read between two of these
  const taskFaults = () => {
    const f = fs.readFileSync(`/proc/${w.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[7]) + Number(f[9]);
  };
  try {
    await w.waitFor('ready');
    const t0a = taskFaults();
    const m0 = await hugetlbFaults();
    const t0b = taskFaults();
    w.send('go');
    await w.waitFor('done');
    const t1a = taskFaults();
    const m1 = await hugetlbFaults();
    const t1b = taskFaults();
    assert.equal(m1.huge - m0.huge, 3, `before ${JSON.stringify(m0)}, after ${JSON.stringify(m1)}`);
    // the ordinary pages were faulted too, and counted as faults only: the cgroup's count (the memcg
    // PGFAULT event, counted as a fault completes, as min_flt/maj_flt are) is the workload's
    const all = m1.all - m0.all;
    assert.ok(all >= 503, `before ${JSON.stringify(m0)}, after ${JSON.stringify(m1)}`);
    assert.ok(all >= t1a - t0b && all <= t1b - t0a, `cgroup ${all} faults, the workload ${t1a - t0b}..${t1b - t0a}`);
    console.log(`# agent hugetlb: cgroup ${m1.huge - m0.huge} huge-page faults of ${m1.all - m0.all} faults`);
    w.send('end');
    assert.equal((await w.exited).code, 0);
  } finally {
    w.kill();
    await agent.stop();
    cg.dispose();
    huge.dispose();
  }
});

test('agent: memscope_file_page_faults_total counts exactly the faults on a file the workload maps, one per page written', async () => {
  // ff_touch writes FILE pages of its own shared file mapping (MADV_RANDOM: one fault per page,
  // no fault-around), and a few anonymous, heap and stack pages beside them
  const FILE = 3000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-agent-ff-'));
  const name = `agent-ff-${process.pid}.dat`;
  // every file kept as a series: the host's other files must not push this one into [other]
  const config = path.join(dir, 'agent.json');
  fs.writeFileSync(config, JSON.stringify({ topComms: 1000 }));
  const agent = await startAgent(['--config', config]);
  const w = start(workload('ff_touch'), [path.join(dir, name), String(FILE), '10', '10', '10']);
  const fileFaults = async () => {
    const text = (await get(`${agent.base}/metrics`)).body.toString();
    return Number(new RegExp(`^memscope_file_page_faults_total\\{file="${name.replace(/\./g, '\\.')}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  try {
    await w.waitFor('ready');
    const n0 = await fileFaults();
    w.send('go');
    await w.waitFor('done');
    let n1 = 0;
    // the counts a CPU's vma cache still holds are read with the map's: the total is whole at once,
    // but a slot moved into the map between the two reads is seen twice for that one scrape
    await until('the file\'s faults', async () => (n1 = await fileFaults()) - n0 === FILE, 10_000).catch(() => {});
    assert.equal(n1 - n0, FILE, `before ${n0}, after ${n1}`);
    console.log(`# agent file faults: ${n1 - n0} on ${name}`);
    w.send('end');
    assert.equal((await w.exited).code, 0);
  } finally {
    w.kill();
    await agent.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('agent: an OOM kill still waiting for its trigger\'s stack when SIGTERM comes is recorded and logged before the agent stops', async () => {
  // MEMSCOPE_TEST_DROP_NOTE_EVERY=1: the agent never hears its walked stack's note, so the kill
  // waits its full 500 ms for it; SIGTERM comes at once. Before, the agent unloaded everything
  // under the waiting kill: it was lost, or logged after "stopped" with oom_error/collect_error
  // "BPF object ... was destroyed".
  process.env.MEMSCOPE_TEST_DROP_NOTE_EVERY = '1';
  const agent = await startAgent().finally(() => delete process.env.MEMSCOPE_TEST_DROP_NOTE_EVERY);
  const cg = new MemoryCgroup('memscope_agent_oom_term', 32 << 20, { swappiness: 0 });
  // stopped across the kill: it reads the kill and the SIGTERM together
  agent.run.child.kill('SIGSTOP');
  const hog = start('/bin/sh', cg.wrap([workload('mem_hog'), '100']).slice(1));
  try {
    await hog.waitFor('ready');
    hog.send('go');
    const h = await hog.exited;
    assert.equal(h.signal, 'SIGKILL', `the workload was not OOM-killed: ${h.stdout} ${h.stderr}`);
    agent.run.child.kill('SIGTERM');
    agent.run.child.kill('SIGCONT');
    const r = await agent.run.exited;
    assert.equal(r.code, 0, r.stderr);
    const log = jsonLines(r.stdout);
    const kill = log.findIndex((l) => l.event === 'oom_kill' && l.victim?.pid === hog.pid);
    const stopped = log.findIndex((l) => l.event === 'stopped');
    assert.ok(kill >= 0 && stopped > kill, r.stdout);
    assert.equal(log[kill].trigger.pid, hog.pid, r.stdout);
    assert.deepEqual(log.filter((l) => /_error$/.test(l.event)), [], r.stdout);
  } finally {
    agent.run.child.kill('SIGCONT');
    agent.run.child.kill('SIGTERM');
    hog.kill();
    await agent.run.exited;
    cg.dispose();
  }
});

after(() => assertNothingLoaded());
