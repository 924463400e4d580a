// memleak attached to programs that are already running: a busy allocator (issue 10.1).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { workload } from './lib/workloads';
import { start, startMemscope, jsonLines } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const BUSY = 'memleak_busy';
const frame = (fn: string) => new RegExp(`^${fn}\\+0x[0-9a-f]+ \\[${BUSY}\\]$`);

test('memleak -p on an allocator that is already busy: what is kept after attach is reported exactly', async () => {
  const w = start(workload(BUSY));
  try {
    await w.waitFor('running');
    // the loop is in malloc and free all the time: probes attach while calls are in flight
    await new Promise((res) => setTimeout(res, 200));
    const ms = await startMemscope(['memleak', '--json', '-p', String(w.pid), '600']);
    w.send('mark'); // the blocks kept before are freed: only those kept from now on stay
    await w.waitFor('marked');
    await new Promise((res) => setTimeout(res, 300));
    w.send('stop');
    await w.waitFor(/kept \d+ \d+/);
    const [, bytes, count] = /kept (\d+) (\d+)/.exec(w.stdout)!.map(Number);
    assert.ok(count > 0);
    const r = await ms.interrupt();
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout).filter((x) => x.ustack.length && frame('keep_block').test(x.ustack[0]));
    assert.equal(recs.length, 1, r.stdout);
    assert.deepEqual([recs[0].bytes, recs[0].allocations], [bytes, count], r.stdout);
    assert.match(recs[0].ustack[1], frame('main'));
  } finally {
    w.kill();
  }
});

after(() => assertNothingLoaded());
