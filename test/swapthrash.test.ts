// SPDX-License-Identifier: Apache-2.0
// swapthrash against real swapping: a working set larger than its memory cgroup's limit, touched
// in a loop, comes back from swap again and again; touched once, it never comes back. Zero pages
// (kernel 6.12+: never written to the device, SWPIN_ZERO when they come back) and pages only read
// after their swap-in (dropped clean by reclaim, no new write) are followed too.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { workload } from './lib/workloads';
import { memscope, jsonLines } from './lib/run';
import { MemoryCgroup, Swapfile, ThpSize, ZramSwap } from './lib/scenario';
import { assertNothingLoaded } from './lib/bpf';

const SET_MB = 64;
const LIMIT_MB = 32;
// a swap-in whose folio reaches the LRU in a per-CPU batch drained by another task is charged to
// that task (up to 15 folios a batch), and a BPF program does not run for an event nested in
// itself on its CPU (an interrupt's: bpftool's recursion_misses), on either side of the count: the
// rest must all be matched (runs here: 32,785 and 32,801 matched of 32,796 and 32,792)
const SLACK = 64;
const pagesOver = ((SET_MB - LIMIT_MB) << 20) / 4096;
let swap: Swapfile;
const MEMORY_BLOCKS = '/sys/devices/system/memory';
let offlineBefore = new Set<string>();

let movableBefore = new Set<string>();

/** The memory blocks whose FILE (state, valid_zones) reads VALUE now: the migration test's
 * workload takes some offline and back online, and moves free ones to ZONE_MOVABLE and back. */
function blocksWhere(file: string, value: string): Set<string> {
  const out = new Set<string>();
  for (const b of fs.existsSync(MEMORY_BLOCKS) ? fs.readdirSync(MEMORY_BLOCKS) : []) {
    if (!/^memory\d+$/.test(b)) continue;
    try {
      if (fs.readFileSync(`${MEMORY_BLOCKS}/${b}/${file}`, 'utf8').trim() === value) out.add(b);
    } catch {
      /* no such file */
    }
  }
  return out;
}

const offlineBlocks = () => blocksWhere('state', 'offline');

before(() => {
  offlineBefore = offlineBlocks();
  movableBefore = blocksWhere('valid_zones', 'Movable');
  swap = new Swapfile(256, `/var/tmp/memscope_swapthrash-${process.pid}.swap`);
});

function run(passes: number, extra: string[] = [], argv = [workload('thrash'), String(SET_MB), String(passes)]) {
  const cg = new MemoryCgroup('memscope_swapthrash', LIMIT_MB << 20, { swappiness: 100 });
  try {
    const cmd = cg.wrap(argv).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
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
  assert.ok(p.swapped_in >= 2 * pagesOver, `${p.swapped_in} swap-ins for ${pagesOver} pages over the limit`);
  // every swap-in matched to its swap-out is one the kernel counted (readahead included)
  const kernel = kernelSwapIns(p);
  assert.ok(p.swapped_in <= kernel + SLACK, `${p.swapped_in} matched > ${kernel} kernel swap-ins`);
  assert.ok(p.swapped_in >= 0.95 * kernel, `only ${p.swapped_in} of ${kernel} kernel swap-ins matched`);
  assert.equal(p.hist_us.reduce((s: number, b: any) => s + b.count, 0), p.swapped_in);
  assert.ok(p.avg_out_us > 0);
  assert.ok(recs.find((x) => x.summary).swap_outs_seen >= p.swapped_in);
});

/** The kernel's swap-ins of the process, every kind it counts (null: a kind this kernel lacks). */
function kernelSwapIns(p: any): number {
  return p.pswpin + (p.swpin_zero ?? 0) + (p.zswpin ?? 0);
}

/** The one traced process of a swapread run, and its swap-ins the kernel counted (huge: its set
 * MADV_HUGEPAGE, so large folios if an mTHP size is on; 2: only while it is written, so they come
 * back page by page). */
function swapread(zeroPct: number, passes: number, compact = false, huge: 0 | 1 | 2 = 0) {
  const r = run(passes, ['--json'], [workload('swapread'), String(SET_MB), String(zeroPct), String(passes), compact ? '1' : '0', String(huge)]);
  const recs = jsonLines(r.stdout);
  const procs = recs.filter((x) => !x.summary);
  assert.equal(procs.length, 1, r.stdout);
  assert.equal(procs[0].comm, 'swapread');
  assert.equal(procs[0].hist_us.reduce((s: number, b: any) => s + b.count, 0), procs[0].swapped_in);
  // the workload's own count of the swap-cache pages of its set moved, per block taken offline or compaction
  const moved = [...r.stdout.matchAll(/^moved (\d+) of (\d+) \((.+)\)$/gm)].map((m) => ({ moved: Number(m[1]), of: Number(m[2]), how: m[3] }));
  return { p: procs[0], kernel: kernelSwapIns(procs[0]), summary: recs.find((x) => x.summary), moved };
}

test('the set migrated between read passes by its own process: each swap-cache page moved is followed to its copy, not counted as a swap-in', (t) => {
  // six passes of a set only read (its swapped-in pages stay in the swap cache); between two passes
  // the workload itself migrates pages of its set and counts the swap-cache pages of its set that
  // changed frame (pagemap): the copies reach the LRU in its own batches, so each one the tool took
  // for a swap-in would be charged to it. So that it always has pages to move, the workload first
  // moves two wholly free memory blocks to ZONE_MOVABLE (swap-ins are taken from there first), then
  // takes the one holding most of the set's swap-cache pages offline and back (every page of a
  // movable block moves), then compacts. Before that, on a quiet machine the set's pages were all
  // in one Normal block with a kernel page in it (offline refused) and compaction moved 69-104.
  // The code before 3b3afdc counted each move as a swap-in: 81,961 + 1 not seen of 81,920 kernel
  // swap-ins with 42 moved, 82,187 + 9 with 285.
  const migratedBefore = vmstat('pgmigrate_success');
  const { p, kernel, summary, moved } = swapread(0, 6, true);
  const migrated = vmstat('pgmigrate_success') - migratedBefore;
  const made = moved.reduce((n, m) => n + m.moved, 0);
  const seen = p.swapped_in + p.out_not_seen;
  const how = `${p.swapped_in} matched + ${p.out_not_seen} not seen, of ${kernel} kernel swap-ins; moved ${moved.map((m) => `${m.moved} of ${m.of} (${m.how})`).join(', ')}; ${summary.swapcache_moves} moves followed, ${migrated} pages migrated in all`;
  t.diagnostic(how);
  assert.ok(kernel >= 5 * pagesOver, `${kernel} kernel swap-ins: the scenario did not swap`);
  // under twice the slack the old code's false swap-ins (one a move) would pass as well. The moves
  // need a wholly free Normal memory block (made movable) or a block of the set's pages with no
  // kernel page in it: a host up for a while, its unmovable pages spread over every Normal block (a
  // clean-clone loop's second run here: 0 of 168 Normal blocks free after drop_caches and a
  // compaction, 16-600 pages of each in use, not on the LRU), offers neither. Then the test says so
  // in the suite's count of skips; the matching checks below still run on what did move.
  if (made < 2 * SLACK) t.skip(`the kernel moved only ${made} swap-cache pages of the set: too few to tell a move from a swap-in (${how})`);
  assert.ok(Math.abs(seen - kernel) <= SLACK, how);
  // every move made is followed. The tool follows every process's swap-cache folios: other
  // processes' are in the block taken offline too (a DAMON pageout scheme on this machine sends
  // pages to the test's swap: 500-8,100 more followed than the set's), and any task's migration of
  // them counts (kcompactd, another test's compaction): bounded only by the machine's migrations
  // during the run (one run: 15,965 followed, 13,133 swap-cache pages in the block, 7,902 the set's)
  assert.ok(summary.swapcache_moves >= made && summary.swapcache_moves <= migrated, how);
});

/** A counter of /proc/vmstat. */
function vmstat(name: string): number {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(fs.readFileSync('/proc/vmstat', 'utf8'));
  assert.ok(m, `no ${name} in /proc/vmstat`);
  return Number(m![1]);
}

test('zero pages swapped out and read back: each one is matched, and counted by the kernel as SWPIN_ZERO, not PSWPIN', (t) => {
  const { p, kernel } = swapread(100, 2);
  if (p.swpin_zero === null) return t.skip('no SWPIN_ZERO: before 6.12 a zero page is written and read like any other');
  // the old cross-check (PSWPIN only) saw ~0 swap-ins here for ~8,000 matched
  assert.ok(p.swpin_zero >= pagesOver / 2, `${p.swpin_zero} SWPIN_ZERO: the zero pages did not come back from swap`);
  assert.ok(p.swapped_in >= pagesOver / 2, `${p.swapped_in} swap-ins matched`);
  assert.ok(p.swapped_in <= kernel + SLACK, `${p.swapped_in} matched > ${kernel} kernel swap-ins (${p.pswpin} PSWPIN + ${p.swpin_zero} SWPIN_ZERO)`);
  assert.ok(p.swapped_in >= kernel - SLACK, `only ${p.swapped_in} of ${kernel} kernel swap-ins matched`);
});

test('a working set only read after its swap-ins: each pass brings it back, each time with its time out since reclaim dropped it', () => {
  const { p, kernel } = swapread(0, 3);
  // passes 2 and 3 each read the whole set back (pass 1 wrote it, so half went out), but the set is
  // written to swap only once: a page's second swap-in follows a clean drop, not a write (the old
  // code matched only the first: ~16,400 of ~32,800)
  assert.ok(kernel >= 2 * pagesOver, `${kernel} kernel swap-ins: the scenario did not swap`);
  // every swap-in is seen, matched or said to have no swap-out; a drop (a page freed) whose program
  // run was missed leaves its page's next swap-in "not seen": 146 of 33,107 in one run at load 17
  const seen = p.swapped_in + p.out_not_seen;
  assert.ok(Math.abs(seen - kernel) <= SLACK, `${p.swapped_in} matched + ${p.out_not_seen} not seen, of ${kernel} kernel swap-ins`);
  assert.ok(p.swapped_in >= 0.99 * kernel, `only ${p.swapped_in} of ${kernel} kernel swap-ins matched (${p.out_not_seen} with no swap-out seen)`);
  assert.ok(p.avg_out_us > 0);
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
  assert.match(r.stderr, /the kernel's swap-ins \(PSWPIN, SWPIN_ZERO, ZSWPIN\): using tracepoint memcg\/count_memcg_events/);
  assert.match(r.stdout, /\n@swap_out_usecs\[thrash, (\d+), -\]: \d+ pages back from swap, average [\d.]+ ms out\n\[/);
  const row = /\n\s*PID COMM\s+CONTAINER\s+SWAPPED_IN OUT_NOT_SEEN PSWPIN SWPIN_ZERO ZSWPIN AVG_OUT_ms\n\s*\d+ thrash\s+-\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+|-)\s+(\d+|-)\s+[\d.]+\n/.exec(r.stdout);
  assert.ok(row, r.stdout);
  const kernel = [row![3], row![4], row![5]].reduce((n, x) => n + (x === '-' ? 0 : Number(x)), 0);
  // matched against the kernel's count within the slack of the JSON checks above: one CI run
  // matched 16,390 against PSWPIN 16,389
  assert.ok(kernel > 0 && Number(row![1]) <= kernel + SLACK, r.stdout);
});

// the large-folio case's settings, also undone by after() if it fails half-way
let zram: ZramSwap | undefined;
let thp: ThpSize[] = [];
function undoLargeFolioSettings(): void {
  for (const s of thp.reverse()) s.dispose();
  thp = [];
  zram?.dispose();
  zram = undefined;
}

/** A 64 MiB MADV_HUGEPAGE set (huge 2: until it is written) of 64 kB folios (2 MB THP off for MADV_HUGEPAGE areas: it is
 * "inherit" of a global "madvise" here) written once and read twice in its 32 MiB cgroup, on zram
 * (above the swapfile) or on the swapfile alone; the kernel's 64 kB folio stats over the run. */
function largeFolioRun(onZram: boolean, huge: 1 | 2 = 1) {
  if (onZram) zram = new ZramSwap(256);
  thp = [new ThpSize(2048, 'never'), new ThpSize(64, 'madvise')];
  const size = thp[1];
  try {
    const names = ['swpin', 'swpin_fallback', 'swpout', 'swpout_fallback', 'split', 'split_failed', 'split_deferred'];
    const before = names.map((n) => size.stat(n) ?? 0);
    const { p, kernel, summary } = swapread(0, 3, false, huge);
    const d = Object.fromEntries(names.map((n, i) => [n, (size.stat(n) ?? 0) - before[i]]));
    const how = `${p.swapped_in} matched + ${p.out_not_seen} not seen, of ${kernel} kernel swap-ins (PSWPIN ${p.pswpin}); ${summary.swap_outs_seen} swap-outs seen; 64 kB folios: ${JSON.stringify(d)}`;
    assert.ok(kernel >= 2 * pagesOver, `${kernel} kernel swap-ins: the scenario did not swap (${how})`);
    return { p, kernel, summary, d, how };
  } finally {
    undoLargeFolioSettings();
  }
}

/** Every swap-in counted in pages, as PSWPIN counts them (a folio counted once, or a page matched
 * under its folio's first entry only, would leave up to 15 of 16 pages out). */
function assertPagesMatched(r: ReturnType<typeof largeFolioRun>): void {
  assert.ok(Math.abs(r.p.swapped_in + r.p.out_not_seen - r.kernel) <= SLACK, r.how);
  assert.ok(r.p.swapped_in >= 0.99 * r.kernel, r.how);
  assert.ok(r.p.avg_out_us > 0, r.how);
}

const NO_64K = (): string | null => (fs.existsSync(`${ThpSize.ROOT}/hugepages-64kB`) ? null : 'no 64 kB mTHP size (kernel before 6.8, or not 4 kB pages)');

test('large folios on zram: 64 kB mTHP swapped out and back in whole, past the swap cache: every page counted', (t) => {
  const why = ZramSwap.available() ?? NO_64K();
  if (why) return t.skip(why);
  // zram is SWP_SYNCHRONOUS_IO: do_swap_page reads an entry used once past the swap cache, a whole
  // mTHP back as one folio of 16 pages (on this kernel: 2,048 of them, PSWPIN 32,768; the tool
  // before this case saw none: 0 matched, 0 not seen)
  const r = largeFolioRun(true);
  t.diagnostic(r.how);
  if (!r.d.swpin) return t.skip(`no 64 kB folio was swapped in whole: this kernel reads swap back in single pages (${r.how})`);
  assert.ok(16 * r.d.swpin <= r.kernel + SLACK && 16 * r.d.swpin >= pagesOver, r.how);
  assertPagesMatched(r);
  // past the swap cache an entry is freed at its swap-in: every time out starts at a write, in pages
  assert.ok(r.summary.swap_outs_seen >= r.p.swapped_in, r.how);
});

test('large folios on zram, back in page by page: each page of a 64 kB folio swapped out whole is matched under its own entry', (t) => {
  const why = ZramSwap.available() ?? NO_64K();
  if (why) return t.skip(why);
  // the set is MADV_NOHUGEPAGE once written: its faults read the pages of each folio that went out
  // whole one at a time, entry by entry (the code that stamped only a folio's first entry matched
  // 1 page of 16 here)
  const r = largeFolioRun(true, 2);
  t.diagnostic(r.how);
  if (!r.d.swpout) return t.skip(`no 64 kB folio was swapped out whole (${r.how})`);
  assert.ok(16 * r.d.swpout >= pagesOver && r.d.swpin === 0, r.how);
  assertPagesMatched(r);
});

test('large folios on a swapfile: 64 kB mTHP split by reclaim (or written whole), back in page by page through the swap cache: every page matched', (t) => {
  const why = NO_64K();
  if (why) return t.skip(why);
  // a swapfile here gives reclaim no contiguous 64 kB of entries: each folio is split before its
  // write (swpout_fallback, split: 1,024 of 1,024 folios in one run) and its pages go out and
  // come back one by one through the swap cache; where a folio is written whole instead (swpout),
  // each page must find its own entry's swap-out. Either way every page is matched.
  const r = largeFolioRun(false);
  t.diagnostic(r.how);
  if (!r.d.swpout && !r.d.split) return t.skip(`no 64 kB folio of the set was swapped out or split: it was not made of 64 kB folios (${r.how})`);
  assert.ok(16 * (r.d.swpout + r.d.split) >= pagesOver, r.how);
  assertPagesMatched(r);
});

/** Offlines a block of ZONE_MOVABLE (its pages move out) and onlines it in the kernel's zone: null,
 * or why it stays movable (a page another task holds for a moment fails an offline: 5 tries). */
async function backToKernelZone(b: string): Promise<string | null> {
  for (let tries = 1; ; tries++) {
    try {
      fs.writeFileSync(`${MEMORY_BLOCKS}/${b}/state`, 'offline');
      break;
    } catch (e) {
      if (tries === 5) return `${b}: ${(e as Error).message}`;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  fs.writeFileSync(`${MEMORY_BLOCKS}/${b}/state`, 'online_kernel');
  return null;
}

after(async () => {
  // a workload killed between taking a block offline and back online must not leave it offline,
  // nor a block it moved to ZONE_MOVABLE there (if that cannot be undone, it stays online, movable)
  for (const b of offlineBlocks()) if (!offlineBefore.has(b)) fs.writeFileSync(`${MEMORY_BLOCKS}/${b}/state`, 'online');
  const left: string[] = [];
  for (const b of blocksWhere('valid_zones', 'Movable')) {
    const why = movableBefore.has(b) ? null : await backToKernelZone(b);
    if (why) left.push(why);
  }
  undoLargeFolioSettings();
  swap?.dispose();
  await assertNothingLoaded();
  assert.deepEqual(left, [], 'memory blocks left in ZONE_MOVABLE (online)');
});
