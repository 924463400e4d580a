// SPDX-License-Identifier: Apache-2.0
// memleak's stacks through code built without frame pointers (issue 10.3), frame by frame
// against valgrind's memcheck (Debian package valgrind, installed by setup.sh).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { workload } from './lib/workloads';
import { jsonLines, memscope } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const NOFP = () => workload('memleak_nofp', { cflags: ['-O2', '-g', '-fomit-frame-pointer'], variant: 'O2' });

interface Lost {
  bytes: number;
  blocks: number;
  /** callers of malloc, innermost first, down to main (valgrind stops there) */
  frames: string[];
}

/** valgrind --leak-check=full: its "definitely lost" records. */
function valgrindLost(bin: string): Lost[] {
  const r = spawnSync('valgrind', ['--leak-check=full', bin], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const out: Lost[] = [];
  for (const block of r.stderr.split(/^==\d+== $/m)) {
    const m = /([\d,]+) bytes in ([\d,]+) blocks are definitely lost/.exec(block);
    if (!m) continue;
    const frames = [...block.matchAll(/^==\d+==\s+(?:at|by) 0x[0-9A-F]+: (\S+) /gm)].map((x) => x[1]);
    assert.equal(frames[0], 'malloc', block);
    out.push({ bytes: Number(m[1].replace(/,/g, '')), blocks: Number(m[2].replace(/,/g, '')), frames: frames.slice(1) });
  }
  return out;
}

const fn = (frame: string) => frame.replace(/\+0x[0-9a-f]+ \[.*\]$/, '');
const isMarker = (frame: string) => frame.startsWith('[unwind stopped:');

function memleakRecords(bin: string, args: string[]): any[] {
  const r = memscope(['memleak', '--json', ...args, '-c', bin, '60']);
  assert.equal(r.code, 0, r.stderr);
  return jsonLines(r.stdout);
}

/** The record of the same bytes and count as valgrind's (each is unique in this workload). */
function matching(recs: any[], lost: Lost): any {
  const found = recs.filter((x) => x.bytes === lost.bytes && x.allocations === lost.blocks);
  assert.equal(found.length, 1, JSON.stringify({ lost, recs }));
  return found[0];
}

test("memleak --unwind dwarf (and the default, auto) gives valgrind's frames through -O2 -fomit-frame-pointer code", () => {
  const bin = NOFP();
  const lost = valgrindLost(bin);
  assert.deepEqual(lost.map((l) => [l.bytes, l.blocks, l.frames.join(' <- ')]).sort(), [
    [500, 5, 'leaf_alloc <- mid_b <- mid_a <- main'],
    [600, 3, 'direct_leak <- main'],
  ]);
  for (const args of [['--unwind', 'dwarf'], []]) {
    const recs = memleakRecords(bin, args);
    for (const l of lost) {
      const rec = matching(recs, l);
      // frame by frame down to main, where valgrind stops (memscope goes on to _start)
      assert.deepEqual(rec.ustack.slice(0, l.frames.length).map(fn), l.frames, `${args.join(' ')}: ${JSON.stringify(rec)}`);
      assert.ok(!rec.ustack.some(isMarker), JSON.stringify(rec));
    }
  }
});

test('memleak --unwind fp never shows a made-up frame: the walk ends with a marker where a function keeps no frame pointer', () => {
  const bin = NOFP();
  const lost = valgrindLost(bin);
  const recs = memleakRecords(bin, ['--unwind', 'fp']);
  for (const l of lost) {
    const rec = matching(recs, l);
    const frames: string[] = rec.ustack;
    const marker = frames.findIndex(isMarker);
    assert.equal(marker, frames.length - 1, JSON.stringify(rec));
    // at malloc, rbp still points at main's frame: a trusting walk would show main's caller
    // right after leaf_alloc. What is shown is valgrind's stack, cut short, and why.
    assert.deepEqual(frames.slice(0, marker).map(fn), l.frames.slice(0, marker), JSON.stringify(rec));
    assert.equal(frames[marker], `[unwind stopped: no frame pointer in ${l.frames[0]}: try --unwind dwarf]`);
  }
});

test('memleak --unwind auto: a site past the rate is one row, not a DWARF row beside a cut frame-pointer row', () => {
  // one DWARF sample per second per CPU: leaf_alloc's first block is unwound with CFI, the other
  // four are walked by frame pointers and cut at leaf_alloc; they are the same site, so one row
  const recs = memleakRecords(NOFP(), ['--unwind', 'auto', '--unwind-rate', '1']);
  const leaf = recs.filter((x) => x.ustack[0]?.startsWith('leaf_alloc+'));
  assert.equal(leaf.length, 1, JSON.stringify(leaf));
  assert.equal(leaf[0].bytes, 500);
  assert.equal(leaf[0].allocations, 5);
  assert.deepEqual(leaf[0].ustack.slice(0, 4).map(fn), ['leaf_alloc', 'mid_b', 'mid_a', 'main']);
  // direct_leak's blocks have no DWARF stack to join (the budget went to leaf_alloc): they stay
  // cut, never given callers the walk did not see
  for (const x of recs.filter((r) => r.ustack[0]?.startsWith('direct_leak+') && r.ustack.some(isMarker))) {
    assert.equal(x.ustack.length, 2, JSON.stringify(x));
  }
});

after(() => assertNothingLoaded());
