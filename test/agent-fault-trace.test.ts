// SPDX-License-Identifier: Apache-2.0
// A fault trace of one process (GET /debug/pprof/faults?pid=P&seconds=N, and the dashboard's
// "trace faults") stays exact while a fork storm fills the agent's shared count map. The agent is
// given a shared map of 256 (process, stack) pairs and a 60-s collection interval, so a storm of a
// few hundred exec'd processes fills it for certain, whatever the machine's speed; the test checks
// that it did (the agent counts the faults it dropped) before the workload faults.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { start } from './lib/run';
import { MemoryCgroup } from './lib/scenario';
import { workload } from './lib/workloads';
import { assertNothingLoaded } from './lib/bpf';
import { get, pprofRaw, startAgent, until } from './lib/agent';

const PAGES = 3000;
const ALLOWANCE = 8; // as faults.test.ts

const lostFaults = async (base: string): Promise<number> => {
  const m = /^memscope_events_lost_total\{source="faults"\} (\d+)$/m.exec((await get(`${base}/metrics`)).body.toString());
  return m ? Number(m[1]) : 0;
};

test("a fault trace of one process keeps its exact count while a fork storm fills the agent's shared fault map", async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-fault-trace-'));
  const config = path.join(tmp, 'agent.json');
  fs.writeFileSync(config, JSON.stringify({ maxFaultStacks: 256, collectInterval: 60 }));
  const cg = new MemoryCgroup('memscope_fault_trace_storm', 512 << 20);
  const agent = await startAgent(['--config', config]);
  const wl = start(workload('fault_touch'), [String(PAGES)]);
  let storm: ReturnType<typeof start> | null = null;
  try {
    // the storm's processes fault in new stacks each: 300 of them fill 256 pairs
    const first = start(cg.wrap([workload('fork_storm'), '300'])[0], cg.wrap([workload('fork_storm'), '300']).slice(1));
    await first.waitFor(/done 0/, 300_000);
    await wl.waitFor('ready');
    // the profile ends when the workload exits
    const prof = get(`${agent.base}/debug/pprof/faults?pid=${wl.pid}&seconds=120`).catch((e: Error) => e);
    await agent.run.waitFor(new RegExp(`"event":"fault_trace_started","pid":${wl.pid}`), 60_000);
    // a storm that goes on while the workload faults: whatever a collection freed, it fills again
    const lostBefore = await lostFaults(agent.base);
    storm = start(cg.wrap([workload('fork_storm'), '100000'])[0], cg.wrap([workload('fork_storm'), '100000']).slice(1));
    await until('the storm to drop faults in the full shared map', async () => (await lostFaults(agent.base)) > lostBefore, 120_000);
    wl.send('go');
    await wl.waitFor('done');
    const r = await prof;
    if (r instanceof Error) throw new Error(`${r.message}\nagent: ${agent.run.stdout.slice(-3000)}\n${agent.run.stderr.slice(-3000)}`);
    assert.equal(r.status, 200, r.body.toString());
    const file = path.join(tmp, 'faults.pb.gz');
    fs.writeFileSync(file, r.body);
    const samples = pprofRaw(file);
    const touched = samples.filter((s) => s.functions[0] === 'touch_pages').reduce((n, s) => n + s.values[0], 0);
    const lost = await lostFaults(agent.base);
    assert.ok(
      touched >= PAGES && touched <= PAGES + ALLOWANCE,
      `touch_pages faults: ${touched} (the shared map dropped ${lost - lostBefore} meanwhile)\n${JSON.stringify(samples.filter((s) => s.values[0] > 5))}`,
    );
    // every sample is the traced process's
    for (const s of samples) assert.match(s.labels, new RegExp(`pid:\\[${wl.pid}\\]`));
  } finally {
    storm?.kill();
    wl.kill();
    await agent.stop();
    cg.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

after(() => assertNothingLoaded());
