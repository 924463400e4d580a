// SPDX-License-Identifier: Apache-2.0
// The agent's compaction histogram (issue 13: memscope_compaction_seconds, buckets from the BPF log2
// slots): a workload's compaction runs, traced at the same time by `memscope compaction -p` as the
// reference, are in it, and its sum (read from the kernel beside the buckets) lies within them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { workload } from './lib/workloads';
import { jsonLines, start, startMemscope } from './lib/run';
import { get, startAgent } from './lib/agent';
import { assertNothingLoaded } from './lib/bpf';

interface Histogram {
  buckets: { le: number; count: number }[]; // cumulative, as exposed
  sum: number;
  count: number;
}

async function compactionHistogram(base: string): Promise<Histogram> {
  const text = (await get(`${base}/metrics`)).body.toString();
  const buckets = [...text.matchAll(/^memscope_compaction_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((m) => ({
    le: m[1] === '+Inf' ? Infinity : Number(m[1]),
    count: Number(m[2]),
  }));
  const one = (suffix: string) => Number(new RegExp(`^memscope_compaction_seconds_${suffix} (\\S+)$`, 'm').exec(text)?.[1]);
  assert.ok(buckets.length > 1, text);
  return { buckets, sum: one('sum'), count: one('count') };
}

test("memscope_compaction_seconds: a compact_memory write's runs are counted, and the sum lies within the buckets' bounds", async () => {
  const agent = await startAgent();
  try {
    const before = await compactionHistogram(agent.base);
    const w = start(workload('vm_ops'), ['fragment', '64']);
    let reference;
    try {
      await w.waitFor('ready');
      const ms = await startMemscope(['compaction', '--json', '-p', String(w.pid)]);
      w.send('go');
      await w.waitFor('done');
      const r = await ms.exited;
      assert.equal(r.code, 0, r.stderr);
      reference = jsonLines(r.stdout).find((x) => x.summary);
    } finally {
      w.kill();
    }
    const now = await compactionHistogram(agent.base);
    const why = `reference ${JSON.stringify(reference)}; agent before ${JSON.stringify(before)}, after ${JSON.stringify(now)}`;
    assert.ok(reference.compactions > 0, why);
    // system-wide: the workload's runs, and any other (kcompactd) in the same moments
    const count = now.count - before.count;
    const sum = now.sum - before.sum;
    assert.ok(count >= reference.compactions, why);
    // the same runs timed by two programs, each reading the clock when it runs at the run's begin and
    // end tracepoints: their order, and a preemption between them (a trampoline's programs run
    // preemptible), move each run's time by microseconds (a clean-clone run: 3 runs, 34.5 us short
    // of the reference's 8,644): a missing run is the count's to catch, the sum only has to agree
    assert.ok(sum >= (reference.total_us / 1e6) * 0.99 - reference.compactions * 50e-6, why);
    // each run lies in its bucket: [previous bound, bound) seconds
    let low = 0;
    let high = 0;
    now.buckets.forEach((b, i) => {
      const n = b.count - before.buckets[i].count - (i ? now.buckets[i - 1].count - before.buckets[i - 1].count : 0);
      if (!n) return;
      low += n * (i ? now.buckets[i - 1].le : 0);
      high += n * b.le;
    });
    assert.equal(now.buckets.at(-1)!.count - before.buckets.at(-1)!.count, count, why);
    assert.ok(sum >= low - 1e-9 && sum <= high + 1e-9, `sum ${sum} outside [${low}, ${high}]; ${why}`);
  } finally {
    await agent.stop();
  }
});

after(() => assertNothingLoaded());
