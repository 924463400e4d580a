// SPDX-License-Identifier: Apache-2.0
// Exit codes and messages that tell the truth: each bad input or refused situation is one line
// naming its cause, with a non-zero exit; never a silent empty trace, a misleading reason, an
// internal error or a hang. Non-root cases run as nobody (setpriv).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jsonLines, MEMSCOPE, memscope, start } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

/** memscope as the unprivileged user nobody. */
function asNobody(args: string[]) {
  const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', MEMSCOPE, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** One line on stderr, matching `re`, and the exit status `code`. */
function oneLine(r: { code: number | null; stderr: string }, re: RegExp, code: number): void {
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
  assert.match(r.stderr.trimEnd(), re);
}

test('-p of a thread traces its process, and says so', async () => {
  // a process whose second thread touches 16 MB page by page when told to
  const py = start('python3', [
    '-c',
    [
      'import sys, threading',
      'def work():',
      '    print(threading.get_native_id(), flush=True)',
      '    sys.stdin.readline()',
      '    b = bytearray(16 << 20)',
      '    b[::4096] = b"x" * (len(b) // 4096)',
      '    print("done", flush=True)',
      't = threading.Thread(target=work); t.start(); t.join()',
      'sys.stdin.readline()',
    ].join('\n'),
  ]);
  try {
    await py.waitFor(/^\d+\n/);
    const tid = Number(py.stdout.split('\n')[0]);
    assert.notEqual(tid, py.pid);
    const ms = start(MEMSCOPE, ['faults', '--json', '-p', String(tid)]);
    await ms.waitFor('Hit Ctrl-C');
    assert.match(ms.stderr, new RegExp(`^memscope: PID ${tid} is a thread of process ${py.pid}: tracing the process\n`));
    py.send('go');
    await py.waitFor('done');
    const r = await ms.interrupt();
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    // every page of the thread's 16 MB faulted once, in its process
    assert.ok(recs.length > 0 && recs.every((x) => x.pid === py.pid), r.stdout);
    assert.ok(recs.reduce((s, x) => s + x.count, 0) >= 4096, r.stdout);
  } finally {
    py.kill();
  }
});

test('-p of a kernel thread: it has no user memory to trace (tools of kernel events still take it)', () => {
  oneLine(memscope(['faults', '-p', '2', '1']), /^memscope: PID 2 \(kthreadd\) is a kernel thread: it has no user memory to trace$/, 2);
  oneLine(memscope(['brkstack', '-p', '2', '1']), /is a kernel thread/, 2);
  const r = memscope(['count', '-p', '2', '-d', '0.1', 't:sched:sched_process_exit']);
  assert.equal(r.code, 0, r.stderr);
});

test('memleak --sample-bytes outside 1..1g is refused before anything loads', () => {
  oneLine(memscope(['memleak', '-c', 'true', '--sample-bytes', '0']), /^memscope: --sample-bytes must be at least 1$/, 2);
  // the sampler takes a mean of at most 2^30 (MEAN_INTERVAL_MAX, shim/memscope_sampler.c)
  oneLine(memscope(['memleak', '-c', 'true', '--sample-bytes', '2g']), /^memscope: --sample-bytes must be at most 1g$/, 2);
});

test('pmap: a process that exists but may not be read is "permission denied", not "no process"', () => {
  // a root process, read by nobody
  oneLine(asNobody(['pmap', String(process.pid)]), new RegExp(`^memscope: cannot read the mappings of PID ${process.pid}: permission denied \\(EACCES\\); try sudo memscope pmap$`), 1);
  oneLine(memscope(['pmap', '999999999']), /^memscope: no process with PID 999999999/, 2);
});

test('non-root trace, count, list: tracefs is unreadable (EACCES), not "not mounted"', () => {
  for (const args of [['trace', 't:oom:mark_victim'], ['count', 't:oom:*'], ['list', 'oom']]) {
    oneLine(asNobody(args), /^memscope: cannot read tracefs at \/sys\/kernel\/tracing: permission denied \(EACCES\); tracepoints need root/, 1);
  }
});

test('probes: kprobe:foo says there are no kprobes; u: of a non-ELF file or a FIFO is refused at once', () => {
  for (const spec of ['kprobe:foo', 'k:foo', 'kretprobe:foo']) {
    oneLine(memscope(['trace', spec]), new RegExp(`^memscope: '${spec}' would be a kprobe, and this kernel has none \\(CONFIG_KPROBES off\\)`), 2);
  }
  oneLine(memscope(['count', '-d', '1', 'u:/etc/passwd:x']), /^memscope: cannot put a uprobe in \/etc\/passwd: not an ELF file/, 1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-fifo-'));
  try {
    const fifo = path.join(dir, 'lib.so');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    // no writer ever comes: opening it to read would block for ever
    const r = memscope(['count', '-d', '1', `u:${fifo}:malloc`], { timeoutMs: 20_000 });
    assert.equal(r.signal, null, 'memscope hung on the FIFO');
    oneLine(r, /^memscope: cannot put a uprobe in .*lib\.so: it is a FIFO, not an ELF executable or library$/, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('filters: a comparison of the wrong type or nesting 5,000 deep is refused before tracing', () => {
  oneLine(memscope(['trace', 't:sched:sched_process_exit', 'comm == 12', '-d', '1']), /^memscope: bad filter 'comm == 12': 'comm' is a string: compare it with a "string"$/, 2);
  oneLine(memscope(['trace', 't:syscalls:sys_enter_brk', 'brk == "x"', '-d', '1']), /^memscope: bad filter 'brk == "x"': 'brk' is a number: compare it with a number$/, 2);
  const deep = '('.repeat(5000) + 'brk == 1' + ')'.repeat(5000);
  oneLine(memscope(['trace', 't:syscalls:sys_enter_brk', deep, '-d', '1']), /^memscope: bad filter '\(+\.\.\.': it nests deeper than 100 levels of \( and !$/, 2);
  // still fine: strings with strings, numbers with numbers
  const ok = memscope(['trace', 't:sched:sched_process_exit', 'comm == "x" && pid > 0', '-d', '0.1']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('flame graphs of stacks 6,000 frames deep', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-deep-'));
  try {
    const frames = Array.from({ length: 6000 }, (_, i) => `f${i}`);
    fs.writeFileSync(path.join(dir, 'a.folded'), `${frames.join(';')} 5\n`);
    fs.writeFileSync(path.join(dir, 'b.folded'), `${frames.join(';')} 7\n`);
    const r = memscope(['flamegraph', path.join(dir, 'a.folded'), '--svg', path.join(dir, 'a.svg')]);
    assert.equal(r.code, 0, r.stderr);
    const svg = fs.readFileSync(path.join(dir, 'a.svg'), 'utf8');
    // all, then every frame, innermost f5999 at depth 6000
    assert.equal(svg.match(/<g class="f"/g)?.length, 6001);
    assert.match(svg, /data-d="6000"><title>f5999 \(5 samples, 100\.00%\)/);
    const d = memscope(['flamegraph', '--diff', path.join(dir, 'a.folded'), path.join(dir, 'b.folded'), '--svg', path.join(dir, 'd.svg')]);
    assert.equal(d.code, 0, d.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

after(() => assertNothingLoaded());
