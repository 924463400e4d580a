// SPDX-License-Identifier: Apache-2.0
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { jsonLines, memscope, startMemscope } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { swapStorm } from './lib/swap-storm';

test('vmscan: memcg reclaim time shows in M-RECLAIMms while a workload pushes its memcg into swap', async () => {
  const storm = await swapStorm('memscope_vmscan', [['vmscan', '--json'], ['vmscan', '3600'], ['vmscan', '--json', '--source', 'tracepoint']]);
  const [json, text, classic] = storm.results;
  assert.equal(json.code, 0, json.stderr);
  const recs = jsonLines(json.stdout);
  // However fast the machine, the storm lies inside the traced time (attached before it, Ctrl-C
  // after it): the rows, including the rest of the last interval printed at Ctrl-C, cover it all,
  // whether it spanned many intervals or ended inside the first.
  const rows = recs.filter((r) => r.time !== undefined);
  const sum = (k: string) => rows.reduce((s, r) => s + r[k], 0);
  assert.ok(sum('m_reclaim_ms') > 0 && sum('m_reclaim_events') > 0, json.stdout);
  // pages written to swap by that reclaim
  assert.ok(sum('writepage') > 0, json.stdout);
  for (const r of rows) assert.ok(r.seconds > 0, JSON.stringify(r));
  // the histogram of memcg reclaim times counts exactly the memcg reclaims of the rows
  const hist = recs.find((r) => r.histogram === 'memcg_reclaim_ns');
  assert.ok(hist, json.stdout);
  assert.equal(
    hist.buckets.reduce((s: number, b: any) => s + b.count, 0),
    sum('m_reclaim_events'),
  );
  for (const b of hist.buckets) assert.equal(b.max, b.min === 0 ? 1 : b.min * 2);

  // the text run's one interval (an hour) never ends: the storm is all in the row Ctrl-C prints,
  // as it is for a 1-second interval on a machine fast enough to finish the storm inside it
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split('\n');
  assert.match(lines[0], /^TIME {9}S-SLABms  D-RECLAIMms  M-RECLAIMms KSWAPD WRITEPAGE$/);
  const data = lines.filter((l) => /^\d\d:\d\d:\d\d /.test(l));
  assert.equal(data.length, 1, text.stdout);
  assert.ok(Number(data[0].split(/\s+/)[3]) > 0 && Number(data[0].split(/\s+/)[5]) > 0, text.stdout);
  assert.ok(lines.includes('@memcg_reclaim_ns:'), text.stdout);

  // through the classic tracepoints too
  assert.equal(classic.code, 0, classic.stderr);
  const crows = jsonLines(classic.stdout).filter((r) => r.time !== undefined);
  assert.ok(crows.reduce((s, r) => s + r.m_reclaim_ms, 0) > 0 && crows.reduce((s, r) => s + r.writepage, 0) > 0, classic.stdout);
});

test('vmscan --by-shrinker: dropping slab caches shows shrinker functions named from kallsyms', async () => {
  const ms = await startMemscope(['vmscan', '--by-shrinker', '--json']);
  fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
  const r = await ms.interrupt();
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  const shrinkers = recs.filter((x) => x.shrinker !== undefined);
  assert.ok(shrinkers.length > 0, r.stdout);
  // address → names there
  const kallsyms = new Map<string, string[]>();
  for (const line of fs.readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [addr, , name] = line.split(/\s+/);
    if (name) kallsyms.set(addr, [...(kallsyms.get(addr) ?? []), name]);
  }
  for (const s of shrinkers) {
    const name = s.shrinker.split(' ')[0];
    // the address recorded in BPF is the start of the function kallsyms names
    assert.ok(kallsyms.get(s.addr.replace(/^0x/, '').padStart(16, '0'))?.includes(name), JSON.stringify(s));
    assert.ok(s.calls > 0 && s.ms > 0, JSON.stringify(s));
  }
  // every superblock has a shrinker; drop_caches=2 runs them all
  assert.ok(shrinkers.some((s) => s.shrinker === 'super_cache_scan'), r.stdout);
  // shrink_slab calls by shrinker add up to the shrink_slab histogram
  const hist = recs.find((x) => x.histogram === 'shrink_slab_ns');
  assert.ok(hist, r.stdout);
  assert.equal(
    shrinkers.reduce((s, x) => s + x.calls, 0),
    hist.buckets.reduce((s: number, b: any) => s + b.count, 0),
  );
});

test('vmscan: the header repeats every 20 lines; COUNT lines, then it exits', () => {
  const r = memscope(['vmscan', '0.05', '45']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean);
  const headers = lines.map((l, i) => (l.startsWith('TIME ') ? i : -1)).filter((i) => i >= 0);
  assert.deepEqual(headers, [0, 21, 42]);
  assert.equal(lines.filter((l) => /^\d\d:\d\d:\d\d +\d+ +\d+ +\d+ +\d+ +\d+$/.test(l)).length, 45);
});

after(() => assertNothingLoaded());
