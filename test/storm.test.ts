// SPDX-License-Identifier: Apache-2.0
// A page-fault storm traced with DWARF unwinding (issue 10, point 4): memscope's peak RSS stays
// under its documented bound (MEMORY_BOUND_BYTES, ARCHITECTURE.md "Memory bound") and the
// end-of-run accounting says where every event went: counted with a DWARF or a frame-pointer stack,
// or dropped; the parts add up to the events the BPF program saw, and the storm's own faults are
// all there. memscope runs in a 1 GiB memory cgroup, so a regression fails here instead of taking
// the machine down. A memory assertion, not a timing one: the storm's rate only makes it harder, so
// it aims high and uses fault_storm's fastest faults (--file: write faults that map cached shmem
// pages, about twice the anonymous rate; still one fault per page written in storm_touch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { workload } from './lib/workloads';
import { Running, start, jsonLines } from './lib/run';
import { accountingOf, tracedInCgroup } from './lib/storm';
import { assertNothingLoaded } from './lib/bpf';
import { MEMORY_BOUND_BYTES } from '../src/unwind/dwarf-stacks';

const RATE = 200_000; // faults per second the storm aims at (a busy machine gives it fewer)
const STORM = ['--file', String(RATE)];
const SECONDS = 12;

function stormResult(out: string): { touched: number; minflt: number; total: number } {
  const m = /touched=(\d+) minflt=(\d+)/.exec(out);
  const t = /total=(\d+)/.exec(out);
  assert.ok(m && t, out);
  return { touched: Number(m![1]), minflt: Number(m![2]), total: Number(t![1]) };
}

/** What every run must show: under the bound, not killed, and an accounting that adds up. */
function checkBoundAndAccounting(run: { r: { code: number | null; stderr: string; stdout: string }; hwm: number; failcnt: number }) {
  assert.equal(run.r.code, 0, run.r.stderr);
  const a = accountingOf(run.r.stderr);
  assert.ok(a.peak_rss_bytes > 0 && a.peak_rss_bytes < MEMORY_BOUND_BYTES, `memscope's peak RSS ${a.peak_rss_bytes} over the bound ${MEMORY_BOUND_BYTES}`);
  assert.ok(run.hwm < MEMORY_BOUND_BYTES, `VmHWM ${run.hwm} over the bound ${MEMORY_BOUND_BYTES}`);
  assert.equal(run.failcnt, 0, 'memscope reached its cgroup limit');
  // every event the BPF program saw is counted (with some stack) or dropped, and said
  assert.equal(a.dwarf + a.frame_pointer + a.dropped_stack_limit + a.dropped_kernel, a.events, JSON.stringify(a));
  assert.ok(a.fp_ring_full + a.fp_over_rate + a.fp_process_exited <= a.frame_pointer, JSON.stringify(a));
  console.log(`# accounting ${JSON.stringify(a)}; VmHWM sampled ${run.hwm}`);
  const recs = jsonLines(run.r.stdout);
  // and what was counted is what the report shows
  assert.equal(
    recs.reduce((s, x) => s + x.count, 0),
    a.dwarf + a.frame_pointer,
    'stack counts in the report differ from the accounting',
  );
  return { a, recs };
}

test('faults --unwind dwarf -p on a fault storm: peak RSS under the bound, every fault accounted for', async () => {
  const storm = start(workload('fault_storm'), [...STORM, String(SECONDS)]);
  try {
    await storm.waitFor('ready');
    const run = await tracedInCgroup('memscope-storm-p', ['faults', '--unwind', 'dwarf', '--json', '-p', String(storm.pid)], async () => {
      storm.send('go');
      await storm.waitFor(/total=\d+/, (SECONDS + 60) * 1000);
    });
    const { a, recs } = checkBoundAndAccounting(run);
    const s = stormResult(storm.stdout);
    assert.ok(
      recs.every((x) => x.pid === storm.pid),
      'another process leaked through -p',
    );
    // with -p every event is the storm's: at least its storm-phase faults, at most its whole life's
    assert.ok(a.events >= s.minflt && a.events <= s.total, `events ${a.events}, storm phase ${s.minflt}, lifetime ${s.total}`);
    const inTouch = recs.filter((x) => x.ustack[0]?.startsWith('storm_touch+')).reduce((n, x) => n + x.count, 0);
    // each touch is one fault in storm_touch: counted there, or dropped (and then said)
    assert.ok(inTouch <= s.touched, `storm_touch ${inTouch} > touched ${s.touched}`);
    assert.ok(inTouch + a.dropped_stack_limit + a.dropped_kernel >= s.touched, `storm_touch ${inTouch} + dropped < touched ${s.touched}: ${JSON.stringify(a)}`);
    // DWARF stacks go past storm_touch to main (frame-pointer fallbacks too: the workload keeps them)
    const dwarfTouch = recs.find((x) => x.ustack[0]?.startsWith('storm_touch+') && x.ustack.some((f: string) => f.startsWith('main+')));
    assert.ok(dwarfTouch, JSON.stringify(recs.slice(0, 3)));
  } finally {
    storm.kill();
  }
  await assertNothingLoaded();
});

test('faults --unwind dwarf system-wide during a fault storm: peak RSS under the bound, accounting adds up', async () => {
  let storm: Running | undefined;
  try {
    const run = await tracedInCgroup('memscope-storm-all', ['faults', '--unwind', 'dwarf', '--json', String(SECONDS + 2)], async () => {
      storm = start(workload('fault_storm'), [...STORM, String(SECONDS), 'go']);
      await storm.waitFor(/total=\d+/, (SECONDS + 60) * 1000);
    });
    const { a, recs } = checkBoundAndAccounting(run);
    const s = stormResult(storm!.stdout);
    // the storm ran inside the traced period: its faults in storm_touch are counted (at most once
    // each) unless dropped, and memscope itself is never among the traced
    const inTouch = recs.filter((x) => x.pid === storm!.pid && x.ustack[0]?.startsWith('storm_touch+')).reduce((n, x) => n + x.count, 0);
    assert.ok(inTouch <= s.touched, `storm_touch ${inTouch} > touched ${s.touched}`);
    assert.ok(inTouch + a.dropped_stack_limit + a.dropped_kernel >= s.touched, `storm_touch ${inTouch} + dropped < touched ${s.touched}: ${JSON.stringify(a)}`);
    assert.ok(!recs.some((x) => x.pid === run.pid), 'memscope traced itself');
  } finally {
    storm?.kill();
  }
  await assertNothingLoaded();
});
