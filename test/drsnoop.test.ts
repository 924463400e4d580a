import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLines } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { swapStorm, STORM_LIMIT_MIB, STORM_TOUCH_MIB } from './lib/swap-storm';

test('drsnoop -p: the memcg reclaims of a workload pushing four times its memcg limit, with latency and pages', async () => {
  const storm = await swapStorm('memscope_drsnoop', [
    ['drsnoop', '--json', '-p', 'PID'],
    ['drsnoop', '-T'],
    ['drsnoop', '--json', '--source', 'tracepoint', '-p', 'PID'],
  ]);
  const [json, text, classic] = storm.results;
  assert.equal(json.code, 0, json.stderr);
  const events = jsonLines(json.stdout);
  assert.ok(events.length > 0, 'no reclaim events');
  // -p: only the workload; a cgroup-v1 limit is reported as memcg reclaim, never as direct reclaim
  for (const e of events) {
    assert.equal(e.pid, storm.pid);
    assert.equal(e.comm, 'mem_hog');
    assert.equal(e.kind, 'memcg');
    assert.ok(e.lat_ms > 0, JSON.stringify(e));
  }
  // the first pass alone has to push (touched - limit) MiB out of the memcg, and only the workload
  // reclaims in it: its reclaims freed at least that many pages (the second pass frees as many again)
  const pages = events.reduce((s, e) => s + e.pages, 0);
  const mustLeave = ((STORM_TOUCH_MIB - STORM_LIMIT_MIB) << 20) / 4096;
  assert.ok(pages >= mustLeave, `reclaimed ${pages} pages, expected at least ${mustLeave}`);
  assert.ok(storm.pswpout >= mustLeave, `pswpout grew by ${storm.pswpout}`);

  // text: the header, then lines for the workload with TIME(s) COMM PID LAT(ms) PAGES KIND
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.split('\n');
  const h = lines.findIndex((l) => /^TIME\(s\)\s+COMM\s+PID\s+LAT\(ms\)\s+PAGES\s+KIND$/.test(l));
  assert.ok(h >= 0, text.stdout);
  const mine = lines.filter((l) => new RegExp(`^\\d+\\.\\d{9}\\s+mem_hog\\s+${storm.pid}\\s+\\d+\\.\\d\\d\\s+\\d+\\s+memcg$`).test(l));
  assert.ok(mine.length > 0, text.stdout.slice(0, 2000));

  // the classic tracepoints see the same reclaims as tp_btf
  assert.equal(classic.code, 0, classic.stderr);
  const classicEvents = jsonLines(classic.stdout);
  assert.equal(classicEvents.length, events.length);
  assert.equal(classicEvents.reduce((s, e) => s + e.pages, 0), pages);
  assert.ok(classicEvents.every((e) => e.pid === storm.pid && e.kind === 'memcg' && e.lat_ms > 0));
});

after(() => assertNothingLoaded());
