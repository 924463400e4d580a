// SPDX-License-Identifier: Apache-2.0
// swapthrash against real swapping: a working set larger than its memory cgroup's limit, touched
// in a loop, comes back from swap again and again; touched once, it never comes back.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { workload } from './lib/workloads';
import { memscope, jsonLines } from './lib/run';
import { MemoryCgroup, Swapfile } from './lib/scenario';
import { assertNothingLoaded } from './lib/bpf';

const SET_MB = 64;
const LIMIT_MB = 32;
let swap: Swapfile;

before(() => {
  swap = new Swapfile(256, `/var/tmp/memscope_swapthrash-${process.pid}.swap`);
});

function run(passes: number, extra: string[] = []) {
  const cg = new MemoryCgroup('memscope_swapthrash', LIMIT_MB << 20, { swappiness: 100 });
  try {
    const cmd = cg.wrap([workload('thrash'), String(SET_MB), String(passes)]).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const r = memscope(['swapthrash', ...extra, '-c', cmd], { input: 'go\n', timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    return r;
  } finally {
    cg.dispose();
  }
}

test('a working set over its limit, touched in a loop: pages come back from swap, with their times out', () => {
  const r = run(3, ['--json']);
  const recs = jsonLines(r.stdout);
  const procs = recs.filter((x) => !x.summary);
  assert.equal(procs.length, 1, r.stdout);
  const p = procs[0];
  assert.equal(p.comm, 'thrash');
  // passes 2 and 3 each read back at least the part of the set that did not fit
  const pagesOver = ((SET_MB - LIMIT_MB) << 20) / 4096;
  assert.ok(p.swapped_in >= 2 * pagesOver, `${p.swapped_in} swap-ins for ${pagesOver} pages over the limit`);
  // every swap-in matched to its swap-out is a page read from swap (readahead included)
  assert.ok(p.swapped_in <= p.pswpin, `${p.swapped_in} matched > ${p.pswpin} PSWPIN`);
  assert.ok(p.swapped_in >= 0.95 * p.pswpin, `only ${p.swapped_in} of ${p.pswpin} PSWPIN matched`);
  assert.equal(p.hist_us.reduce((s: number, b: any) => s + b.count, 0), p.swapped_in);
  assert.ok(p.avg_out_us > 0);
  assert.ok(recs.find((x) => x.summary).swap_outs_seen >= p.swapped_in);
});

test('the same working set touched once: swapped out, never back in, so no thrash times', () => {
  const r = run(1);
  assert.match(r.stdout, /\n(\d+) swap-outs seen \(all processes\)\n/);
  const outs = Number(/\n(\d+) swap-outs seen/.exec(r.stdout)![1]);
  assert.ok(outs >= ((SET_MB - LIMIT_MB) << 20) / 4096 / 2, `only ${outs} swap-outs: the scenario did not swap`);
  assert.doesNotMatch(r.stdout, /@swap_out_usecs\[thrash/, r.stdout);
});

test('the text report: a histogram per process and the table (PSWPIN from the classic tracepoint)', () => {
  const r = run(2, ['-v', '--source', 'tracepoint']);
  assert.match(r.stderr, /pages read from swap \(PSWPIN\): using tracepoint memcg\/count_memcg_events/);
  assert.match(r.stdout, /\n@swap_out_usecs\[thrash, (\d+), -\]: \d+ pages back from swap, average [\d.]+ ms out\n\[/);
  const row = /\n\s*PID COMM\s+CONTAINER\s+SWAPPED_IN PSWPIN AVG_OUT_ms\n\s*\d+ thrash\s+-\s+(\d+)\s+(\d+)\s+[\d.]+\n/.exec(r.stdout);
  assert.ok(row, r.stdout);
  assert.ok(Number(row![2]) > 0 && Number(row![1]) <= Number(row![2]), r.stdout);
});

after(async () => {
  swap?.dispose();
  await assertNothingLoaded();
});
