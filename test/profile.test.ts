// SPDX-License-Identifier: Apache-2.0
// profile (timed stack sampling), llcstat and hardware-event sampling (chapter 7.2.3, 7.3.12):
// a workload burns a known amount of its own CPU time in spin_hot(); the samples must name it,
// with its pid and comm, and their number must fit -F times that CPU time.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { workload } from './lib/workloads';
import { memscope, start, startMemscope, jsonLines } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const PMU = fs.existsSync('/sys/bus/event_source/devices/cpu') || fs.existsSync('/sys/bus/event_source/devices/cpu_core');

/** Runs cpu_spin for `ms` of CPU time under `memscope profile ... -p PID`; returns the output and
 * the CPU time the workload measured for itself (getrusage), in seconds. */
async function profileSpin(ms: number, args: string[]): Promise<{ stdout: string; stderr: string; cpu: number; pid: number }> {
  const w = start(workload('cpu_spin'), [String(ms)]);
  try {
    await w.waitFor('ready');
    const p = await startMemscope(['profile', '-p', String(w.pid), ...args]);
    w.send('go');
    await w.waitFor('done');
    const r = await p.exited; // the target exits: profile reports and exits by itself
    assert.equal(r.code, 0, r.stderr);
    const cpu = Number(/cpu_ns=(\d+)/.exec(w.stdout)![1]) / 1e9;
    return { stdout: r.stdout, stderr: r.stderr, cpu, pid: w.pid };
  } finally {
    w.kill();
  }
}

test('profile -F 99 -p PID: the CPU-bound function by stack, pid and comm; samples = HZ x CPU time', async () => {
  const HZ = 99;
  const { stdout, cpu, pid } = await profileSpin(1200, ['-F', String(HZ), '--json']);
  const recs = jsonLines(stdout);
  assert.ok(recs.length > 0, stdout);
  for (const r of recs) assert.deepEqual([r.pid, r.comm], [pid, 'cpu_spin'], '-p keeps only the target');
  const spin = recs.filter((r) => r.ustack.some((f: string) => f.startsWith('spin_hot+')));
  const inSpin = spin.reduce((s, r) => s + r.count, 0);
  const total = recs.reduce((s, r) => s + r.count, 0);
  assert.match(spin[0].ustack.find((f: string) => f.startsWith('spin_hot+')), /^spin_hot\+0x[0-9a-f]+ \[cpu_spin\]$/);
  assert.ok(spin.every((r) => r.ustack.some((f: string) => f.startsWith('main+'))), 'spin_hot is called by main');
  // one sample per 1/HZ s of CPU: the bound comes from the workload's own CPU time, not wall time
  const expected = cpu * HZ;
  assert.ok(inSpin >= 0.6 * expected, `${inSpin} samples in spin_hot for ${cpu.toFixed(3)} s of CPU at ${HZ} Hz (expected ~${expected.toFixed(0)})`);
  assert.ok(total <= 1.3 * expected + 5, `${total} samples for ${cpu.toFixed(3)} s of CPU at ${HZ} Hz`);
  assert.ok(inSpin >= 0.9 * total, `nearly all samples are in spin_hot (${inSpin} of ${total})`);
});

test('profile -f (folded, BCC), -U, -d, -F 49 and the text report', async () => {
  const { stdout, cpu } = await profileSpin(600, ['-f', '-U', '-F', '49']);
  const lines = stdout.split('\n').filter(Boolean);
  const spin = lines.filter((l) => /^cpu_spin;(.*;)?main;spin_hot \d+$/.test(l));
  assert.ok(spin.length === 1, stdout);
  const n = Number(spin[0].split(' ').pop());
  assert.ok(n >= 0.6 * cpu * 49 && n <= 1.3 * cpu * 49 + 5, `${n} samples for ${cpu} s at 49 Hz`);
  assert.ok(lines.every((l) => !l.includes('_[k]')), '-U: no kernel frames');

  const t = await profileSpin(300, ['-F', '99']);
  // BCC's text form: frames by name, then comm [pid], then the count
  assert.match(t.stdout, new RegExp(`\\n  spin_hot\\n  main\\n(  .*\\n)*    cpu_spin \\[${t.pid}\\]\\n    \\d+\\n`), t.stdout);
});

test('profile -K --command: kernel stacks of a process reading /dev/zero, without the tracer\'s frames', () => {
  const r = memscope(['profile', '-K', '-F', '199', '--json', '--command', 'dd if=/dev/zero of=/dev/null bs=4M count=1500 status=none']);
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  assert.ok(recs.length > 0, r.stdout);
  let inRead = 0;
  for (const x of recs) {
    assert.ok(['dd', 'sh'].includes(x.comm), JSON.stringify(x)); // --command runs sh, which execs dd
    assert.equal(x.ustack.length, 0, '-K: no user stacks');
    // the tracer's own frames (its timer's overflow path into BPF) are never on top; deeper, dd may
    // really be in another tracer's page-fault event (perf_swevent_event, bpf_prog_...) when the
    // timer fires: a memscope agent or ffaults on the same host is a condition users meet
    const top = (x.kstack ?? [])[0] ?? '';
    assert.doesNotMatch(top, /^(bpf_prog_|bpf_trace_run|bpf_overflow_handler|__perf_event_overflow|perf_swevent_hrtimer)/, JSON.stringify(x));
    for (const f of x.kstack ?? []) assert.doesNotMatch(f, /^(perf_swevent_hrtimer|bpf_overflow_handler)\+/, JSON.stringify(x));
    if ((x.kstack ?? []).some((f: string) => /^(read_zero|__x64_sys_read|vfs_read|ksys_read)\+/.test(f))) inRead += x.count;
  }
  const total = recs.reduce((s, x) => s + x.count, 0);
  // dd spends its time clearing pages for read(): most samples are in the kernel read path
  assert.ok(inRead >= 0.5 * total, `${inRead} of ${total} samples in read(): ${r.stdout}`);
});

test('stackcount -K t:exceptions:page_fault_user: the kernel stack begins at the fault, not in the tracer', async () => {
  const w = start(workload('vm_ops'), ['faults', '20']);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['stackcount', '-K', '--json', '-p', String(w.pid), 't:exceptions:page_fault_user']);
    w.send('go');
    await w.waitFor('done');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    assert.ok(recs.reduce((s, x) => s + x.count, 0) >= 20, r.stdout);
    for (const x of recs) assert.match(x.kstack[0], /^exc_page_fault\+0x[0-9a-f]+ \[kernel\]$/, r.stdout);
  } finally {
    w.kill();
  }
});

test('hardware events (PMC sampling, chapter 7.2.3): sampled where a PMU exists, one clear line where none does', () => {
  const runs = [
    ['profile', '-e', 'hardware:L1-dcache-load-misses', '-c', '100000', '1'],
    ['stackcount', '-D', '1', 'hardware:L1-dcache-load-misses:100000'],
    ['count', '-d', '1', 'hardware:cache-misses:100000'],
  ];
  for (const args of runs) {
    const r = memscope(args);
    if (PMU) {
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stdout.length > 0, r.stderr);
    } else {
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^memscope: hardware:\S+ needs a hardware PMU and this machine has none.*; sample software events instead \(software:cpu-clock/);
    }
  }
  const llc = memscope(['llcstat', '1']);
  if (PMU) {
    assert.equal(llc.code, 0, llc.stderr);
    assert.match(llc.stdout, /^\s*PID\s+NAME\s+CPU\s+REFERENCE\s+MISS\s+HIT%/);
  } else {
    assert.equal(llc.code, 1, llc.stderr);
    assert.equal(llc.stderr.trim().split('\n').length, 1, llc.stderr);
    assert.match(llc.stderr, /^memscope: llcstat \(LLC references and misses\) needs a hardware PMU and this machine has none.*'memscope profile'/);
    assert.equal(llc.stdout, '');
  }
});

after(() => assertNothingLoaded());
