// SPDX-License-Identifier: Apache-2.0
// A process in another mount namespace (a container) has its own files: the same path on the host
// may be another program (another libc, another build). Its frames must be named from its own file,
// read through /proc/PID/root, never from the host's file of the same path. Here the path
// D/prog is mem_hog on the host and, inside a private mount namespace, fault_touch bind-mounted
// over it: the faults come from fault_touch's touch_pages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { start, startMemscope, jsonLines, Running } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const PAGES = 3000;
const children: Running[] = [];
const dirs: string[] = [];

after(() => {
  children.forEach((c) => c.kill());
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
  assertNothingLoaded();
});

test('faults -p of a process in another mount namespace names its frames from its own file, not the host file at the same path', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-ns-'));
  dirs.push(dir);
  const prog = path.join(dir, 'prog');
  fs.copyFileSync(workload('mem_hog'), prog); // the host's file at that path
  fs.chmodSync(prog, 0o755);
  const inside = workload('fault_touch');
  // the bind mount exists only in the new namespace; `exec` keeps the pid the test waits on
  const w = start('/usr/bin/unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', `mount --bind '${inside}' '${prog}' && exec '${prog}' ${PAGES}`]);
  children.push(w);
  await w.waitFor('ready');
  assert.notEqual(fs.readlinkSync(`/proc/${w.pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'));
  const ms = await startMemscope(['faults', '--json', '-p', String(w.pid)]);
  w.send('go');
  await w.waitFor('done');
  await w.exited;
  const r = await ms.exited; // -p ends with its target
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  const touch = recs.filter((x) => /^touch_pages\+0x[0-9a-f]+ \[prog\]$/.test(x.ustack[0] ?? ''));
  const n = touch.reduce((s, x) => s + x.count, 0);
  // one fault per page (a few more may come from a page touched while its neighbour is charged)
  assert.ok(n >= PAGES && n <= PAGES + 8, `touch_pages faults: ${n}\n${r.stdout.slice(0, 3000)}`);
  assert.ok(touch.every((x) => /^main\+0x[0-9a-f]+ \[prog\]$/.test(x.ustack[1] ?? '')), JSON.stringify(touch.slice(0, 3)));
});

test('a forgotten process of another mount namespace: the fds held for its files (read through /proc/PID/root) are closed', async () => {
  // a cache of one byte: every table of an earlier stack is let go, and a container file's fd held
  process.env.MEMSCOPE_MODULE_CACHE_BYTES = '1';
  const { Symbolizer } = await import('../src/symbols/symbolizer');
  const cached = await import('../src/symbols/cache-caps');
  assert.equal(cached.MODULE_CACHE_BYTES, 1, 'the cache module was loaded before the test set its size');
  const exe = workload('fault_touch');
  const ns = (bin: string, arg: string) => start('/usr/bin/unshare', ['--mount', '--propagation', 'private', bin, arg]);
  const a = ns(exe, '10');
  const b = ns(workload('rounds'), '1');
  children.push(a, b);
  await a.waitFor('ready');
  await b.waitFor('ready');
  const heldTo = (file: string) =>
    fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === file;
      } catch {
        return false;
      }
    }).length;
  const s = new Symbolizer();
  s.observe(a.pid); // a's files opened through /proc/A/root, their tables read
  s.user(a.pid, []); // the next stack: a's tables may go
  s.observe(b.pid); // b's executable is a new file: a's tables go, a's files held open
  assert.ok(heldTo(exe) >= 1, `a's executable held open after its table went (${heldTo(exe)})`);
  a.kill();
  await a.exited;
  s.forget(a.pid);
  assert.equal(heldTo(exe), 0, "a's executable still held open after a was forgotten");
  b.kill();
});
