// SPDX-License-Identifier: Apache-2.0
// Durations and intervals of any length: Node's timers hold at most 2^31-1 ms (24.8 days) and turn
// a longer delay into 1 ms, so `faults 2200000` ended at once and `ffaults 2200000` reported every
// millisecond. Now they trace until Ctrl-C (or their time), and absurd numbers are refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { memscope, startMemscope } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { ROOT } from './lib/workloads';
import * as timers from '../src/engine/timers';

const LONG = '2200000'; // 25.5 days, past Node's timer limit

/** Still running after waiting a while (the old code ended ~1 ms after attaching). */
async function stillRunning(r: { child: { exitCode: number | null; signalCode: string | null } }, ms = 1500): Promise<void> {
  await new Promise((res) => setTimeout(res, ms));
  assert.equal(r.child.exitCode, null, 'ended by itself');
  assert.equal(r.child.signalCode, null);
}

test(`faults ${LONG} traces until Ctrl-C, then reports`, async () => {
  const ms = await startMemscope(['faults', LONG]);
  try {
    await stillRunning(ms);
  } catch (e) {
    ms.kill(); // a runaway must not outlive a failed assertion
    throw e;
  }
  const r = await ms.interrupt();
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /TimeoutOverflowWarning/);
  assert.match(r.stderr, new RegExp(`for ${LONG} s\\.\\.\\. Hit Ctrl-C`));
  assert.match(r.stdout, /^ {4}\d+$/m, 'a stack report with counts');
});

test(`ffaults ${LONG} and vmgrowth ${LONG} print one report (at Ctrl-C), not one per millisecond`, async () => {
  for (const tool of ['ffaults', 'vmgrowth']) {
    const ms = await startMemscope([tool, LONG]);
    try {
      await stillRunning(ms);
      assert.equal(ms.stdout, '', `${tool} reported before its interval`);
    } catch (e) {
      ms.kill();
      throw e;
    }
    const r = await ms.interrupt();
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /TimeoutOverflowWarning/);
    assert.equal([...r.stdout.matchAll(/^\d\d:\d\d:\d\d$/gm)].length, 1, r.stdout);
  }
});

test(`vmstat ${LONG} prints the since-boot line and waits`, async () => {
  const { start } = await import('./lib/run');
  const v = start(path.join(ROOT, 'bin', 'memscope'), ['vmstat', LONG]);
  await v.waitFor(/\n\s*\d+\s+\d+\s+\d+/); // the first (since boot) line
  try {
    await stillRunning(v);
  } catch (e) {
    v.kill();
    throw e;
  }
  const lines = v.stdout.trim().split('\n').length;
  const r = await v.interrupt();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(lines, 3, r.stdout); // two header lines, one row
  assert.doesNotMatch(r.stderr, /TimeoutOverflowWarning/);
});

test('numbers too large to be milliseconds are refused with one line', () => {
  for (const args of [
    ['faults', '9'.repeat(40)],
    ['ffaults', '1', '9'.repeat(40)],
    ['vmstat', '9'.repeat(20)],
  ]) {
    const r = memscope(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^memscope: \w+: .*(at most \d+|positive whole number)/);
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
  }
});

test('setLongTimeout and setLongInterval: a delay past the limit does not fire early; short ones fire in order', async () => {
  let fired = 0;
  const long = timers.setLongTimeout(() => fired++, timers.MAX_TIMER_MS * 3);
  const longEvery = timers.setLongInterval(() => fired++, timers.MAX_TIMER_MS + 1);
  const ticks: number[] = [];
  await new Promise<void>((resolve) => {
    const every = timers.setLongInterval(() => {
      ticks.push(ticks.length);
      if (ticks.length === 3) {
        every.clear();
        resolve();
      }
    }, 20);
  });
  await new Promise((res) => setTimeout(res, 100));
  long.clear();
  longEvery.clear();
  assert.equal(fired, 0);
  assert.deepEqual(ticks, [0, 1, 2]);
});

after(() => assertNothingLoaded());
