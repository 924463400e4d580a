// SPDX-License-Identifier: Apache-2.0
// memleak and exec (issue 10.2): an exec ends the old image's records; -c runs a command line as
// a shell does and traces the program it ends up running; a command that cannot run fails.
// (How a command line is rewritten: test/unit/command-line.test.ts.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { start, startMemscope, jsonLines, memscope } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const SITES = 'memleak_sites';
const siteFrame = (fn: string) => new RegExp(`^${fn}\\+0x[0-9a-f]+ \\[${SITES}\\]$`);
const site = (recs: any[], fn: string) => recs.filter((r) => r.ustack.length && siteFrame(fn).test(r.ustack[0]));

test('memleak -c "env VAR=1 prog": the program\'s allocations, none of env\'s', () => {
  const r = memscope(['memleak', '--json', '-c', `env MEMLEAK_TAG=1 ${workload(SITES)}`, '60'], { input: 'go\nexit\n' });
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  const a = site(recs, 'leak_a');
  assert.deepEqual([a.length, a[0]?.bytes, a[0]?.allocations], [1, 100000, 100], r.stdout);
  assert.deepEqual([site(recs, 'early_alloc')[0]?.bytes], [2331], r.stdout);
  // env allocated ~400 KB (setlocale) and exec'd the program without freeing it: not reported
  assert.ok(
    recs.every((x) => x.comm === SITES),
    r.stdout,
  );
  assert.ok(
    recs.every((x) => x.ustack.every((f: string) => !/\[env\]/.test(f))),
    r.stdout,
  );
});

test('memleak -c "cd DIR && VAR=1 ./prog": run as a shell runs it, the program traced', () => {
  const bin = workload(SITES);
  const r = memscope(['memleak', '--json', '-c', `cd ${path.dirname(bin)} && MEMLEAK_TAG=1 ./${SITES}`, '60'], { input: 'go\nexit\n' });
  assert.equal(r.code, 0, r.stderr);
  const a = site(jsonLines(r.stdout), 'leak_a');
  assert.deepEqual([a.length, a[0]?.bytes, a[0]?.allocations], [1, 100000, 100], r.stdout + r.stderr);
});

test("memleak -p of a process that execs: the old image's records end, the new image is symbolized", async () => {
  const w = start(workload('memleak_exec'), [workload(SITES)]);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['memleak', '--json', '-p', String(w.pid), '600']);
    w.send('go');
    await w.waitFor('leaked');
    w.send('exec');
    await w.waitFor(/ready[^]*ready/);
    w.send('go');
    await w.waitFor('done');
    w.send('exit');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    assert.equal(recs.filter((x) => x.ustack.some((f: string) => /old_image_leak|\[unknown\]/.test(f))).length, 0, r.stdout);
    assert.equal(
      recs.reduce((s, x) => s + (x.bytes === 5 * 777 ? 1 : 0), 0),
      0,
      r.stdout,
    );
    const a = site(recs, 'leak_a');
    assert.deepEqual([a.length, a[0]?.bytes, a[0]?.allocations], [1, 100000, 100], r.stdout);
    assert.ok(
      recs.every((x) => x.comm === SITES),
      r.stdout,
    );
  } finally {
    w.kill();
  }
});

test('-c of a program that does not exist fails with the shell\'s reason and status; -c "" is refused', () => {
  const missing = path.join(os.tmpdir(), `memscope-no-such-program-${process.pid}`);
  assert.ok(!fs.existsSync(missing));
  const r = memscope(['memleak', '-c', missing, '60']);
  assert.equal(r.code, 127, r.stderr);
  assert.match(r.stderr, new RegExp(`^sh: .*${path.basename(missing)}: not found$`, 'm'));
  assert.match(r.stderr, /^memscope: -c: the command could not be run \(the shell's exit status 127\)/m);
  assert.equal(r.stdout, '');
  const e = memscope(['memleak', '-c', '', '60']);
  assert.equal(e.code, 2, e.stderr);
  assert.equal(e.stderr, 'memscope: -c needs a command line (it was empty)\n');
  // the same mechanism for every tool
  const b = memscope(['brkstack', '-c', missing, '60']);
  assert.equal(b.code, 127, b.stderr);
});

after(() => assertNothingLoaded());
