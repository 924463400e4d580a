// SPDX-License-Identifier: Apache-2.0
// A per-event tool's event and its DWARF sample come on two rings and are joined on the number BPF
// wrote into both: a lost event or sample must never hand its stack to another event. The losses
// are made on demand: the consumer drops every 3rd mmap() event and every 4th sample before the
// join (MEMSCOPE_TEST_DROP_EVENT_EVERY, MEMSCOPE_TEST_DROP_SAMPLE_EVERY). The workload (built
// -fomit-frame-pointer) makes each mmap() of K pages from its own map_pages_K(), so every event's
// size says which function its stack must show.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, startMemscope, jsonLines } from './lib/run';
import { workload } from './lib/workloads';
import { oomKillUnderMemscope } from './lib/oom';
import { assertNothingLoaded } from './lib/bpf';
import { assertInOrder, frameName } from './lib/frames';
import { unwindWorkload } from './unwind-workloads';

const ROUNDS = 6; // 48 mmap()s: map_pages_1 .. map_pages_8, six times
const DROPS = { MEMSCOPE_TEST_DROP_EVENT_EVERY: '3', MEMSCOPE_TEST_DROP_SAMPLE_EVERY: '4' };

test("mmapsnoop -U: with events and samples lost, every mmap() shows its own function or [stack lost], never another event's stack", async () => {
  const { bin } = unwindWorkload('nofp');
  const w = start(bin, ['named', String(ROUNDS)]);
  try {
    await w.waitFor('ready');
    Object.assign(process.env, DROPS);
    const ms = await startMemscope(['mmapsnoop', '--json', '-U', '-p', String(w.pid), '--unwind', 'dwarf']);
    for (const k of Object.keys(DROPS)) delete process.env[k];
    w.send('go');
    await w.waitFor(/done \d/, 60_000);
    assert.match(w.stdout, new RegExp(`mapped ${ROUNDS * 36} pages`));
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const maps = jsonLines(r.stdout).filter((x) => x.pid === w.pid && x.map !== undefined);
    // the i-th mmap() (from 1) is dropped when i % 3 == 0, its sample when i % 4 == 0
    const n = ROUNDS * 8;
    const kept = [...Array(n).keys()].map((i) => i + 1).filter((i) => i % 3 !== 0);
    assert.deepEqual(
      maps.map((x) => x.size / 4096),
      kept.map((i) => ((i - 1) % 8) + 1),
      `mmap sizes in pages; stderr:\n${r.stderr}`,
    );
    const lost = kept.filter((i) => i % 4 === 0);
    maps.forEach((x, j) => {
      const i = kept[j];
      const k = x.size / 4096;
      const own = x.ustack.filter((f: string) => /^map_pages_\d/.test(frameName(f)));
      if (i % 4 === 0) {
        assert.deepEqual(x.ustack, ['[stack lost]'], `mmap #${i} (${k} pages): its sample was dropped`);
        return;
      }
      assert.deepEqual(own.map(frameName), [`map_pages_${k} [unwind_malloc]`], `mmap #${i} (${k} pages):\n${x.ustack.join('\n')}`);
      assertInOrder(x.ustack, [`map_pages_${k} [unwind_malloc]`, 'named_rounds [unwind_malloc]', 'outer_level [unwind_malloc]', 'main [unwind_malloc]']);
    });
    // said at the end: the lost stacks, and the samples whose events were dropped (i % 3 == 0, i % 4 != 0)
    const line = r.stderr.split('\n').find((l) => l.startsWith('{"accounting"'));
    assert.ok(line, r.stderr);
    const a = JSON.parse(line).accounting;
    const unjoined = [...Array(n).keys()].map((i) => i + 1).filter((i) => i % 3 === 0 && i % 4 !== 0).length;
    assert.deepEqual(
      { dwarf: a.dwarf, stack_lost: a.stack_lost, samples_unjoined: a.samples_unjoined, fp_ring_full: a.fp_ring_full },
      { dwarf: n, stack_lost: lost.length, samples_unjoined: unjoined, fp_ring_full: 0 },
    );
  } finally {
    for (const k of Object.keys(DROPS)) delete process.env[k];
    w.kill();
  }
});

test('oomkill: a trigger whose sample is lost is shown with [stack lost], and said at the end', async () => {
  const bin = workload('oom_touch', { cflags: ['-O2', '-g', '-fomit-frame-pointer'], variant: 'nofp' });
  const { result: r, kills } = await oomKillUnderMemscope('memscope_oomkill_join', 32 << 20, [bin, '100'], ['oomkill', '--json', '--unwind', 'dwarf'], {
    env: { MEMSCOPE_TEST_DROP_SAMPLE_EVERY: '1' },
  });
  assert.equal(kills.length, 1, r.stdout);
  assert.deepEqual(kills[0].trigger_ustack, ['[stack lost]']);
  const line = r.stderr.split('\n').find((l) => l.startsWith('{"accounting"'));
  assert.ok(line, r.stderr);
  const a = JSON.parse(line).accounting;
  // other processes' kills (another test's) while memscope ran lose theirs too: each is counted
  const marked = jsonLines(r.stdout).filter((k) => k.trigger_ustack.join() === '[stack lost]').length;
  assert.equal(a.stack_lost, marked, line);
  assert.equal(a.samples_unjoined, 0, line);
});

after(() => assertNothingLoaded());
