// SPDX-License-Identifier: Apache-2.0
// memleak -p PID --sample-bytes 1: the injected sampler with every byte a sample point reports
// every allocation at its own size (issue 16): the known outstanding allocations of a running
// workload exactly (bytes, counts, frames), not marked as estimates, and the same report as the
// uprobe mode's on the same workload.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { workload, ROOT } from './lib/workloads';
import { start, startMemscope, jsonLines } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const W = 'memleak_exact';
const at = (fn: string) => new RegExp(`^${fn}\\+0x[0-9a-f]+ \\[${W}\\]$`);

execFileSync('make', ['-s', '-C', path.join(ROOT, 'shim')], { stdio: 'inherit' });

interface Row {
  bytes: number;
  allocations: number;
  estimated: boolean;
  ustack: string[];
}

/** memleak_exact attached with these options before its allocations: the last report's rows, and memscope's stderr. */
async function run(args: string[], env?: NodeJS.ProcessEnv): Promise<{ rows: Row[]; stderr: string; text: string }> {
  const w = start(workload(W), [], env);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['memleak', '--json', '-o', '0', '-T', '1000', '-p', String(w.pid), ...args, '600']);
    w.send('go');
    await w.waitFor(/done \d+/);
    assert.match(w.stdout, /done 883\b/); // 500 + 50 + 20 + 10 + 3 + 300 blocks kept
    const r = await ms.interrupt(120_000); // a loaded machine can take long over the last report
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    const last = Math.max(...recs.map((x) => x.report));
    return { rows: recs.filter((x) => x.report === last), stderr: r.stderr, text: r.stdout };
  } finally {
    w.kill();
  }
}

/** Rows by their whole user stack: bytes and allocations. */
function byStack(rows: Row[]): Map<string, string> {
  return new Map(rows.map((x) => [x.ustack.join(' <- '), `${x.bytes} B in ${x.allocations}`]));
}

// [function, caller, bytes, allocations]: what memleak_exact keeps after "go" (its header)
const KEPT: [string, string, number, number][] = [
  ['keep_small', 'main', 500 * 24, 500],
  ['keep_calloc', 'main', 50 * 1000, 50],
  ['keep_realloc', 'main', 20 * 5000, 20],
  ['keep_aligned', 'main', 10 * 4096, 10],
  ['keep_large', 'main', 3 << 20, 3],
  ['keep_thread', 'worker', 300 * 77, 300],
];

function assertKnown(rows: Row[], what: string): void {
  const text = rows.map((x) => `${x.bytes} ${x.allocations} ${x.ustack.join(' <- ')}`).join('\n');
  for (const [fn, caller, bytes, count] of KEPT) {
    const mine = rows.filter((x) => at(fn).test(x.ustack[0] ?? ''));
    assert.equal(mine.length, 1, `${what}: one row for ${fn}\n${text}`);
    assert.match(mine[0].ustack[1] ?? '', at(caller), `${what}: ${fn} called from ${caller}\n${text}`);
    assert.equal(mine[0].bytes, bytes, `${what}: ${fn}'s bytes\n${text}`);
    assert.equal(mine[0].allocations, count, `${what}: ${fn}'s allocations\n${text}`);
  }
  // churn freed every block it allocated (the last ones still waiting in the sampler's list)
  assert.equal(rows.filter((x) => x.ustack.some((f) => at('churn').test(f))).length, 0, `${what}: churn kept nothing\n${text}`);
}

test('memleak -p --sample-bytes 1: every allocation exactly, not an estimate, and the same report as the uprobes', async () => {
  const exact = await run(['--sample-bytes', '1']);
  assert.match(exact.stderr, /sampler loaded into PID \d+/);
  assert.match(exact.stderr, /^Tracing outstanding allocations of PID \d+ \(every allocation, through the in-process sampler; memory allocated/m);
  assert.doesNotMatch(exact.stderr, /estimate/);
  assert.ok(exact.rows.length > 0 && exact.rows.every((x) => x.estimated === false), exact.text);
  assertKnown(exact.rows, '--sample-bytes 1');

  // the uprobe mode on the same workload (--no-mmap: the sampler wraps the malloc family only)
  const uprobes = await run(['--no-mmap', '--unwind', 'fp']);
  assertKnown(uprobes.rows, 'uprobes');
  assert.deepEqual(byStack(exact.rows), byStack(uprobes.rows));
});

after(() => assertNothingLoaded());

test('memleak -p --sample-bytes 1, the sampler unable to keep its records (its malloc failing, as out of memory): the report says its totals are low, never a silent gap', async () => {
  // every record the sampler makes fails (a test hook of the shim's): no block can be matched to
  // its free, so none is kept, and each one is counted; the old sampler dropped them unsaid
  const r = await run(['--sample-bytes', '1'], { MEMSCOPE_TEST_SAMPLER_NO_RECORD: '1' });
  assert.match(r.stderr, /^memscope: memleak: the process's sampler could not keep a record of some sampled blocks \(its malloc failed: the process is out of memory\?\): they are not in the report \(totals are low\); continuing$/m);
  for (const [fn] of KEPT) assert.equal(r.rows.filter((x) => at(fn).test(x.ustack[0] ?? '')).length, 0, `${fn} kept no record`);
  // every other record failing: the blocks kept are fewer than the workload's, and said so
  const half = await run(['--sample-bytes', '1'], { MEMSCOPE_TEST_SAMPLER_NO_RECORD: '2' });
  assert.match(half.stderr, /sampler could not keep a record of some sampled blocks/);
  const kept = half.rows.filter((x) => KEPT.some(([fn]) => at(fn).test(x.ustack[0] ?? ''))).reduce((n, x) => n + x.allocations, 0);
  assert.ok(kept > 0 && kept < 883, `${kept} of 883 kept blocks reported`);
});
