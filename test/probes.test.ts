// SPDX-License-Identifier: Apache-2.0
// Probe names, tracefs format parsing and decoding, and the field filter; and a live __data_loc
// string decoded by `trace`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { resolveLibrary, resolveProbe, resolveProbes } from '../src/engine/probes';
import { memscope, jsonLines, start, startMemscope } from './lib/run';
import { workload } from './lib/workloads';
import { assertNothingLoaded } from './lib/bpf';

test('probe names: the chapter\'s spellings, wildcards, software events with periods', () => {
  assert.deepEqual(resolveProbe('t:compaction:mm_compaction_begin').map((p) => p.label), ['compaction:mm_compaction_begin']);
  assert.deepEqual(resolveProbe('tracepoint:migrate:mm_migrate_pages').map((p) => p.label), ['migrate:mm_migrate_pages']);
  const vmscan = resolveProbe('t:vmscan:*').map((p) => p.label);
  assert.ok(vmscan.length > 10 && vmscan.every((l) => l.startsWith('vmscan:')) && vmscan.includes('vmscan:mm_vmscan_write_folio'));
  assert.deepEqual(resolveProbe('software:page-faults:1')[0], { kind: 'software', event: 'page-faults', perfType: 1, config: 2, period: 1, label: 'software:page-faults:1' });
  assert.equal((resolveProbe('software:major-faults')[0] as any).config, 6);
  assert.equal((resolveProbe('software:cpu-clock:99')[0] as any).period, 99);
  assert.equal(resolveProbes(['t:vmscan:mm_vmscan_write_folio', 't:vmscan:mm_vmscan_*']).filter((p) => p.label === 'vmscan:mm_vmscan_write_folio').length, 1);
  assert.throws(() => resolveProbe('kprobe:hugepage_madvise'), /kprobe/);
  assert.throws(() => resolveProbe('t:vmscan'), /expected t:CATEGORY:NAME/);
  assert.throws(() => resolveProbe('software:page-faults:0'), /bad period/);
});

test('trace decodes a __data_loc string live: sched_process_exec filename of a command', () => {
  const r = memscope(['trace', '--json', '--command', '/bin/true', 't:sched:sched_process_exec', 'filename == "/bin/true"']);
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  assert.equal(recs.length, 1, r.stdout);
  assert.equal(recs[0].fields.filename, '/bin/true');
  assert.equal(recs[0].comm, 'true');
  assert.equal(recs[0].fields.pid, recs[0].pid);
  // signed fields compare as signed in the kernel filter
  const neg = memscope(['trace', '-v', '--json', '--command', '/bin/true', 't:sched:sched_process_exec', 'pid > -5 && old_pid >= 1']);
  assert.equal(jsonLines(neg.stdout).length, 1, neg.stdout + neg.stderr);
  assert.match(neg.stderr, /runs in the kernel for 1 of 1 probes/);
  const none = memscope(['trace', '-v', '--json', '--command', '/bin/true', 't:sched:sched_process_exec', 'pid < -5']);
  assert.equal(jsonLines(none.stdout).length, 0, none.stdout);
  assert.match(none.stderr, /\nmemscope: 1 events filtered out in the kernel\n/);
});

test("count on uprobes, BCC's and bpftrace's spellings: c:malloc, p:libc:free, uretprobe:PATH:malloc", async () => {
  const N = 37;
  const w = start(workload('vm_ops'), ['malloc', String(N)]);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['count', '--json', '-p', String(w.pid), 'c:malloc', 'p:libc:free', `uretprobe:${resolveLibrary('c')}:malloc`]);
    w.send('go');
    await w.waitFor('done');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const by = Object.fromEntries(jsonLines(r.stdout).map((x) => [x.probe, x.count]));
    assert.deepEqual(by, { 'uprobe:libc.so.6:malloc': N, 'uprobe:libc.so.6:free': N, 'uretprobe:libc.so.6:malloc': N });
  } finally {
    w.kill();
  }
  assert.throws(() => resolveProbe('p:nosuchlib:f'), /no library or executable 'nosuchlib'/);
  // trace takes uprobes too (BCC's trace 'c:malloc'): one line per call
  const t = memscope(['trace', '-M', '1', '-n', 'ls', '--command', '/bin/ls /', 'c:malloc']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /\n\d+\s+\d+\s+ls\s+-\s+uprobe:libc\.so\.6:malloc\n/);
});

after(() => assertNothingLoaded());
