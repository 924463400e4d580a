// SPDX-License-Identifier: Apache-2.0
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { workload } from './lib/workloads';
import { memscope, start, startMemscope, jsonLines, traceGated } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

test('shmsnoop prints the four calls with decoded arguments and return values', async () => {
  const { result: r, target } = await traceGated(workload('shm_ops'), [], (pid) => ['shmsnoop', '-p', String(pid)], { bystander: [] });
  assert.equal(r.code, 0, r.stderr);
  const m = /id=([0-9a-f]+) addr=0x([0-9a-f]+) dt=0 ctl=0/.exec(target.stdout)!;
  const [id, addr] = [m[1], m[2]];
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^PID\s+COMM\s+CONTAINER\s+SYS\s+RET ARGs$/);
  const rows = lines.slice(1).map((l) => l.replace(/\s+/g, ' '));
  const p = target.pid;
  assert.deepEqual(rows, [
    `${p} shm_ops - SHMGET ${id} key: 0x0, size: 65536, shmflg: 0x380 (IPC_CREAT|0600)`,
    `${p} shm_ops - SHMAT ${addr} shmid: 0x${id}, shmaddr: 0x0, shmflg: 0x1000 (SHM_RDONLY)`,
    `${p} shm_ops - SHMDT 0 shmaddr: 0x${addr}`,
    `${p} shm_ops - SHMCTL 0 shmid: 0x${id}, cmd: 0 (IPC_RMID), buf: 0x0`,
  ]);
});

test('shmsnoop --json and -c', async () => {
  const bin = workload('shm_ops');
  const ms2 = await startMemscope(['shmsnoop', '--json', '-c', bin]);
  ms2.send('go');
  const r2 = await ms2.exited;
  const recs = jsonLines(r2.stdout);
  assert.deepEqual(recs.map((x) => x.sys), ['SHMGET', 'SHMAT', 'SHMDT', 'SHMCTL']);
  assert.ok(recs.every((x) => x.comm === 'shm_ops'));
  assert.equal(recs[3].ret, 0);
});

test('shmsnoop, BCC options: -t TID and -n NAME pick one of two processes, -d stops by itself', async () => {
  const bin = workload('shm_ops');
  const a = start(bin);
  const b = start(bin);
  try {
    await a.waitFor('ready');
    await b.waitFor('ready');
    const byTid = await startMemscope(['shmsnoop', '--json', '-t', String(a.pid)]);
    const byName = await startMemscope(['shmsnoop', '--json', '-n', 'shm_op']);
    const none = await startMemscope(['shmsnoop', '--json', '-n', 'nosuchname']);
    a.send('go');
    b.send('go');
    await a.waitFor('done');
    await b.waitFor('done');
    const [t, n, z] = [await byTid.interrupt(), await byName.interrupt(), await none.interrupt()];
    const tr = jsonLines(t.stdout);
    assert.deepEqual(tr.map((x) => x.sys), ['SHMGET', 'SHMAT', 'SHMDT', 'SHMCTL'], t.stdout);
    assert.ok(tr.every((x) => x.tid === a.pid));
    const nr = jsonLines(n.stdout);
    assert.deepEqual([...new Set(nr.map((x) => x.pid))].sort(), [a.pid, b.pid].sort(), n.stdout);
    assert.equal(nr.length, 8, n.stdout);
    assert.equal(jsonLines(z.stdout).length, 0, z.stdout);
  } finally {
    a.kill();
    b.kill();
  }
  const d = memscope(['shmsnoop', '-d', '0.5']);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stderr, /for 0\.5 s\.\.\. Hit Ctrl-C/);
});

after(() => assertNothingLoaded());
