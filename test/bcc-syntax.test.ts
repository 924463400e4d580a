// SPDX-License-Identifier: Apache-2.0
// BCC's probe syntax with BCC's meanings: u:LIB:PROBE is a USDT probe, p:LIB:FUNC / r:LIB:FUNC
// are a uprobe and a uretprobe; memscope's old u:LIB:FUNC (uprobe) gets a line saying how to write it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { workload } from './lib/workloads';
import { memscope, start, startMemscope, jsonLines, Running, Result } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const PYTHON = '/usr/bin/python3.11'; // Debian's build has the USDT probes (PATH may hold pyenv's)

/** A workload: ready, then a line, then its events, then "done"; traced by memscope with -p PID;
 * memscope is stopped with SIGINT after "done" (the workload may do more on its way out). */
async function traced(w: Running, args: (pid: number) => string[]): Promise<Result> {
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(args(w.pid));
    w.send('go');
    await w.waitFor('done');
    const r = await ms.interrupt();
    assert.equal(r.code, 0, r.stderr);
    return r;
  } finally {
    w.kill();
  }
}

const GC_SCRIPT = 'import gc, sys\ngc.disable()\nprint("ready", flush=True)\nsys.stdin.readline()\nfor _ in range(17): gc.collect()\nprint("done", flush=True)\nsys.stdin.readline()\n';

test('u:LIB:PROBE is USDT (BCC): count u:python3.11:gc__start counts gc.collect() calls', async () => {
  const r = await traced(start(PYTHON, ['-c', GC_SCRIPT]), (pid) => ['count', '--json', '-p', String(pid), 'u:python3.11:gc__start', `u:${PYTHON}:python:gc__done`]);
  const by = Object.fromEntries(jsonLines(r.stdout).map((x) => [x.probe, x.count]));
  assert.deepEqual(by, { 'usdt:python3.11:python:gc__start': 17, 'usdt:python3.11:python:gc__done': 17 }, r.stdout);
});

// libstdc++ has no frame pointers: DWARF unwinding walks from the probe in __cxa_throw to main
test('stackcount -U --unwind dwarf u:stdc++:throw: C++ exceptions by user stack (USDT libstdcxx:throw)', async () => {
  const N = 9;
  const r = await traced(start(workload('cxx_throw'), [String(N)]), (pid) => ['stackcount', '-U', '-f', '--unwind', 'dwarf', '-p', String(pid), 'u:stdc++:throw']);
  const line = r.stdout.split('\n').find((l) => /;main;__cxa_throw \d+$/.test(l));
  assert.ok(line, r.stdout);
  assert.equal(Number(line.split(' ').pop()), N, r.stdout);
});

test('p:LIB:FUNC and r:LIB:FUNC are a uprobe and a uretprobe (BCC) in count and stackcount', async () => {
  const N = 21;
  const bin = workload('probe_target');
  const c = await traced(start(bin, [String(N)]), (pid) => ['count', '--json', '-p', String(pid), `p:${bin}:probe_me`, `r:${bin}:probe_me`, 'p:c:printf']);
  const by = Object.fromEntries(jsonLines(c.stdout).map((x) => [x.probe, x.count]));
  assert.equal(by['uprobe:probe_target:probe_me'], N, c.stdout);
  assert.equal(by['uretprobe:probe_target:probe_me'], N, c.stdout);
  const s = await traced(start(bin, [String(N)]), (pid) => ['stackcount', '-U', '-f', '-p', String(pid), `p:${bin}:probe_me`]);
  assert.ok(s.stdout.split('\n').some((l) => l === `probe_target;__libc_start_call_main;main;probe_me ${N}` || new RegExp(`;main;probe_me ${N}$`).test(l)), s.stdout);
});

test("the old u:LIB:FUNCTION and ur: spellings, and p: without a library: one line saying how to write them", () => {
  const cases: [string[], RegExp, number][] = [
    [['count', 'u:c:malloc'], /^memscope: 'u:c:malloc': u: is a USDT probe \(BCC's syntax\) and libc\.so\.6 has no USDT probe 'malloc'; for a uprobe on the function write p:c:malloc \(uretprobe: r:c:malloc\)$/, 2],
    [['stackcount', 'ur:c:malloc'], /^memscope: 'ur:c:malloc': ur: is not a probe type; a uretprobe is r:LIBRARY:FUNCTION \(BCC\)/, 2],
    [['count', 'p::hugepage_madvise'], /^memscope: 'p::hugepage_madvise' would be a kprobe, and this kernel has none/, 2],
    [['count', 'u:python3.11:nosuch'], /^memscope: no USDT probe 'nosuch' in \/usr\/bin\/python3\.11 \(it has \d+, e\.g\. python:/, 1],
  ];
  for (const [args, re, code] of cases) {
    const r = memscope(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), re);
  }
});

after(() => assertNothingLoaded());
