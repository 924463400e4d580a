// SPDX-License-Identifier: Apache-2.0
// The caps of ARCHITECTURE.md's "Memory bound" that hold what memscope keeps per file and per
// process (src/symbols/cache-caps.ts), made small through their environment variables: symbol
// tables and CFI are evicted and read again, the least recently seen processes' mappings are
// forgotten, both are counted in the accounting, and the answer stays right: every storm's faults
// in storm_touch are counted (or said dropped) under its own pid, with DWARF stacks reaching main.
// The storms run from distinct copies of the workload (distinct files to name frames in).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { jsonLines, Running, start } from './lib/run';
import { accountingOf, tracedInCgroup } from './lib/storm';
import { assertNothingLoaded } from './lib/bpf';
import { MEMORY_BOUND_BYTES } from '../src/unwind/dwarf-stacks';
import { UNNAMED } from '../src/engine/stack-counts';

const COPIES = 4;
const RATE = 3000; // faults per second per storm: modest, the caps are the point here
const SECONDS = 3;

test('faults --unwind dwarf system-wide with tiny symbol/CFI and process caps: evictions counted, each storm still right', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-caps-'));
  const storms: Running[] = [];
  try {
    const bins = Array.from({ length: COPIES }, (_, i) => {
      const p = path.join(dir, `storm_copy${i}`);
      fs.copyFileSync(workload('fault_storm'), p);
      fs.chmodSync(p, 0o755);
      return p;
    });
    const run = await tracedInCgroup(
      'memscope-caps',
      ['faults', '--unwind', 'dwarf', '--json', String(SECONDS + 3)],
      async () => {
        for (const b of bins) storms.push(start(b, [String(RATE), String(SECONDS), 'go']));
        for (const s of storms) await s.waitFor(/total=\d+/, (SECONDS + 60) * 1000);
      },
      // 8 MiB: less than node's symbol table (17 MB; the storms' first faults, before exec, are in
      // node's fork), so naming evicts; two processes' mappings kept for four storms
      { MEMSCOPE_MODULE_CACHE_BYTES: String(8 << 20), MEMSCOPE_MAX_PROCESSES: '2' },
    );
    assert.equal(run.r.code, 0, run.r.stderr);
    const a = accountingOf(run.r.stderr);
    console.log(`# accounting ${JSON.stringify(a)}; VmHWM sampled ${run.hwm}`);
    assert.ok(a.modules_evicted > 0, `no symbol/CFI table evicted: ${JSON.stringify(a)}`);
    assert.ok(a.processes_evicted > 0, `no process's mappings forgotten: ${JSON.stringify(a)}`);
    assert.ok(a.peak_rss_bytes < MEMORY_BOUND_BYTES && run.hwm < MEMORY_BOUND_BYTES, `peak RSS over the bound: ${JSON.stringify(a)}`);
    assert.equal(run.failcnt, 0, 'memscope reached its cgroup limit');
    assert.equal(a.dwarf + a.frame_pointer + a.dropped_stack_limit + a.dropped_kernel, a.events, JSON.stringify(a));
    assert.ok(a.fp_ring_full + a.fp_queue_full + a.fp_over_rate + a.fp_process_exited <= a.frame_pointer, JSON.stringify(a));
    const recs = jsonLines(run.r.stdout);
    assert.equal(
      recs.reduce((n, x) => n + x.count, 0),
      a.dwarf + a.frame_pointer,
      'report and accounting differ',
    );
    // a stack left unnamed (its process exited and was forgotten first) says so, and is counted
    const unnamed = recs.filter((x) => x.ustack.includes(UNNAMED.symbol)).reduce((n, x) => n + x.count, 0);
    assert.equal(unnamed, a.unnamed, 'unnamed stacks and the accounting differ');
    assert.ok(!recs.some((x) => x.ustack.includes('[unknown]') && x.ustack.includes(UNNAMED.symbol)), 'a marker beside guessed frames');
    for (const s of storms) {
      const touched = Number(/touched=(\d+)/.exec(s.stdout)![1]);
      const mine = recs.filter((x) => x.pid === s.pid);
      const inTouch = mine.filter((x) => x.ustack[0]?.startsWith('storm_touch+')).reduce((n, x) => n + x.count, 0);
      const all = mine.reduce((n, x) => n + x.count, 0);
      assert.ok(inTouch <= touched, `pid ${s.pid}: storm_touch ${inTouch} > touched ${touched}`);
      // every touch counted under its own pid, or said dropped
      assert.ok(
        all + a.dropped_stack_limit + a.dropped_kernel >= touched,
        `pid ${s.pid}: ${all} counted < touched ${touched}: ${JSON.stringify(a)} ${JSON.stringify(mine.slice(0, 6).map((x) => [x.count, x.ustack.slice(0, 4)]))}`,
      );
      // each storm fault is named in its own file (storm_touch called from main), or, when the storm
      // exited and its mappings were forgotten before its stack was named, shown with the marker and
      // counted: never [unknown] or a guessed frame
      const full = mine.filter((x) => x.ustack[0]?.startsWith('storm_touch+') && x.ustack[1]?.startsWith('main+'));
      const named = full.reduce((n, x) => n + x.count, 0);
      const marked = mine.filter((x) => x.ustack[0] === UNNAMED.symbol).reduce((n, x) => n + x.count, 0);
      const shown = JSON.stringify(mine.slice(0, 6).map((x) => [x.count, x.comm, x.ustack.slice(0, 4)]));
      assert.ok(
        named + marked + a.dropped_stack_limit + a.dropped_kernel >= touched,
        `pid ${s.pid}: storm_touch <- main ${named} + unnamed ${marked} < touched ${touched}: ${shown}`,
      );
      const guessed = mine.filter((x) => x.comm.startsWith('storm_copy') && x.ustack.slice(0, 2).includes('[unknown]'));
      assert.deepEqual(guessed, [], `pid ${s.pid}: storm stacks with unknown frames: ${shown}`);
    }
  } finally {
    for (const s of storms) s.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await assertNothingLoaded();
});

test('faults --unwind dwarf -p with a one-byte unwind queue: every sample falls back to its frame-pointer stack, counted and named', async () => {
  const storm = start(workload('fault_storm'), [String(RATE), String(SECONDS)]);
  try {
    await storm.waitFor('ready');
    const run = await tracedInCgroup(
      'memscope-caps-queue',
      ['faults', '--unwind', 'dwarf', '--json', '-p', String(storm.pid)],
      async () => {
        storm.send('go');
        await storm.waitFor(/total=\d+/, (SECONDS + 60) * 1000);
      },
      { MEMSCOPE_UNWIND_QUEUE_BYTES: '1' },
    );
    assert.equal(run.r.code, 0, run.r.stderr);
    const a = accountingOf(run.r.stderr);
    console.log(`# accounting ${JSON.stringify(a)}; VmHWM sampled ${run.hwm}`);
    // no sample fits: none is DWARF-unwound, each is counted by its frame-pointer stack, and said
    assert.equal(a.dwarf, 0, JSON.stringify(a));
    assert.ok(a.fp_queue_full > 0, JSON.stringify(a));
    assert.equal(a.dwarf + a.frame_pointer + a.dropped_stack_limit + a.dropped_kernel, a.events, JSON.stringify(a));
    assert.ok(a.fp_ring_full + a.fp_queue_full + a.fp_over_rate + a.fp_process_exited <= a.frame_pointer, JSON.stringify(a));
    assert.ok(a.peak_rss_bytes < MEMORY_BOUND_BYTES && run.hwm < MEMORY_BOUND_BYTES, `peak RSS over the bound: ${JSON.stringify(a)}`);
    const recs = jsonLines(run.r.stdout);
    assert.equal(
      recs.reduce((n, x) => n + x.count, 0),
      a.dwarf + a.frame_pointer,
      'report and accounting differ',
    );
    const touched = Number(/touched=(\d+)/.exec(storm.stdout)![1]);
    const named = recs.filter((x) => x.ustack[0]?.startsWith('storm_touch+') && x.ustack[1]?.startsWith('main+')).reduce((n, x) => n + x.count, 0);
    assert.ok(
      named <= touched && named + a.dropped_stack_limit + a.dropped_kernel >= touched,
      `storm_touch <- main ${named}, touched ${touched}: ${JSON.stringify(a)}`,
    );
  } finally {
    storm.kill();
  }
  await assertNothingLoaded();
});
