// SPDX-License-Identifier: Apache-2.0
// Containers from cgroups: path naming schemes of every runtime (fixtures of real paths), names
// from the runtimes' own state files (fixture directories written here), and a real memory
// cgroup named as Docker's cgroupfs driver names them, resolved from a live pid and from the
// cgroup directory's id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import {
  ContainerResolver,
  identifyCgroup,
  parseMountinfo,
  parseProcCgroup,
  memoryCgroupPath,
  cgroupIdOfDir,
  memoryHierarchyRoot,
  CgroupIndex,
} from '../src/containers';

const ID = 'a3f5c1d2e4b6978812345678901234567890abcdef1234567890abcdef123456';

test('containers: ids and pods from every runtime naming scheme', () => {
  const cases: [string, ReturnType<typeof identifyCgroup>][] = [
    [`/docker/${ID}`, { containerId: ID, runtime: 'docker' }],
    [`/system.slice/docker-${ID}.scope`, { containerId: ID, runtime: 'docker' }],
    [`/system.slice/containerd.service/kubepods-burstable-pod12345678_aaaa_bbbb_cccc_1234567890ab.slice:cri-containerd:${ID}`, {}],
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12345678_aaaa_bbbb_cccc_1234567890ab.slice/cri-containerd-${ID}.scope`,
      { containerId: ID, runtime: 'containerd', podUid: '12345678-aaaa-bbbb-cccc-1234567890ab' },
    ],
    [
      `/kubepods.slice/kubepods-pod12345678_aaaa_bbbb_cccc_1234567890ab.slice/crio-${ID}.scope`,
      { containerId: ID, runtime: 'crio', podUid: '12345678-aaaa-bbbb-cccc-1234567890ab' },
    ],
    [
      `/kubepods/besteffort/pod12345678-aaaa-bbbb-cccc-1234567890ab/${ID}`,
      { containerId: ID, runtime: 'kubernetes', podUid: '12345678-aaaa-bbbb-cccc-1234567890ab' },
    ],
    [`/kubepods/burstable/pod12345678-aaaa-bbbb-cccc-1234567890ab`, { podUid: '12345678-aaaa-bbbb-cccc-1234567890ab' }],
    [`/machine.slice/libpod-${ID}.scope/container`, { containerId: ID, runtime: 'podman' }],
    ['/user.slice/user-1000.slice/session-2.scope', {}],
    [`/not-docker/${ID}`, {}],
    ['/', {}],
  ];
  for (const [p, want] of cases) assert.deepEqual(identifyCgroup(p), want, p);
  // the systemd-cgroup-driver form of containerd's own paths ("slice:prefix:id") in one component
  assert.deepEqual(identifyCgroup(`/kubepods-burstable-pod12345678_aaaa_bbbb_cccc_1234567890ab.slice/cri-containerd:${ID}`), {
    containerId: ID,
    runtime: 'containerd',
    podUid: '12345678-aaaa-bbbb-cccc-1234567890ab',
  });
});

test('containers: /proc/PID/cgroup and mountinfo on a hybrid (v1 + unified) machine', () => {
  const lines = parseProcCgroup('9:name=systemd:/\n4:memory:/process_api/x\n1:cpu,cpuacct:/\n0::/user.slice\n');
  assert.equal(memoryCgroupPath(lines), '/process_api/x');
  assert.equal(memoryCgroupPath(parseProcCgroup('0::/system.slice/a.service\n')), '/system.slice/a.service');
  const mi = parseMountinfo(
    [
      '30 24 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate',
      '34 24 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory',
      '35 24 0:31 / /sys/fs/cgroup/cpu\\040x rw - cgroup cgroup rw,cpu',
    ].join('\n'),
  );
  assert.deepEqual(mi, { v2: '/sys/fs/cgroup/unified', memoryV1: '/sys/fs/cgroup/memory' });
});

function writeJson(file: string, v: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(v));
}

test('containers: names from Docker config.v2.json, containerd and CRI-O OCI annotations', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-containers-'));
  try {
    const dirs = { docker: `${tmp}/docker`, containerdTasks: `${tmp}/tasks`, crioContainers: [`${tmp}/crio`] };
    writeJson(`${tmp}/docker/containers/${ID}/config.v2.json`, { Name: '/web', Config: { Image: 'nginx:1', Labels: {} } });
    const ID2 = ID.replace(/^a/, 'b');
    writeJson(`${tmp}/tasks/k8s.io/${ID2}/config.json`, {
      annotations: {
        'io.kubernetes.cri.container-name': 'app',
        'io.kubernetes.cri.sandbox-name': 'shop-7d9',
        'io.kubernetes.cri.sandbox-namespace': 'prod',
        'io.kubernetes.cri.sandbox-uid': '12345678-aaaa-bbbb-cccc-1234567890ab',
      },
    });
    const ID3 = ID.replace(/^a/, 'c');
    writeJson(`${tmp}/crio/${ID3}/userdata/config.json`, {
      annotations: { 'io.kubernetes.container.name': 'db', 'io.kubernetes.pod.name': 'pg-0', 'io.kubernetes.pod.namespace': 'data' },
    });
    const r = new ContainerResolver('/nonexistent', dirs);
    assert.deepEqual(r.ofCgroupPath(`/docker/${ID}`), { cgroup: `/docker/${ID}`, id: ID, runtime: 'docker', podUid: undefined, name: 'web', image: 'nginx:1' });
    const k = r.ofCgroupPath(`/kubepods.slice/kubepods-pod12345678_aaaa_bbbb_cccc_1234567890ab.slice/cri-containerd-${ID2}.scope`);
    assert.equal(k.name, 'app');
    assert.equal(k.pod, 'shop-7d9');
    assert.equal(k.namespace, 'prod');
    assert.equal(k.podUid, '12345678-aaaa-bbbb-cccc-1234567890ab');
    assert.ok(r.matches(k, 'prod/shop-7d9/app') && r.matches(k, 'app') && r.matches(k, ID2.slice(0, 12)) && !r.matches(k, ID2.slice(0, 6)));
    const c = r.ofCgroupPath(`/kubepods/pod12345678-aaaa-bbbb-cccc-1234567890ab/${ID3}`);
    assert.deepEqual([c.name, c.pod, c.namespace], ['db', 'pg-0', 'data']);
    // no state files: the id alone, no name
    const none = r.ofCgroupPath(`/system.slice/docker-${ID.replace(/^a/, 'd')}.scope`);
    assert.equal(none.name, undefined);
    assert.equal(none.runtime, 'docker');
    // a malformed config is ignored, not thrown
    fs.writeFileSync(`${tmp}/docker/containers/${ID}/config.v2.json`, '{');
    assert.equal(new ContainerResolver('/nonexistent', dirs).ofCgroupPath(`/docker/${ID}`).name, undefined);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('containers: a live process in a real memory cgroup named like a Docker container', async () => {
  const root = memoryHierarchyRoot();
  assert.ok(root, 'no memory cgroup hierarchy is mounted');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-containers-'));
  const parent = path.join(root!, 'docker');
  const createdParent = !fs.existsSync(parent);
  const dir = path.join(parent, ID);
  fs.mkdirSync(dir, { recursive: true });
  const child = spawn('/bin/sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec sleep 30`], { stdio: 'ignore' });
  try {
    writeJson(`${tmp}/docker/containers/${ID}/config.v2.json`, { Name: '/memscope-test', Config: { Image: 'busybox' } });
    const r = new ContainerResolver(root, { docker: `${tmp}/docker`, containerdTasks: `${tmp}/none`, crioContainers: [] });
    let c = null;
    for (let i = 0; i < 100 && (c = r.ofPid(child.pid!))?.cgroup !== `/docker/${ID}`; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(c?.cgroup, `/docker/${ID}`);
    assert.equal(c?.id, ID);
    assert.equal(c?.name, 'memscope-test');
    // the id events carry (the directory's inode) maps back to the same container
    const id = cgroupIdOfDir(dir)!;
    assert.equal(r.ofCgroupId(id)?.name, 'memscope-test');
    assert.equal(r.ofCgroupId(123456789012345n), null);
    // the unified hierarchy, walked the same way
    const v2 = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).v2;
    if (v2) {
      const idx = new CgroupIndex(v2);
      assert.equal(idx.pathOf(cgroupIdOfDir(v2)!), '/');
    }
  } finally {
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(dir);
        break;
      } catch {
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    if (createdParent) fs.rmdirSync(parent);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('containers: a cgroup removed since the last scan is reported once; an id no scan finds reads as no cgroup', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-cgindex-'));
  try {
    fs.mkdirSync(path.join(root, 'a'));
    const a = fs.statSync(path.join(root, 'a'), { bigint: true }).ino;
    const idx = new CgroupIndex(root, 0);
    assert.equal(idx.pathOf(a), '/a');
    // (b is made while a exists: tmpfs, unlike the cgroup filesystem, reuses inode numbers)
    fs.mkdirSync(path.join(root, 'b'));
    const b = fs.statSync(path.join(root, 'b'), { bigint: true }).ino;
    fs.rmdirSync(path.join(root, 'a'));
    // an unknown id makes a scan, which sees /a gone and /b new
    assert.equal(idx.pathOf(1n), null);
    assert.deepEqual(idx.takeRemoved(), [a]);
    assert.deepEqual(idx.takeRemoved(), []);
    assert.equal(idx.pathOf(a), null);
    assert.equal(idx.pathOf(b), '/b');
    assert.equal(idx.pathOf(1n), null);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
