// Probe names, tracefs format parsing and decoding, and the field filter; and a live __data_loc
// string decoded by `trace`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseFormat, decodeRecord, formatValue } from '../src/procfs/tracefs-format';
import { parseFilter } from '../src/engine/event-filter';
import { resolveLibrary, resolveProbe, resolveProbes } from '../src/engine/probes';
import { memscope, jsonLines, start, startMemscope } from './lib/run';
import { workload } from './lib/workloads';
import { assertNothingLoaded } from './lib/bpf';

const MARK_VICTIM = `name: mark_victim
ID: 609
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int pid;\toffset:8;\tsize:4;\tsigned:1;
\tfield:__data_loc char[] comm;\toffset:12;\tsize:4;\tsigned:0;
\tfield:unsigned long total_vm;\toffset:16;\tsize:8;\tsigned:0;
\tfield:short oom_score_adj;\toffset:24;\tsize:2;\tsigned:1;
\tfield:char name[8];\toffset:26;\tsize:8;\tsigned:0;
\tfield:void * ptr;\toffset:40;\tsize:8;\tsigned:0;
\tfield:unsigned int nodes[2];\toffset:48;\tsize:8;\tsigned:0;

print fmt: "pid=%d total_vm=0x%lx name=%s", REC->pid, REC->total_vm, REC->name`;

test('tracefs format: fields, kinds, fixed size; a record decoded by name, __data_loc string included', () => {
  const f = parseFormat(MARK_VICTIM, 'oom');
  assert.equal(f.name, 'mark_victim');
  assert.equal(f.id, 609);
  assert.equal(f.fixedSize, 56);
  assert.ok(f.dynamic);
  const byName = Object.fromEntries(f.fields.map((x) => [x.name, x]));
  assert.equal(byName.common_pid.common, true);
  assert.deepEqual([byName.comm.kind, byName.comm.type], ['dynstring', '__data_loc char[]']);
  assert.deepEqual([byName.name.kind, byName.ptr.kind, byName.nodes.kind, byName.nodes.elemSize], ['string', 'pointer', 'array', 4]);
  const rec = Buffer.alloc(70);
  rec.writeInt32LE(4242, 8);
  rec.write('hog\0', 56);
  rec.writeUInt32LE((4 << 16) | 56, 12); // length 4 at offset 56
  rec.writeBigUInt64LE(123456789n, 16);
  rec.writeInt16LE(-1000, 24);
  rec.write('abc', 26);
  rec.writeBigUInt64LE(0xffff888012345678n, 40);
  rec.writeUInt32LE(3, 48);
  rec.writeUInt32LE(5, 52);
  assert.deepEqual(f.fields.filter((x) => x.hex).map((x) => x.name), ['total_vm']);
  assert.equal(formatValue(decodeRecord(f, rec).total_vm, byName.total_vm), '0x75bcd15');
  assert.equal(formatValue(decodeRecord(f, rec).pid, byName.pid), '4242');
  assert.deepEqual(decodeRecord(f, rec), { pid: 4242, comm: 'hog', total_vm: 123456789, oom_score_adj: -1000, name: 'abc', ptr: 0xffff888012345678n, nodes: [3, 5] });
});

test('filter: comparisons, && || ! and parentheses, 64-bit numbers, strings; typos caught', () => {
  const known = new Set(['nr_reclaimed', 'order', 'comm', 'addr']);
  const f = parseFilter('nr_reclaimed > 100 && (order >= 3 || comm == "kswapd0")', known);
  assert.equal(f({ nr_reclaimed: 101, order: 3, comm: 'x' }), true);
  assert.equal(f({ nr_reclaimed: 101, order: 0, comm: 'kswapd0' }), true);
  assert.equal(f({ nr_reclaimed: 100, order: 9, comm: 'kswapd0' }), false);
  assert.equal(parseFilter('addr >= 0xffff888000000000')({ addr: 0xffff888012345678n }), true);
  assert.equal(parseFilter('!(order == 0)')({ order: 0 }), false);
  assert.equal(parseFilter("comm != 'bash'")({ comm: 'zsh' }), true);
  assert.throws(() => parseFilter('nr_reclaim > 1', known), /no field 'nr_reclaim'/);
  assert.throws(() => parseFilter('order >', known), /needs a value/);
  assert.throws(() => parseFilter('comm < "a"', known), /strings compare with == or != only/);
  assert.throws(() => parseFilter('order == 1 junk', known), /unexpected 'junk'/);
});

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
  const r = memscope(['trace', '--json', '-c', '/bin/true', 't:sched:sched_process_exec', 'filename == "/bin/true"']);
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  assert.equal(recs.length, 1, r.stdout);
  assert.equal(recs[0].fields.filename, '/bin/true');
  assert.equal(recs[0].comm, 'true');
  assert.equal(recs[0].fields.pid, recs[0].pid);
  // signed fields compare as signed in the kernel filter
  const neg = memscope(['trace', '-v', '--json', '-c', '/bin/true', 't:sched:sched_process_exec', 'pid > -5 && old_pid >= 1']);
  assert.equal(jsonLines(neg.stdout).length, 1, neg.stdout + neg.stderr);
  assert.match(neg.stderr, /runs in the kernel for 1 of 1 probes/);
  const none = memscope(['trace', '-v', '--json', '-c', '/bin/true', 't:sched:sched_process_exec', 'pid < -5']);
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
  const t = memscope(['trace', 'c:malloc']);
  assert.equal(t.code, 2);
  assert.match(t.stderr, /^memscope: uprobe:libc\.so\.6:malloc: this tool takes tracepoints and software events only\n$/);
});

after(() => assertNothingLoaded());
