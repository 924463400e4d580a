// SPDX-License-Identifier: Apache-2.0
// Parsers behind \`memscope trace\` and \`count\`: tracepoint record formats (tracefs text) and
// event filters. No kernel needed: the format text is a copy of this kernel's oom:mark_victim,
// extended with the field kinds other tracepoints use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFormat, decodeRecord, formatValue } from '../../src/procfs/tracefs-format';
import { parseFilter } from '../../src/engine/event-filter';

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
