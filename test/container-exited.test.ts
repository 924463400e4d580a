// SPDX-License-Identifier: Apache-2.0
// A container's process that exits before memscope reads its mapping notes (an OOM victim killed
// milliseconds after its start, on a loaded machine): /proc/PID/root is gone with it, so its files
// are found by the device and path BPF recorded (overlayfs's backing file, in the layer directory
// on the host's disk), and trusted only when the inode and size match. Deterministic: memscope is
// stopped (SIGSTOP) from before the process starts until after it exited, so every record of it is
// read after its death. The program lies only in the overlay's lower directory: no file
// at its container path (/prog) exists on the host.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { start, startMemscope, jsonLines, Running, Result } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const PAGES = 3000;
const CGROUP = '/sys/fs/cgroup/memory/memscope-test-container-exited';
const children: Running[] = [];
const dirs: string[] = [];

after(async () => {
  children.forEach((c) => c.kill());
  await new Promise((r) => setTimeout(r, 200));
  try {
    fs.rmdirSync(CGROUP);
  } catch {
    /* already gone */
  }
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
  await assertNothingLoaded();
});

/** fault_touch as /prog of an overlay (lower directory only) in a private mount namespace, traced
 * by faults --cgroup stopped from before the process starts until after it exited; before memscope
 * resumes, swap(lowerFile) may change what lies at the program's path on the host. */
async function tracedAfterExit(swap?: (lowerFile: string) => void): Promise<Result> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-ovl-'));
  dirs.push(dir);
  for (const d of ['lower', 'upper', 'work', 'merged']) fs.mkdirSync(path.join(dir, d));
  const lowerFile = path.join(dir, 'lower', 'prog');
  fs.copyFileSync(workload('fault_touch'), lowerFile);
  fs.chmodSync(lowerFile, 0o755);
  assert.ok(!fs.existsSync('/prog'), 'the host has a /prog: the test needs the path free');
  fs.mkdirSync(CGROUP, { recursive: true });
  const ms = await startMemscope(['faults', '--json', '--cgroup', CGROUP]);
  children.push(ms);
  ms.child.kill('SIGSTOP'); // nothing read from the rings until the process is gone
  const opts = `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`;
  // a "container" without pivot_root: in the cgroup from its first instruction (so its start-up
  // faults are traced too, their stacks sending its libraries' mappings), the overlay mounted in a
  // new mount namespace, its program exec'd (one pid throughout, the one the test waits on), seen
  // by the kernel as /prog of the overlay's lower layer
  const w = start('/bin/sh', [
    '-c',
    `echo $$ > '${CGROUP}/cgroup.procs' && exec /usr/bin/unshare --mount --propagation private /bin/sh -c ` +
      `"mount -t overlay overlay -o '${opts}' '${dir}/merged' && exec '${dir}/merged/prog' ${PAGES}"`,
  ]);
  children.push(w);
  try {
    await w.waitFor('ready');
    w.send('go');
    await w.waitFor('done');
    const r = await w.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!fs.existsSync(`/proc/${w.pid}/root`), 'the process is still there');
    swap?.(lowerFile);
  } finally {
    ms.child.kill('SIGCONT');
  }
  const r = await ms.interrupt();
  assert.equal(r.code, 0, r.stderr);
  return r;
}

test('faults names the frames of a container process that exited before memscope read its mappings (its overlay file found on the host disk)', async () => {
  const r = await tracedAfterExit();
  const recs = jsonLines(r.stdout);
  const touch = recs.filter((x) => /^touch_pages\+0x[0-9a-f]+ \[prog\]$/.test(x.ustack[0] ?? ''));
  const n = touch.reduce((s, x) => s + x.count, 0);
  // one fault per page (a few more may come from a page touched while its neighbour is charged)
  assert.ok(n >= PAGES && n <= PAGES + 8, `touch_pages faults: ${n}\n${r.stdout.slice(0, 3000)}`);
  assert.ok(touch.every((x) => /^main\+0x[0-9a-f]+ \[prog\]$/.test(x.ustack[1] ?? '')), JSON.stringify(touch.slice(0, 3)));
});

test('a file now at the recorded path that is not the mapped one (replaced after the exit) is not used to name frames', async () => {
  const r = await tracedAfterExit((lowerFile) => {
    // another program at the same path: its symbols would name the frames wrongly
    fs.rmSync(lowerFile);
    fs.copyFileSync(workload('mem_hog'), lowerFile);
  });
  const recs = jsonLines(r.stdout);
  const prog = recs.filter((x) => / \[prog\]$/.test(x.ustack[0] ?? ''));
  const n = prog.reduce((s, x) => s + x.count, 0);
  assert.ok(n >= PAGES, `faults in prog: ${n}\n${r.stdout.slice(0, 3000)}\n${r.stderr}`);
  // unnamed ([unknown] [prog]), never one of mem_hog's functions
  assert.ok(prog.every((x) => /^\[unknown\] \[prog\]$/.test(x.ustack[0])), JSON.stringify(prog.slice(0, 3)));
});
