// SPDX-License-Identifier: Apache-2.0
// The agent's heap profile at the sampler's cost (issue 17): GET /debug/pprof/heap?pid=P&seconds=N
// &sample_bytes=B loads memleak's in-process sampler into the running process (memleak -p
// --sample-bytes) instead of putting a uprobe on every malloc and free. The workload
// (memleak_inject) checks every byte it allocates and says how many bytes keep_block kept.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload, ROOT } from './lib/workloads';
import { start } from './lib/run';
import { get, pprofRaw, startAgent } from './lib/agent';
import { attachState, runsOnUnharmed, samplerErrorBound, slotTargets } from './lib/inject';
import { assertNothingLoaded } from './lib/bpf';

const W = 'memleak_inject';
const N = 16384; // sample_bytes
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

execFileSync('make', ['-s', '-C', path.join(ROOT, 'shim')], { stdio: 'inherit' });

test('agent: /debug/pprof/heap?sample_bytes= loads the sampler into the running process; keep_block has its kept bytes within the sampler error; the process runs on unharmed, its slots glibc again', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-agent-heap-'));
  const w = start(workload(W));
  const agent = await startAgent();
  try {
    await w.waitFor('running');
    await sleep(300); // both threads in their malloc/free loops

    let answered = false;
    const req = get(`${agent.base}/debug/pprof/heap?pid=${w.pid}&seconds=15&sample_bytes=${N}`).then((r) => ((answered = true), r));
    await agent.run.waitFor(new RegExp(`"event":"heap_profile_attached","pid":${w.pid},"seconds":15,"sample_bytes":${N}`), 60_000);
    // the sampler, not uprobes: the program's allocator slots lead to it while the profile runs
    assert.deepEqual(slotTargets(w.pid, W), new Set(['sampler']));
    assert.ok(attachState(w.pid) >= 0, 'the sampler is not attached');
    w.send('mark'); // keep_block keeps 1 MiB from now on
    await w.waitFor(/kept \d+ \d+/, 60_000);
    const [, kept, count] = /kept (\d+) (\d+)/.exec(w.stdout)!.map(Number);
    assert.ok(!answered, 'the heap profile window ended before keep_block was done: its bytes would be partial');

    const heap = await req;
    assert.equal(heap.status, 200, heap.body.toString());
    const file = path.join(tmp, 'heap.pb.gz');
    fs.writeFileSync(file, heap.body);
    // alloc_objects alloc_space inuse_objects inuse_space
    const hs = pprofRaw(file);
    const mine = hs.filter((s) => s.functions[0] === 'keep_block');
    assert.ok(mine.length >= 1 && mine.every((s) => s.functions[1] === 'main'), JSON.stringify(hs.slice(0, 5)));
    const inuse = mine.reduce((n, s) => n + s.values[3], 0);
    assert.ok(Math.abs(inuse - kept) <= samplerErrorBound(N, kept), `inuse_space ${inuse} for ${kept} bytes in ${count} blocks`);
    // go tool pprof names it the top of inuse_space
    const top = execFileSync('go', ['tool', 'pprof', '-top', '-sample_index=inuse_space', file], { encoding: 'utf8', env: { ...process.env, HOME: tmp } });
    assert.match(top.split('\n').find((l) => /^\s+[\d.]+[kKMG]?B /.test(l)) ?? '', /keep_block$/, top);

    // after the request: the slots are glibc's again, no tracer, the program runs on unharmed
    assert.deepEqual(slotTargets(w.pid, W), new Set(['libc']));
    assert.equal(Number(/^TracerPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${w.pid}/status`, 'utf8'))![1]), 0);
    await runsOnUnharmed(w);
    // bad input: one 400 line, nothing loaded into the process
    const bad = await get(`${agent.base}/debug/pprof/heap?pid=${w.pid}&seconds=1&sample_bytes=0`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.toString(), /sample_bytes: expected an integer from 1 to 1073741824/);
  } finally {
    w.kill();
    await agent.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('agent: a heap profile short of samples (the sampler unable to keep its records) says so in the agent log, not only in a profile that looks whole', async () => {
  // every record of the process's sampler fails (the shim's test hook), as when it is out of memory
  const w = start(workload(W), [], { MEMSCOPE_TEST_SAMPLER_NO_RECORD: '1' });
  const agent = await startAgent();
  try {
    await w.waitFor('running');
    const heap = await get(`${agent.base}/debug/pprof/heap?pid=${w.pid}&seconds=3&sample_bytes=${N}`);
    assert.equal(heap.status, 200, heap.body.toString());
    await agent.run.waitFor(new RegExp(`"event":"heap_profile_warning","pid":${w.pid},"message":"the process's sampler could not keep a record of some sampled blocks`), 60_000);
    await runsOnUnharmed(w);
  } finally {
    w.kill();
    await agent.stop();
  }
});

after(() => assertNothingLoaded());
