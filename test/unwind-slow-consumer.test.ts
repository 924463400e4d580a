// SPDX-License-Identifier: Apache-2.0
// The per-event DWARF tools (mmapsnoop -U, memleak) take samples off their ring as fast as they
// come and unwind them later from DwarfStacks' bounded queue, as the stack-counting tools do: a
// slow unwind (MEMSCOPE_TEST_UNWIND_DELAY_MS makes every one take 2 ms) must not make the ring
// overflow. Bursts of 1,000 events every 200 ms, 6,000 in all, are far more than a consumer
// unwinding in its ring callback gets through (500 a second), and far fewer than the queue holds.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, startMemscope, jsonLines, memscope } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { assertInOrder, frameName } from './lib/frames';
import { unwindWorkload } from './unwind-workloads';

const N = 6000;
const BURST = 1000;
const DELAY = { MEMSCOPE_TEST_UNWIND_DELAY_MS: '2' };

/** The accounting object memscope wrote on stderr with --json. */
function accounting(stderr: string): Record<string, number> {
  const line = stderr.split('\n').find((l) => l.startsWith('{"accounting"'));
  assert.ok(line, stderr);
  return JSON.parse(line).accounting;
}

test('mmapsnoop -U --unwind dwarf with a slow unwinder: every mmap() is reported with its DWARF stack, none falls back', async () => {
  const { bin } = unwindWorkload('nofp');
  const w = start(bin, ['mmaps', String(N), String(BURST)]);
  try {
    await w.waitFor('ready');
    Object.assign(process.env, DELAY);
    const ms = await startMemscope(['mmapsnoop', '--json', '-U', '-p', String(w.pid), '--unwind', 'dwarf', '--unwind-bytes', '2048']);
    delete process.env.MEMSCOPE_TEST_UNWIND_DELAY_MS;
    w.send('go');
    await w.waitFor(/done \d/, 120_000);
    assert.match(w.stdout, new RegExp(`mapped ${N}\\b`));
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout).filter((x) => x.pid === w.pid);
    const maps = recs.filter((x) => x.map !== undefined);
    // map_one(i) maps 1 to 4 pages in turn; the workload's other mmap()s (none after "go") aside
    const mine = maps.filter((x) => x.ustack.some((f: string) => frameName(f) === 'map_one [unwind_malloc]'));
    assert.equal(mine.length, N, `${maps.length} mmap records, ${mine.length} from map_one; stderr:\n${r.stderr}`);
    mine.forEach((x, i) => {
      assert.equal(x.size, 4096 * (1 + (i & 3)), JSON.stringify(x));
      assertInOrder(x.ustack, ['map_one [unwind_malloc]', 'map_bursts [unwind_malloc]', 'outer_level [unwind_malloc]', 'main [unwind_malloc]']);
      assert.ok(!x.ustack.some((f: string) => f.startsWith('[unwind stopped')), x.ustack.join('\n'));
    });
    assert.equal(recs.filter((x) => x.call === 'munmap').length, N);
    // every mmap() of the process had a sample (before "go" too): all unwound, none fell back
    const a = accounting(r.stderr);
    assert.deepEqual(a, { dwarf: maps.length, fp_ring_full: 0, fp_over_rate: 0, unwound_queue_full: 0, stack_lost: 0, samples_unjoined: 0, process_execd: 0 });
  } finally {
    delete process.env.MEMSCOPE_TEST_UNWIND_DELAY_MS;
    w.kill();
  }
});

test('memleak --unwind dwarf with a slow unwinder: every allocation of a burst is counted with its DWARF stack', () => {
  const { bin } = unwindWorkload('nofp');
  const r = memscope(['memleak', '--json', '--unwind', 'dwarf', '--unwind-bytes', '512', '-c', `${bin} leaks ${N} ${BURST}`], {
    input: 'go\n',
    env: { ...process.env, ...DELAY },
    timeoutMs: 180_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  const last = Math.max(...recs.map((x) => x.report));
  const mine = recs.filter((x) => x.report === last && x.ustack.some((f: string) => frameName(f) === 'leak_one [unwind_malloc]'));
  // one site: 1,500 blocks each of 48, 64, 80 and 96 bytes, none freed
  const said = r.stderr.split('\n').filter((l) => !l.startsWith('libbpf')).join('\n');
  assert.equal(mine.length, 1, JSON.stringify(mine) + said);
  assert.equal(mine[0].allocations, N, JSON.stringify(mine[0]) + said);
  assert.equal(mine[0].bytes, (N / 4) * (48 + 64 + 80 + 96), JSON.stringify(mine[0]));
  assertInOrder(mine[0].ustack, ['leak_one [unwind_malloc]', 'leak_bursts [unwind_malloc]', 'outer_level [unwind_malloc]', 'main [unwind_malloc]']);
  const a = accounting(r.stderr);
  assert.ok(a.dwarf_sampled >= N, JSON.stringify(a));
  assert.deepEqual(
    { ring: a.fp_ring_full, rate: a.fp_over_rate, queue: a.unwound_queue_full, kept: a.samples_not_kept, kernel: a.dropped_kernel },
    { ring: 0, rate: 0, queue: 0, kept: 0, kernel: 0 },
  );
});

after(() => assertNothingLoaded());
