// SPDX-License-Identifier: Apache-2.0
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { jsonLines } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { swapStorm, STORM_LIMIT_MIB, STORM_TOUCH_MIB } from './lib/swap-storm';

test('drsnoop -p: the memcg reclaims of a workload pushing four times its memcg limit, with latency and pages', async () => {
  const storm = await swapStorm('memscope_drsnoop', [
    ['drsnoop', '--json', '-p', 'PID'],
    ['drsnoop', '-T'],
    ['drsnoop', '--json', '--source', 'tracepoint', '-p', 'PID'],
    // BCC's options: -t TID, -u UID, -e free memory, -U a UID column, -n NAME, -d duration
    ['drsnoop', '--json', '-e', '-u', '0', '-t', 'PID', '-p', 'PID'],
    ['drsnoop', '-U', '-e', '-n', 'mem_h'],
    ['drsnoop', '--json', '-n', 'nosuchname'],
    ['drsnoop', '--json', '-u', '4242'],
    ['drsnoop', '-d', '0.5'],
  ]);
  const [json, text, classic, bccJson, bccText, noName, noUid, shortRun] = storm.results;
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
  const h = lines.findIndex((l) => /^TIME\(s\)\s+COMM\s+PID\s+CONTAINER\s+LAT\(ms\)\s+PAGES\s+KIND$/.test(l));
  assert.ok(h >= 0, text.stdout);
  const mine = lines.filter((l) => new RegExp(`^\\d+\\.\\d{9}\\s+mem_hog\\s+${storm.pid}\\s+-\\s+\\d+\\.\\d\\d\\s+\\d+\\s+memcg$`).test(l));
  assert.ok(mine.length > 0, text.stdout.slice(0, 2000));

  // the classic tracepoints see the same reclaims as tp_btf
  assert.equal(classic.code, 0, classic.stderr);
  const classicEvents = jsonLines(classic.stdout);
  assert.equal(classicEvents.length, events.length);
  assert.equal(classicEvents.reduce((s, e) => s + e.pages, 0), pages);
  assert.ok(classicEvents.every((e) => e.pid === storm.pid && e.kind === 'memcg' && e.lat_ms > 0));

  // -t (the workload is single-threaded: its TID is its PID), -u 0 (root runs it): the same reclaims;
  // -e: the system's free memory when each ended, between 0 and all of it
  assert.equal(bccJson.code, 0, bccJson.stderr);
  const bcc = jsonLines(bccJson.stdout);
  assert.equal(bcc.length, events.length, bccJson.stdout.slice(0, 2000));
  const memTotalKb = Number(/MemTotal:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))![1]);
  for (const e of bcc) {
    assert.deepEqual([e.tid, e.uid], [storm.pid, 0]);
    assert.ok(e.free_kb > 0 && e.free_kb < memTotalKb, JSON.stringify(e));
  }
  // -n: only names containing it; -U and -e add UID and FREE(KB) columns
  assert.equal(bccText.code, 0, bccText.stderr);
  const tl = bccText.stdout.split('\n').filter(Boolean);
  assert.match(tl[0], /^COMM\s+UID\s+PID\s+CONTAINER\s+LAT\(ms\)\s+PAGES\s+FREE\(KB\)\s+KIND$/);
  assert.ok(tl.length > 1, bccText.stdout);
  // -n is system-wide: another process named mem_hog (another test's, run at the same time) may
  // reclaim too; every line is one such, and the workload's own lines are there
  for (const l of tl.slice(1)) assert.match(l, /^mem_hog\s+\d+\s+\d+\s+\S+\s+\d+\.\d\d\s+\d+\s+\d+\s+\w+$/);
  const ours = new RegExp(`^mem_hog\\s+0\\s+${storm.pid}\\s+-\\s+\\d+\\.\\d\\d\\s+\\d+\\s+\\d+\\s+memcg$`);
  assert.ok(tl.some((l) => ours.test(l)), bccText.stdout.slice(0, 2000));
  assert.equal(jsonLines(noName.stdout).length, 0, noName.stdout);
  assert.equal(jsonLines(noUid.stdout).length, 0, noUid.stdout);
  // -d: the run said it would stop after the duration (and so it did, before the storm ended)
  assert.equal(shortRun.code, 0, shortRun.stderr);
  assert.match(shortRun.stderr, /for 0\.5 s\.\.\. Hit Ctrl-C/);
});

after(() => assertNothingLoaded());
