// SPDX-License-Identifier: Apache-2.0
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLines } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { swapStorm } from './lib/swap-storm';

test("swapin: the workload's swap-ins add up to /proc/vmstat pswpin over the run", async () => {
  const storm = await swapStorm('memscope_swapin', [
    ['swapin', '--json'],
    ['swapin', '-T', '-p', 'PID'],
    ['swapin', '--json', '-v', '--source', 'tracepoint', '-p', 'PID'],
  ]);
  const [json, text, classic] = storm.results;
  assert.equal(json.code, 0, json.stderr);
  const recs = jsonLines(json.stdout);
  const mine = recs.filter((r) => r.pid === storm.pid);
  assert.ok(mine.length > 0, json.stdout);
  for (const r of mine) {
    assert.equal(r.comm, 'mem_hog');
    assert.equal(r.bytes, r.pages * 4096);
  }
  const total = mine.reduce((s, r) => s + r.pages, 0);
  // swapin ran across the whole vmstat window (attached before, stopped after), so every other
  // process's swap-in inside the window is among the others it reported: with others = 0 (a quiet
  // machine) the workload's total is exactly the growth of pswpin (+ zswpin, 0 with zswap off)
  const others = recs.filter((r) => r.pid !== storm.pid).reduce((s, r) => s + r.pages, 0);
  const grew = storm.pswpin + storm.zswpin;
  assert.ok(storm.pswpin > 0, 'nothing was swapped in');
  assert.ok(total <= grew && total >= grew - others, `workload ${total}, pswpin+zswpin grew ${grew}, others ${others}`);
  console.log(`# swapin: workload ${total} pages, pswpin +${storm.pswpin}, zswpin +${storm.zswpin}, others ${others}`);

  // -p with -T: a time line per interval, the workload's rows, and the same total
  assert.equal(text.code, 0, text.stderr);
  let textTotal = 0;
  for (const l of text.stdout.split('\n')) {
    const m = new RegExp(`^mem_hog\\s+${storm.pid}\\s+-\\s+(\\d+)\\s+(\\d+)$`).exec(l);
    if (m) {
      textTotal += Number(m[1]);
      assert.equal(Number(m[2]), Number(m[1]) * 4096);
    } else {
      assert.match(l, /^(|\d\d:\d\d:\d\d|COMM\s+PID\s+CONTAINER\s+PAGES\s+BYTES|\(no swap-ins\))$/);
    }
  }
  assert.equal(textTotal, total);

  // the classic tracepoint counts the same swap-ins as tp_btf
  assert.equal(classic.code, 0, classic.stderr);
  assert.match(classic.stderr, /memscope: swap-ins: using tracepoint memcg\/count_memcg_events \(PSWPIN\)/);
  const classicRecs = jsonLines(classic.stdout);
  assert.ok(classicRecs.every((r) => r.pid === storm.pid));
  assert.equal(classicRecs.reduce((s, r) => s + r.pages, 0), total);
});

after(() => assertNothingLoaded());
