// SPDX-License-Identifier: Apache-2.0
// trace with BCC's options and probe forms: uprobes, uretprobes and USDT probes with printf-style
// arguments and retval, -U/-K stacks per event, -n NAME, -t, -M; each against a workload whose
// calls, arguments and return values are known.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { workload } from './lib/workloads';
import { memscope, start, startMemscope, jsonLines, Result } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const PYTHON = '/usr/bin/python3.11';

/** Runs `trace ARGS` on a command started by memscope (its stdin gets "go"). */
function traceCommand(args: string[], command: string): Result {
  const r = memscope(['trace', ...args, '--command', command], { input: 'go\n' });
  assert.equal(r.code, 0, r.stderr);
  return r;
}

const lines = (r: Result, probe: string) => r.stdout.split('\n').filter((l) => l.includes(probe));

test("trace 'p:BIN:FUNC \"v=%d\", arg1' and 'r:BIN:FUNC \"ret=%d\", retval': arguments and return values", () => {
  const N = 6;
  const bin = workload('probe_target'); // probe_me(i) for i < N returns 2i
  const p = traceCommand([`p:${bin}:probe_me "v=%d pid=%d", arg1, pid`], `${bin} ${N}`);
  const entry = lines(p, 'uprobe:probe_target:probe_me');
  assert.equal(entry.length, N, p.stdout);
  entry.forEach((l, i) => assert.match(l, new RegExp(`^(\\d+)\\s+\\1\\s+probe_target\\s+-\\s+uprobe:probe_target:probe_me v=${i} pid=\\d+$`)));
  const pid = /^(\d+)/.exec(entry[0])![1];
  assert.ok(entry[0].endsWith(`pid=${pid}`), entry[0]);

  const r = traceCommand(['--json', `r:${bin}:probe_me "ret=%d", retval`], `${bin} ${N}`);
  const recs = jsonLines(r.stdout);
  assert.deepEqual(
    recs.map((x) => x.message),
    Array.from({ length: N }, (_, i) => `ret=${2 * i}`),
  );
  assert.equal(recs[0].probe, 'uretprobe:probe_target:probe_me');
  // a filter on the arguments, in parentheses as BCC writes it; and %x / %s
  const f = traceCommand([`p:${bin}:probe_me (arg1 >= 4) "hex=%x", arg1`], `${bin} ${N}`);
  assert.deepEqual(
    lines(f, 'probe_me').map((l) => l.split(' ').pop()),
    ['hex=4', 'hex=5'],
  );
  const s = traceCommand(['p:c:printf "fmt=%s", arg1'], `${bin} 3`);
  // the string is copied in the kernel; its newlines are printed as \n, never raw
  assert.deepEqual(
    lines(s, 'uprobe:libc.so.6:printf').map((l) => l.replace(/^.*uprobe:libc\.so\.6:printf\s+/, '')),
    ['fmt=sum=%ld\\ndone\\n'],
  );
});

test("trace 'u:python3.11:gc__start \"gen=%d\", arg1': USDT arguments", async () => {
  const script = 'import gc, sys\ngc.disable()\nprint("ready", flush=True)\nsys.stdin.readline()\nfor _ in range(5): gc.collect(1)\nfor _ in range(3): gc.collect()\nprint("done", flush=True)\nsys.stdin.readline()\n';
  const w = start(PYTHON, ['-c', script]);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['trace', '-p', String(w.pid), 'u:python3.11:gc__start "gen=%d", arg1']);
    w.send('go');
    await w.waitFor('done');
    const r = await ms.interrupt();
    assert.equal(r.code, 0, r.stderr);
    const got = lines(r, 'usdt:python3.11:python:gc__start').map((l) => l.split(' ').pop());
    assert.deepEqual(got, [...Array(5).fill('gen=1'), ...Array(3).fill('gen=2')], r.stdout);
  } finally {
    w.kill();
  }
});

test('trace -U and -K: each event with its user and kernel stack (the kernel stack begins at the event)', () => {
  const N = 4;
  const r = traceCommand(['-U', '-K', 't:syscalls:sys_enter_brk', 'brk != 0'], `${workload('brk_grow')} ${N}`);
  // grow_heap's calls: event line, kernel frames from syscall_trace_enter, then user frames
  const blocks = r.stdout.split(/\n(?=\d)/).filter((b) => b.includes('  grow_heap+'));
  assert.equal(blocks.length, N, r.stdout);
  for (const b of blocks) {
    const frames = b.split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
    assert.match(frames[0], /^syscall_trace_enter\+0x[0-9a-f]+ \[kernel\]$/, b);
    assert.ok(frames.every((f) => !/^(bpf_prog_|bpf_trace_run|perf_syscall_enter)/.test(f)), b);
    const u = frames.findIndex((f) => f.startsWith('grow_heap+'));
    assert.ok(u > 0 && frames[u - 1].startsWith('entry_SYSCALL_64'), b);
    assert.match(frames[u + 1], /^main\+0x[0-9a-f]+ \[brk_grow\]$/, b);
  }
  const j = traceCommand(['--json', '-U', 't:syscalls:sys_enter_brk', 'brk != 0'], `${workload('brk_grow')} ${N}`);
  const recs = jsonLines(j.stdout).filter((x) => x.ustack.some((f: string) => f.startsWith('grow_heap+')));
  assert.equal(recs.length, N, j.stdout);
  assert.equal(recs[0].kstack, undefined, 'no -K: no kernel stack');
});

test('trace -n NAME, -M N, -t: only that process name, N events, seconds since start', async () => {
  const bin = workload('brk_grow');
  const ms = await startMemscope(['trace', '-n', 'brk_gro', '-M', '3', '-t', 't:syscalls:sys_enter_brk']);
  const w = start(bin, ['10']);
  try {
    await w.waitFor('ready');
    w.send('go');
    const r = await ms.exited; // -M: stops by itself after 3 events
    assert.equal(r.code, 0, r.stderr);
    const ev = r.stdout.split('\n').filter((l) => l.includes('syscalls:sys_enter_brk'));
    assert.equal(ev.length, 3, r.stdout);
    for (const l of ev) assert.match(l, new RegExp(`^\\d+\\.\\d{6}\\s+${w.pid}\\s+${w.pid}\\s+brk_grow\\s+-\\s+syscalls:sys_enter_brk\\s+__syscall_nr=12 brk=0x[0-9a-f]+$`));
    assert.match(ev[0], /^0\.000000 /);
    assert.match(r.stdout, /^TIME\s+PID\s+TID\s+COMM\s+CONTAINER\s+PROBE\s+FIELDS$/m);
  } finally {
    w.kill();
    ms.kill();
  }
});

test('trace -c CGROUP (BCC): only tasks of that cgroup v2, a bystander outside it is not shown', async () => {
  const N = 5;
  const cg = `/sys/fs/cgroup/unified/memscope_trace_${process.pid}`;
  fs.mkdirSync(cg);
  const bin = workload('brk_grow');
  const inside = start(bin, [String(N)]);
  const outside = start(bin, [String(N)]);
  try {
    await inside.waitFor('ready');
    await outside.waitFor('ready');
    fs.writeFileSync(`${cg}/cgroup.procs`, String(inside.pid));
    const ms = await startMemscope(['trace', '--json', '-c', cg, 't:syscalls:sys_enter_brk', 'brk != 0']);
    inside.send('go');
    outside.send('go');
    await inside.waitFor('done');
    await outside.waitFor('done');
    const r = await ms.interrupt();
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    assert.equal(recs.length, N, r.stdout);
    assert.ok(recs.every((x) => x.pid === inside.pid), r.stdout);
  } finally {
    inside.kill();
    outside.kill();
    await inside.exited;
    fs.rmdirSync(cg);
  }
  const bad = memscope(['trace', '-c', '/tmp', 't:syscalls:sys_enter_brk']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^memscope: \/tmp is not a cgroup v2 directory/);
});

test('trace: bad BCC specifications are one line', () => {
  const bin = workload('probe_target');
  const cases: [string[], RegExp][] = [
    [['trace', `p:${bin}:probe_me "%d %d", arg1`], /^memscope: the format "%d %d" has 2 conversions and 1 argument follow it$/],
    [['trace', `p:${bin}:probe_me "%d", arg9`], /^memscope: unknown argument 'arg9'/],
    [['trace', `p:${bin}:probe_me (arg1 > 1 "%d", arg1`], /^memscope: bad trace specification .*no closing parenthesis/],
    [['trace', `p:${bin}:probe_me "%d", retval`], /^memscope: unknown argument 'retval'/],
  ];
  for (const [args, re] of cases) {
    const r = memscope(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), re);
  }
});

after(() => assertNothingLoaded());
