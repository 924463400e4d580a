// SPDX-License-Identifier: Apache-2.0
// --cgroup and --container: a workload inside a v1 memory cgroup or a v2 cgroup is traced, the same
// workload outside is not; an unknown cgroup or container is one line and a non-zero exit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, workload } from './lib/workloads';
import { start, startMemscope, jsonLines, memscope, Running } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { MemoryCgroup, Swapfile } from './lib/scenario';
import * as zlib from 'node:zlib';
import { Profile } from 'pprof-format';
import { get, pprofRaw, startAgent, until } from './lib/agent';

const V1 = '/sys/fs/cgroup/memory';
const V2 = '/sys/fs/cgroup/unified';
const made: string[] = [];
const children: Running[] = [];

function mkCgroup(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  made.unshift(dir);
  return dir;
}

after(async () => {
  children.forEach((c) => c.kill());
  await new Promise((r) => setTimeout(r, 200));
  for (const d of made) {
    try {
      fs.rmdirSync(d);
    } catch {
      /* already gone */
    }
  }
  await assertNothingLoaded();
});

// inside and outside touch different page counts, so each one's faults are told apart by count too
const INSIDE = 1500;
const OUTSIDE = 700;
const ALLOWANCE = 8;

async function faultsIn(cgroupDir: string, cgroupArg: string) {
  const inside = start(workload('fault_touch'), [String(INSIDE)]);
  const outside = start(workload('fault_touch'), [String(OUTSIDE)]);
  children.push(inside, outside);
  await inside.waitFor('ready');
  await outside.waitFor('ready');
  fs.writeFileSync(path.join(cgroupDir, 'cgroup.procs'), String(inside.pid));
  const ms = await startMemscope(['faults', '--json', '--cgroup', cgroupArg]);
  inside.send('go');
  outside.send('go');
  await inside.waitFor('done');
  await outside.waitFor('done');
  await inside.exited;
  await outside.exited;
  const r = await ms.interrupt();
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  assert.deepEqual([...new Set(recs.map((x) => x.pid))], [inside.pid], `only the inside workload: ${r.stdout.slice(0, 2000)}`);
  const touch = recs.filter((x) => x.ustack[0]?.startsWith('touch_pages+')).reduce((s, x) => s + x.count, 0);
  assert.ok(touch >= INSIDE && touch <= INSIDE + ALLOWANCE, `touch_pages faults inside: ${touch}`);
}

test('faults --cgroup NAME (v1 memory cgroup, relative path): only the inside workload, one fault per page', async () => {
  const name = `ms-cf-v1-${process.pid}`;
  const dir = mkCgroup(path.join(V1, name));
  await faultsIn(dir, name);
});

test('faults --cgroup /sys/fs/cgroup/unified/X (v2): only the inside workload, nested cgroups count as inside', async () => {
  const parent = mkCgroup(path.join(V2, `ms-cf-v2-${process.pid}`));
  const child = mkCgroup(path.join(parent, 'leaf'));
  await faultsIn(child, parent);
});

test('an unknown cgroup or container: one line, non-zero exit, nothing loaded', async () => {
  for (const args of [
    ['faults', '--cgroup', 'no-such-cgroup-xyz', '1'],
    ['faults', '--cgroup', `${V2}/no-such-cgroup-xyz`, '1'],
    ['brkstack', '--container', 'no-such-container', '1'],
    ['ps', '--container', 'abcdefabcdef'],
  ]) {
    const r = memscope(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^memscope: --(cgroup|container) .*: no (such cgroup|running container)/);
  }
  await assertNothingLoaded();
});

test('--container NAME and ID prefix: a cgroupfs docker/<id> cgroup named by config.v2.json; ps shows it in CONTAINER', async () => {
  // no dockerd: the cgroup a cgroupfs-driven dockerd makes, and the config.v2.json it writes, in a
  // docker root of the test's own (MEMSCOPE_DOCKER_ROOT)
  const id = (process.pid.toString(16) + 'c0ffee').padEnd(64, 'a').slice(0, 64);
  const name = `ms-cf-web-${process.pid}`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-dockerroot-'));
  fs.mkdirSync(path.join(root, 'containers', id), { recursive: true });
  fs.writeFileSync(path.join(root, 'containers', id, 'config.v2.json'), JSON.stringify({ ID: id, Name: `/${name}`, Config: { Image: 'busybox', Labels: {} } }));
  const existed = fs.existsSync(path.join(V1, 'docker'));
  if (!existed) mkCgroup(path.join(V1, 'docker'));
  const dir = mkCgroup(path.join(V1, 'docker', id));
  const env = { ...process.env, MEMSCOPE_DOCKER_ROOT: root };
  const inside = start(workload('fault_touch'), ['10']);
  const outside = start(workload('fault_touch'), ['10']);
  children.push(inside, outside);
  try {
    await inside.waitFor('ready');
    await outside.waitFor('ready');
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(inside.pid));
    for (const q of [name, id.slice(0, 12), id]) {
      const r = memscope(['ps', '--json', '--container', q], { env });
      assert.equal(r.code, 0, r.stderr);
      const recs = jsonLines(r.stdout);
      assert.deepEqual(recs.map((x) => [x.pid, x.container]), [[inside.pid, name]], `--container ${q}`);
    }
    const all = memscope(['ps', '--json'], { env });
    const rows = jsonLines(all.stdout);
    assert.equal(rows.find((x) => x.pid === outside.pid)?.container, null);
    assert.equal(rows.find((x) => x.pid === inside.pid)?.container, name);
    const text = memscope(['ps', '--container', name], { env });
    const lines = text.stdout.trim().split('\n');
    assert.match(lines[0], /\bCONTAINER\b/);
    assert.equal(lines.length, 2, text.stdout);
    assert.ok(lines[1].includes(` ${name} `), lines[1]);
    // an id prefix shorter than docker ps's 12 digits is not an id
    assert.equal(memscope(['ps', '--container', id.slice(0, 8)], { env }).code, 2);
  } finally {
    inside.kill();
    outside.kill();
    await inside.exited;
    await outside.exited;
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('CONTAINER column: vmgrowth and mmapsnoop name a workload in a (faked) docker/<id> cgroup, also once it has exited; host processes "-" and null', async () => {
  const id = (process.pid.toString(16) + 'beef').padEnd(64, 'b').slice(0, 64);
  const name = `ms-web-${process.pid % 100000}`; // within the text column's 12 characters
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-dockerroot-'));
  fs.mkdirSync(path.join(root, 'containers', id), { recursive: true });
  fs.writeFileSync(path.join(root, 'containers', id, 'config.v2.json'), JSON.stringify({ ID: id, Name: `/${name}`, Config: { Image: 'busybox', Labels: {} } }));
  if (!fs.existsSync(path.join(V1, 'docker'))) mkCgroup(path.join(V1, 'docker'));
  const dir = mkCgroup(path.join(V1, 'docker', id));
  const inside = start(workload('vm_ops'), ['map']);
  const outside = start(workload('vm_ops'), ['map']);
  children.push(inside, outside);
  try {
    await inside.waitFor('ready');
    await outside.waitFor('ready');
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(inside.pid));
    process.env.MEMSCOPE_DOCKER_ROOT = root; // the tracers below inherit it
    let tracers: Running[];
    try {
      // vmgrowth reports once, at Ctrl-C: both workloads have exited by then, so /proc/PID/cgroup is
      // gone and the name can only come from the cgroup BPF recorded at their first event
      tracers = [await startMemscope(['vmgrowth', '--json', '600']), await startMemscope(['mmapsnoop', '--json']), await startMemscope(['mmapsnoop'])];
    } finally {
      delete process.env.MEMSCOPE_DOCKER_ROOT;
    }
    inside.send('go');
    outside.send('go');
    await inside.waitFor('done');
    await outside.waitFor('done');
    await inside.exited;
    await outside.exited;
    const [vg, snoopJson, snoopText] = await Promise.all(tracers.map((t) => t.interrupt()));
    for (const r of [vg, snoopJson, snoopText]) assert.equal(r.code, 0, r.stderr);

    const growth = jsonLines(vg.stdout);
    const g = (pid: number) => growth.filter((x) => x.pid === pid);
    assert.deepEqual(g(inside.pid).map((x) => [x.comm, x.container, x.mmap_bytes]), [['vm_ops', name, 3840 * 1024]], vg.stdout.slice(0, 2000));
    assert.deepEqual(g(outside.pid).map((x) => x.container), [null]);

    const maps = jsonLines(snoopJson.stdout);
    const ins = maps.filter((x) => x.pid === inside.pid);
    const outs = maps.filter((x) => x.pid === outside.pid);
    // map_some(): 5 mmap() and 1 munmap() (mremap is not an mmap)
    assert.ok(ins.length >= 6 && outs.length === ins.length, `${ins.length} vs ${outs.length}`);
    assert.deepEqual([...new Set(ins.map((x) => x.container))], [name]);
    assert.deepEqual([...new Set(outs.map((x) => x.container))], [null]);

    const lines = snoopText.stdout.split('\n');
    assert.match(lines[0], /^PID\s+COMM\s+CONTAINER\s+PROT/);
    const col = (pid: number) => [...new Set(lines.filter((l) => l.startsWith(`${pid} `)).map((l) => l.split(/\s+/).slice(1, 3).join(' ')))];
    assert.deepEqual(col(inside.pid), [`vm_ops ${name}`], snoopText.stdout.slice(0, 2000));
    assert.deepEqual(col(outside.pid), ['vm_ops -']);
  } finally {
    inside.kill();
    outside.kill();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('oomlog --cgroup/--container: kills whose victim memcg (task_memcg) is inside, from a saved log; the cgroup need not exist', () => {
  const id = (process.pid.toString(16) + 'd00d').padEnd(64, 'd').slice(0, 64);
  const name = `ms-log-${process.pid}`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-dockerroot-'));
  try {
    fs.mkdirSync(path.join(root, 'containers', id), { recursive: true });
    fs.writeFileSync(path.join(root, 'containers', id, 'config.v2.json'), JSON.stringify({ ID: id, Name: `/${name}`, Config: { Image: 'busybox', Labels: {} } }));
    // the fixture's kill (task_memcg=/memscope-oomlog-capture), then the same report for a container's task
    const one = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'oom-6.18-dmesg.txt'), 'utf8');
    const other = one.replace(/memscope-oomlog-capture/g, `docker/${id}`).replace(/pid=10604/g, 'pid=20604').replace(/Killed process 10604/g, 'Killed process 20604');
    const log = path.join(root, 'kern.log');
    fs.writeFileSync(log, one + other);
    const env = { ...process.env, MEMSCOPE_DOCKER_ROOT: root };
    const victims = (args: string[]) => {
      const r = memscope(['oomlog', '--json', '-f', log, ...args], { env });
      assert.equal(r.code, 0, r.stderr);
      return jsonLines(r.stdout).map((e) => e.victim?.pid ?? e.pid);
    };
    assert.equal(victims([]).length, 2);
    const [host, contained] = victims([]);
    assert.notEqual(host, contained);
    assert.deepEqual(victims(['--cgroup', '/memscope-oomlog-capture']), [host]);
    assert.deepEqual(victims(['--cgroup', '/sys/fs/cgroup/memory/docker']), [contained]);
    assert.deepEqual(victims(['--container', name]), [contained]);
    assert.deepEqual(victims(['--container', id.slice(0, 12)]), [contained]);
    assert.deepEqual(victims(['--container', 'no-such-name']), []);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

/** A faked cgroupfs-driven docker container: its config.v2.json in a docker root of the test's own
 * (MEMSCOPE_DOCKER_ROOT); the caller makes the memory cgroup V1/docker/<id>. */
function fakeDocker(tag: string): { id: string; name: string; root: string; env: NodeJS.ProcessEnv } {
  const id = (process.pid.toString(16) + tag).padEnd(64, 'e').slice(0, 64);
  const name = `ms-${tag}-${process.pid % 10000}`.slice(0, 12); // within the text column's 12 characters
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-dockerroot-'));
  fs.mkdirSync(path.join(root, 'containers', id), { recursive: true });
  fs.writeFileSync(path.join(root, 'containers', id, 'config.v2.json'), JSON.stringify({ ID: id, Name: `/${name}`, Config: { Image: 'busybox', Labels: {} } }));
  if (!fs.existsSync(path.join(V1, 'docker'))) mkCgroup(path.join(V1, 'docker'));
  return { id, name, root, env: { ...process.env, MEMSCOPE_DOCKER_ROOT: root } };
}

/** Tracers started with MEMSCOPE_DOCKER_ROOT set (startMemscope passes the environment on). */
async function startAll(root: string, argvs: string[][]): Promise<Running[]> {
  process.env.MEMSCOPE_DOCKER_ROOT = root;
  try {
    const out: Running[] = [];
    for (const a of argvs) out.push(await startMemscope(a));
    return out;
  } finally {
    delete process.env.MEMSCOPE_DOCKER_ROOT;
  }
}

test('CONTAINER column: brksize, swapthrash and compaction name a workload in a (faked) docker/<id> memcg after it exited; host "-" and null; vmscan --container keeps its reclaim only', async () => {
  const { id, name, root } = fakeDocker('ba5e');
  // swap for the thrash workload: a 64 MiB working set in the container's 32 MiB
  const swap = new Swapfile(256, `/var/tmp/memscope_cgcol-${process.pid}.swap`);
  const cg = new MemoryCgroup(`docker/${id}`, 32 << 20, { swappiness: 100 });
  const empty = mkCgroup(path.join(V1, `ms-cf-empty-${process.pid}`));
  const brkIn = start('/bin/sh', cg.wrap([workload('vm_ops'), 'brk', '8192', '300000']).slice(1));
  const brkOut = start(workload('vm_ops'), ['brk', '8192', '300000']);
  const frag = start('/bin/sh', cg.wrap([workload('vm_ops'), 'fragment', '16']).slice(1));
  const thrash = start('/bin/sh', cg.wrap([workload('thrash'), '64', '2']).slice(1));
  const all = [brkIn, brkOut, frag, thrash];
  children.push(...all);
  try {
    for (const w of all) await w.waitFor('ready');
    const tracers = await startAll(root, [
      ['brksize', '--json', '600'],
      ['brksize', '600'],
      ['swapthrash', '--json', '600'],
      ['swapthrash', '600'],
      ['compaction', '--json', '-p', String(frag.pid), '600'],
      ['compaction', '-p', String(frag.pid), '600'],
      // the thrash workload's memcg reclaim; an empty cgroup beside it sees none of it
      ['vmscan', '--json', '--container', name, '600'],
      ['vmscan', '--json', '--cgroup', empty, '600'],
    ]);
    for (const w of all) w.send('go');
    for (const w of all) await w.exited;
    const [bj, bt, sj, st, cj, ct, vIn, vEmpty] = await Promise.all(tracers.map((t) => t.interrupt()));
    for (const r of [bj, bt, sj, st, cj, ct, vIn, vEmpty]) assert.equal(r.code, 0, r.stderr);

    const reclaim = (out: string) => {
      const rows = jsonLines(out).filter((x) => x.time !== undefined);
      const sum = (k: string) => rows.reduce((t, x) => t + x[k], 0);
      return { memcg: sum('m_reclaim_events'), direct: sum('d_reclaim_events'), slab: sum('s_slab_events'), writes: sum('writepage') };
    };
    const inR = reclaim(vIn.stdout);
    assert.ok(inR.memcg > 0 && inR.writes > 0, `the container's memcg reclaim: ${JSON.stringify(inR)}`);
    assert.deepEqual(reclaim(vEmpty.stdout), { memcg: 0, direct: 0, slab: 0, writes: 0 }, vEmpty.stdout);

    // every report below is printed after the workloads exited: the name comes from BPF's record
    const brk = jsonLines(bj.stdout);
    assert.deepEqual(brk.filter((x) => x.pid === brkIn.pid).map((x) => [x.comm, x.container, x.bytes]), [['vm_ops', name, 308192]], bj.stdout.slice(0, 2000));
    assert.deepEqual(brk.filter((x) => x.pid === brkOut.pid).map((x) => [x.comm, x.container, x.bytes]), [['vm_ops', null, 308192]]);
    assert.match(bt.stdout, new RegExp(`\\n@brk_bytes\\[vm_ops, ${brkIn.pid}, ${name}\\]: 2 expansions, 308192 bytes\\n`));
    assert.match(bt.stdout, new RegExp(`\\n@brk_bytes\\[vm_ops, ${brkOut.pid}, -\\]: 2 expansions, 308192 bytes\\n`));

    const th = jsonLines(sj.stdout).filter((x) => x.pid === thrash.pid);
    assert.equal(th.length, 1, sj.stdout.slice(0, 2000));
    assert.ok(th[0].swapped_in > 0, `the thrash workload came back from swap: ${JSON.stringify(th[0])}`);
    assert.equal(th[0].container, name);
    assert.match(st.stdout, new RegExp(`\\n@swap_out_usecs\\[thrash, ${thrash.pid}, ${name}\\]: `));
    assert.match(st.stdout, new RegExp(`\\n\\s*PID COMM\\s+CONTAINER\\s+SWAPPED_IN OUT_NOT_SEEN PSWPIN SWPIN_ZERO ZSWPIN AVG_OUT_ms\\n(?:.*\\n)*?\\s*${thrash.pid} thrash\\s+${name}\\s+\\d+`));

    const comp = jsonLines(cj.stdout).filter((x) => !x.summary);
    assert.ok(comp.length > 0, cj.stdout);
    assert.deepEqual([...new Set(comp.map((x) => [x.pid, x.comm, x.container].join(' ')))], [`${frag.pid} vm_ops ${name}`]);
    assert.match(ct.stdout, /^PID\s+COMM\s+CONTAINER\s+ZONE_PFNS/);
    assert.match(ct.stdout, new RegExp(`\\n${frag.pid}\\s+vm_ops\\s+${name}\\s+0x`));
  } finally {
    all.forEach((w) => w.kill());
    cg.dispose();
    swap.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("oomkill: the victim's container (victim.container), named from the memcg BPF read off the victim", async () => {
  const { id, name, root } = fakeDocker('dead');
  const cg = new MemoryCgroup(`docker/${id}`, 32 << 20, { swappiness: 0 });
  const hog = start('/bin/sh', cg.wrap([workload('mem_hog'), '100']).slice(1));
  children.push(hog);
  try {
    await hog.waitFor('ready');
    const [json, text] = await startAll(root, [['oomkill', '--json'], ['oomkill']]);
    hog.send('go');
    assert.equal((await hog.exited).signal, 'SIGKILL');
    await json.waitFor(`"pid":${hog.pid},`);
    await text.waitFor(`OOM kill of PID ${hog.pid} `);
    const [rj, rt] = await Promise.all([json.interrupt(), text.interrupt()]);
    assert.equal(rj.code, 0, rj.stderr);
    const k = jsonLines(rj.stdout).filter((x) => x.victim?.pid === hog.pid);
    assert.deepEqual(k.map((x) => [x.victim.comm, x.victim.container, x.cgroup]), [['mem_hog', name, `/docker/${id}`]]);
    const line = rt.stdout.split('\n').find((l) => l.includes(`OOM kill of PID ${hog.pid} `));
    assert.ok(line?.endsWith(`, cgroup /docker/${id}, container ${name}`), rt.stdout);
  } finally {
    hog.kill();
    cg.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('stack tools: faults and brkstack --json rows and faults --pprof samples carry the container of a workload in a (faked) docker/<id> cgroup after it exited', async () => {
  const { id, name, root } = fakeDocker('5ac');
  const dir = mkCgroup(path.join(V1, 'docker', id));
  const inside = start(workload('vm_ops'), ['brk', '8192', '300000']);
  const outside = start(workload('vm_ops'), ['brk', '8192', '300000']);
  children.push(inside, outside);
  const prof = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-cgprof-')), 'faults.pb.gz');
  try {
    await inside.waitFor('ready');
    await outside.waitFor('ready');
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(inside.pid));
    const tracers = await startAll(root, [['faults', '--json', '600'], ['brkstack', '--json', '600'], ['faults', '--pprof', prof, '600']]);
    inside.send('go');
    outside.send('go');
    await inside.exited;
    await outside.exited;
    const [fj, bj, fp] = await Promise.all(tracers.map((t) => t.interrupt()));
    for (const r of [fj, bj, fp]) assert.equal(r.code, 0, r.stderr);
    for (const [r, what] of [[fj, 'faults'], [bj, 'brkstack']] as const) {
      const recs = jsonLines(r.stdout);
      const of = (pid: number) => [...new Set(recs.filter((x) => x.pid === pid).map((x) => x.container))];
      assert.deepEqual(of(inside.pid), [name], `${what}: ${r.stdout.slice(0, 1500)}`);
      assert.deepEqual(of(outside.pid), [null], what);
    }
    // the profile's samples: label container on the inside workload's, none on the host one's
    const p = Profile.decode(zlib.gunzipSync(fs.readFileSync(prof)));
    const str = (i: unknown) => p.stringTable.strings[Number(i)];
    const containersOf = (pid: number) => {
      const mine = p.sample.filter((s) => s.label.some((l) => str(l.key) === 'pid' && Number(l.num) === pid));
      assert.ok(mine.length > 0, `no samples of ${pid}`);
      return [...new Set(mine.map((s) => s.label.filter((l) => str(l.key) === 'container').map((l) => str(l.str)).join(',')))];
    };
    assert.deepEqual(containersOf(inside.pid), [name]);
    assert.deepEqual(containersOf(outside.pid), ['']);
  } finally {
    inside.kill();
    outside.kill();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(path.dirname(prof), { recursive: true, force: true });
  }
});

test('ffaults: counts are kept apart by container; a workload in a (faked) docker/<id> cgroup has its own [anon] row after it exited', async () => {
  const { id, name, root } = fakeDocker('ff');
  const dir = mkCgroup(path.join(V1, 'docker', id));
  const inside = start(workload('fault_touch'), [String(INSIDE)]);
  children.push(inside);
  try {
    await inside.waitFor('ready');
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(inside.pid));
    const [json, text] = await startAll(root, [['ffaults', '--json'], ['ffaults']]);
    inside.send('go');
    await inside.waitFor('done');
    await inside.exited;
    const [rj, rt] = await Promise.all([json.interrupt(), text.interrupt()]);
    for (const r of [rj, rt]) assert.equal(r.code, 0, r.stderr);
    const mine = jsonLines(rj.stdout).filter((x) => x.container === name);
    const anon = mine.filter((x) => x.file === '[anon]').reduce((s, x) => s + x.count, 0);
    assert.ok(anon >= INSIDE && anon <= INSIDE + ALLOWANCE, `the container's [anon] faults: ${anon}\n${rj.stdout.slice(0, 3000)}`);
    assert.ok(jsonLines(rj.stdout).some((x) => x.container === null), 'host rows have container null');
    const row = rt.stdout.split('\n').find((l) => new RegExp(`^ *\\d+ +\\d+ +\\d+ +${name} +\\[anon\\]$`).test(l));
    assert.ok(row && Number(row.trim().split(/\s+/)[0]) >= INSIDE, rt.stdout.slice(0, 3000));
    assert.match(rt.stdout, /^FAULTS +MAJOR +MINOR +CONTAINER +FILE\n/);
  } finally {
    inside.kill();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('CONTAINER column and --container on the general verbs: count -P and trace name a workload in a (faked) docker/<id> cgroup, the one outside "-"; a process moved in between its rounds is named by where it is now', async () => {
  const { id, name, root } = fakeDocker('c0a7');
  const dir = mkCgroup(path.join(V1, 'docker', id));
  // madvise(MADV_NORMAL) on one page: counts told apart by pid and by number
  const IN = 13;
  const OUT = 7;
  const MV = 5;
  const inside = start(workload('rounds'), [String(IN)]);
  const outside = start(workload('rounds'), [String(OUT)]);
  const mover = start(workload('rounds'), [String(MV)]);
  const all = [inside, outside, mover];
  children.push(...all);
  const probe = 't:syscalls:sys_enter_madvise';
  const filter = 'behavior == 0 && len_in == 4096';
  try {
    for (const w of all) await w.waitFor('ready');
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(inside.pid));
    const tracers = await startAll(root, [
      ['count', '-P', '--json', probe],
      ['count', '-P', probe],
      ['count', '-P', '--json', '--container', name, probe],
      ['trace', '--json', probe, filter],
      ['trace', probe, filter],
      ['trace', '--json', '--container', name, probe, filter],
    ]);
    const [, , , traceJson] = tracers;
    // round 1 of each, the mover still on the host; its events seen by trace before it moves
    for (const w of all) w.send('go');
    for (const w of all) await w.waitFor('done 1');
    for (let t = 0; traceJson.stdout.split(`"pid":${mover.pid},`).length - 1 < MV; t++) {
      assert.ok(t < 1500, `trace --json printed the mover's first round: ${traceJson.stdout.slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(mover.pid));
    mover.send('go');
    await mover.waitFor('done 2');
    for (const w of all) w.child.stdin?.end();
    for (const w of all) await w.exited;
    const [cj, ct, cIn, tj, tt, tIn] = await Promise.all(tracers.map((t) => t.interrupt()));
    for (const r of [cj, ct, cIn, tj, tt, tIn]) assert.equal(r.code, 0, r.stderr);

    const ours = (out: string) => jsonLines(out).filter((x) => all.some((w) => w.pid === x.pid));
    // count -P: one row per process, the container as of its latest event
    assert.deepEqual(
      ours(cj.stdout).map((x) => [x.pid, x.comm, x.container, x.count]).sort(),
      [[inside.pid, 'rounds', name, IN], [outside.pid, 'rounds', null, OUT], [mover.pid, 'rounds', name, 2 * MV]].sort(),
      cj.stdout.slice(0, 2000),
    );
    const row = (pid: number) => ct.stdout.split('\n').find((l) => new RegExp(`^syscalls:sys_enter_madvise\\s+${pid} `).test(l))?.trim().split(/\s+/).slice(2);
    assert.match(ct.stdout, /\nPROBE\s+PID\s+COMM\s+CONTAINER\s+COUNT\n/);
    assert.deepEqual(row(inside.pid), ['rounds', name, String(IN)], ct.stdout.slice(0, 2000));
    assert.deepEqual(row(outside.pid), ['rounds', '-', String(OUT)]);
    assert.deepEqual(row(mover.pid), ['rounds', name, String(2 * MV)]);
    // --container: the inside workload, and the mover's round in the container only
    assert.deepEqual(ours(cIn.stdout).map((x) => [x.pid, x.container, x.count]).sort(), [[inside.pid, name, IN], [mover.pid, name, MV]].sort(), cIn.stdout);

    // trace: each event named as it is printed; the mover's first round on the host, its second in the container
    const events = (out: string, pid: number) => jsonLines(out).filter((x) => x.pid === pid).map((x) => x.container);
    assert.deepEqual(events(tj.stdout, inside.pid), Array(IN).fill(name), tj.stdout.slice(0, 2000));
    assert.deepEqual(events(tj.stdout, outside.pid), Array(OUT).fill(null));
    assert.deepEqual(events(tj.stdout, mover.pid), [...Array(MV).fill(null), ...Array(MV).fill(name)]);
    const lines = tt.stdout.split('\n');
    assert.match(lines[0], /^PID\s+TID\s+COMM\s+CONTAINER\s+PROBE\s+FIELDS$/);
    const cells = (pid: number) => [...new Set(lines.filter((l) => l.startsWith(`${pid} `)).map((l) => l.split(/\s+/).slice(2, 4).join(' ')))];
    assert.deepEqual(cells(inside.pid), [`rounds ${name}`], tt.stdout.slice(0, 2000));
    assert.deepEqual(cells(outside.pid), ['rounds -']);
    assert.deepEqual(jsonLines(tIn.stdout).map((x) => [x.pid, x.container]), [...Array(IN).fill([inside.pid, name]), ...Array(MV).fill([mover.pid, name])], tIn.stdout);
  } finally {
    all.forEach((w) => w.kill());
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('llcstat --container: without a hardware PMU its one line still comes first (exit 1, nothing loaded); a bad container with a PMU is exit 2', async () => {
  const r = memscope(['llcstat', '--container', 'no-such-container', '1']);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  if (/needs a hardware PMU/.test(lines[0])) assert.equal(r.code, 1);
  else assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  await assertNothingLoaded();
});

test("agent: a process moved into a container between two rounds of faults carries the container's label in /debug/pprof/faults?pid=P (named again when BPF reports another cgroup id)", async () => {
  const { id, name, root } = fakeDocker('a0e5');
  const dir = mkCgroup(path.join(V1, 'docker', id));
  const cfg = path.join(root, 'agent.json');
  fs.writeFileSync(cfg, JSON.stringify({ dockerRoot: root }));
  const N = 97;
  const agent = await startAgent(['--config', cfg]);
  const mover = start(workload('rounds'), [String(N)]);
  children.push(mover);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-agent-move-'));
  // touch_round's samples in the process's kept profile once the agent has collected n faults of it
  const touches = async (what: string, done: (mine: ReturnType<typeof pprofRaw>) => boolean) => {
    let mine: ReturnType<typeof pprofRaw> = [];
    await until(what, async () => {
      const r = await get(`${agent.base}/debug/pprof/faults?pid=${mover.pid}`);
      fs.writeFileSync(path.join(tmp, 'p.pb.gz'), r.body);
      mine = pprofRaw(path.join(tmp, 'p.pb.gz')).filter((x) => x.functions[0] === 'touch_round');
      return done(mine);
    });
    return mine;
  };
  const sum = (mine: ReturnType<typeof pprofRaw>) => mine.reduce((t, x) => t + x.values[0], 0);
  try {
    await mover.waitFor('ready');
    mover.send('go');
    await mover.waitFor('done 1');
    const before = await touches(`round 1's ${N} faults collected`, (m) => sum(m) >= N);
    assert.ok(!before.some((x) => x.labels.includes('container:')), `on the host: no container label: ${before.map((x) => x.labels).join(' | ')}`);
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(mover.pid)); // as docker exec places its process
    mover.send('go');
    await mover.waitFor('done 2');
    // its next collected faults name the container (the agent reads BPF's cgroup id per collection)
    const after = await touches(`the container named on ${mover.pid}'s samples`, (m) => m.some((x) => x.labels.includes('container:')));
    assert.ok(sum(after) >= N);
    for (const x of after) assert.ok(x.labels.includes(`container:[${name}]`) && x.labels.includes(`cgroup:[/docker/${id}]`), x.labels);
  } finally {
    mover.kill();
    await mover.exited;
    await agent.stop();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
