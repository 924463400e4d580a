// SPDX-License-Identifier: Apache-2.0
// Issues 10 point 7 and 13: the agent's growth stacks (/debug/pprof/growth) are stored without
// losing colliding ones, and what is still lost is counted. call_paths makes 512 distinct user
// stacks in one process, each growing the heap by 4 KiB twice: a stack store with one stack per
// hash bucket (the kernel's build-id stack map, 4,096 buckets shared with the whole host) loses
// some of them (about 30 by the birthday bound), so the profile must show every path with its
// exact bytes. A store too small for them must show the rest as missed and count them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { start } from './lib/run';
import { get, pprofRaw, startAgent, type Agent } from './lib/agent';
import { assertNothingLoaded } from './lib/bpf';

const BITS = 9;
const PATHS = 1 << BITS;
const ROUNDS = 2;
const PAGE = 4096;

/** The path a sample's stack went down (L/R per level, innermost first), or null for a stack not
 * through leaf(). functions: leaf first, as pprofRaw gives them. */
function pathOf(functions: string[]): string | null {
  if (functions[0] !== 'leaf') return null;
  return functions
    .filter((f) => f === 'left' || f === 'right')
    .map((f) => f[0].toUpperCase())
    .join('');
}

/** Runs call_paths to its end under the agent and reads, through `go tool pprof -raw`, every
 * growth stack the agent kept for it (`?pid=P`: counted since first seen, the process gone). */
async function growthOfCallPaths(agent: Agent, tmp: string): Promise<{ byPath: Map<string, number>; missed: number; samples: ReturnType<typeof pprofRaw> }> {
  const wl = start(workload('call_paths'), ['brk', String(BITS), String(ROUNDS)]);
  try {
    await wl.waitFor('ready');
    wl.send('go');
    await wl.waitFor('done');
    await wl.exited;
  } finally {
    wl.kill();
  }
  const prof = await get(`${agent.base}/debug/pprof/growth?pid=${wl.pid}`);
  assert.equal(prof.status, 200, prof.body.toString());
  const file = path.join(tmp, 'growth.pb.gz');
  fs.writeFileSync(file, prof.body);
  const samples = pprofRaw(file);
  const byPath = new Map<string, number>();
  let missed = 0;
  for (const s of samples) {
    // the loader's mmap growth is in the profile too: only brk is call_paths' work
    if (!/kind:\[brk\]/.test(s.labels)) continue;
    if (s.functions.some((f) => f.startsWith('[missed'))) {
      missed += s.values[0];
      continue;
    }
    const p = pathOf(s.functions);
    if (p !== null) byPath.set(p, (byPath.get(p) ?? 0) + s.values[0]);
  }
  return { byPath, missed, samples };
}

/** memscope_stacks_lost_total of a source, by reason. */
async function stacksLost(agent: Agent, source: string): Promise<{ full: number; collided: number }> {
  const text = (await get(`${agent.base}/metrics`)).body.toString();
  const v = (reason: string) => {
    const m = new RegExp(`^memscope_stacks_lost_total\\{source="${source}",reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
    assert.ok(m, `no memscope_stacks_lost_total for ${source} ${reason}:\n${text}`);
    return Number(m[1]);
  };
  return { full: v('full'), collided: v('collided') };
}

/** An agent whose stores keep every stack of one process (512 paths and the loader's) and that
 * collects only when asked: no collection between the workload's calls frees stacks in between. */
async function agentWith(tmp: string, extra: Record<string, number> = {}): Promise<Agent> {
  const cfg = path.join(tmp, 'agent.json');
  fs.writeFileSync(cfg, JSON.stringify({ maxStacksPerProcess: 4 * PATHS, collectInterval: 60, ...extra }));
  return startAgent(['--config', cfg]);
}

test(`agent: /debug/pprof/growth shows each of ${PATHS} distinct stacks of one process with its exact bytes, none missed`, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-agent-growth-'));
  const agent = await agentWith(tmp);
  try {
    const { byPath, missed, samples } = await growthOfCallPaths(agent, tmp);
    const show = JSON.stringify(samples.filter((s) => s.functions.some((f) => f.startsWith('[missed')) || s.functions[0] === 'leaf').slice(0, 20));
    assert.equal(missed, 0, `${missed} bytes under a missed stack: ${show}`);
    const wrong = [...byPath].filter(([p, n]) => p.length !== BITS || n !== ROUNDS * PAGE);
    assert.deepEqual(wrong, [], show);
    assert.equal(byPath.size, PATHS, `${byPath.size} of ${PATHS} paths seen: ${show}`);
  } finally {
    await agent.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('agent: with growthStackStorage 64, the stacks that did not fit are shown missed and counted in memscope_stacks_lost_total; those kept have all their bytes', async (t) => {
  const STORAGE = 64;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-agent-growth-'));
  const agent = await agentWith(tmp, { growthStackStorage: STORAGE });
  try {
    const before = await stacksLost(agent, 'vmgrowth');
    const { byPath, missed, samples } = await growthOfCallPaths(agent, tmp);
    const after = await stacksLost(agent, 'vmgrowth');
    const show = JSON.stringify(samples.filter((s) => s.functions.some((f) => f.startsWith('[missed'))));
    // a path stored at its first call is found at its second: a stack kept has all its bytes
    assert.deepEqual([...byPath].filter(([, n]) => n !== ROUNDS * PAGE), [], show);
    // 64 ids for the host's stacks and 512 paths, none of them freed during the run (no collection
    // frees a stack whose count grew): at least 448 paths found the store full, both their calls
    const missedCalls = missed / PAGE;
    assert.ok(missedCalls >= (PATHS - STORAGE) * ROUNDS, `${missedCalls} brk calls missed: ${show}`);
    assert.ok(samples.some((s) => s.functions[0] === '[missed'), show);
    // each counted by the kernel as not stored (other processes' growth may add to the count)
    const lost = after.full + after.collided - before.full - before.collided;
    assert.ok(lost >= missedCalls, `memscope_stacks_lost_total{source="vmgrowth"} grew by ${lost}, ${missedCalls} calls shown missed`);
    assert.ok(after.full - before.full >= (PATHS - STORAGE) * ROUNDS, JSON.stringify({ before, after }));
    t.diagnostic(`${byPath.size} paths kept, ${missedCalls} brk calls missed, memscope_stacks_lost_total{source="vmgrowth"} +${lost}`);
  } finally {
    await agent.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

after(() => assertNothingLoaded());
