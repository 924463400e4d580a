// SPDX-License-Identifier: Apache-2.0
// Decisions made without a kernel: which event source a probe group uses, and how memleak's
// growth view classifies a stack's outstanding bytes over reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseSource, ProbeGroup, Requirement, tracepointGroup } from '../../src/engine/sources';
import { classify, Growth, slope } from '../../src/tools/memleak/growth';

const offers = (...have: string[]) => (r: Requirement) => ('always' in r ? true : 'btf' in r ? have.includes(`btf:${r.btf}`) : have.includes(`tp:${r.tracepoint}`));

const BRK = tracepointGroup('brk() calls', 'syscalls', 'sys_enter_brk', 'brk_btf', 'brk_tp');

test('source selection: the first source the kernel offers, in the group\'s order', () => {
  const pick = (met: (r: Requirement) => boolean, prefer?: string) => {
    const s = chooseSource(BRK, prefer, met);
    return typeof s === 'string' ? s : s.name;
  };
  assert.equal(pick(offers('btf:sys_enter_brk', 'tp:syscalls/sys_enter_brk')), 'tp_btf sys_enter_brk');
  assert.equal(pick(offers('tp:syscalls/sys_enter_brk')), 'tracepoint syscalls/sys_enter_brk');
  // --source moves matching sources first, but only among those the kernel offers
  assert.equal(pick(offers('btf:sys_enter_brk', 'tp:syscalls/sys_enter_brk'), 'tracepoint'), 'tracepoint syscalls/sys_enter_brk');
  assert.equal(pick(offers('btf:sys_enter_brk'), 'tracepoint'), 'tp_btf sys_enter_brk');
  assert.equal(pick(offers()), 'this kernel offers no event source for brk() calls (missing: BTF tracepoint sys_enter_brk, tracepoint syscalls/sys_enter_brk)');
});

test('source selection: a source needing several things is used only when all are there', () => {
  const g: ProbeGroup = {
    what: 'reclaim',
    sources: [
      { name: 'pair', programs: ['a', 'b'], requires: [{ btf: 'begin' }, { btf: 'end' }] },
      { name: 'perf', programs: ['c'], requires: [{ always: true }] },
    ],
  };
  assert.equal((chooseSource(g, undefined, offers('btf:begin')) as { name: string }).name, 'perf');
  assert.equal((chooseSource(g, undefined, offers('btf:begin', 'btf:end')) as { name: string }).name, 'pair');
});

test('growth: leaking, long-lived, freed and noisy stacks each read as what they are', () => {
  assert.equal(classify([100, 200, 300, 400]), 'growing');
  assert.equal(classify([4096, 4096, 4100, 4096]), 'flat'); // within 1 %
  assert.equal(classify([400, 300, 300, 0]), 'shrinking');
  assert.equal(classify([500, 900, 100, 400]), 'varying');
  assert.equal(classify([100, 200, 150, 300, 400, 500]), 'growing'); // mostly up: one dip is allowed
  // grew, then flat for its last 3 reports (a cache that filled up): flat now, not growing
  assert.equal(classify([100, 200, 300, 400, 400, 400]), 'flat');
  assert.equal(classify([100, 200, 300, 400, 400]), 'growing'); // flat for 2 reports only
  assert.equal(slope([[0, 0], [1, 10], [2, 20]]), 10);
  assert.equal(slope([[5, 1]]), 0);
});

test('growth: a stack absent from a report counts as freed; a trend needs two reports', () => {
  const g = new Growth();
  g.add('leak', 1000, 100);
  g.add('gone', 1000, 500);
  g.endReport(1000);
  assert.equal(g.of('leak'), null);
  g.add('leak', 2000, 200);
  g.endReport(2000);
  g.add('leak', 3000, 300);
  g.endReport(3000);
  assert.deepEqual(g.of('leak'), { slope: 100, points: 3, verdict: 'growing' });
  assert.deepEqual(g.of('gone'), { slope: -250, points: 3, verdict: 'shrinking' });
});
