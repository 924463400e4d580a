// SPDX-License-Identifier: Apache-2.0
// A BPF object loads while signals arrive: the verifier gives up with EAGAIN when a signal is
// pending, and libbpf tries five times, so a profiler's SIGPROF every millisecond (`node --cpu-prof`)
// made whole tools fail to load ("cannot load BPF object: Resource temporarily unavailable").
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, workload } from './lib/workloads';
import { start, jsonLines } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const PAGES = 2000;

test('faults --unwind dwarf loads under a profiler sending SIGPROF every millisecond, and counts every page', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-cpuprof-'));
  const target = start(workload('fault_touch'), [String(PAGES)]);
  try {
    await target.waitFor('ready');
    // bin/memscope.js run by node directly: --cpu-prof is refused in NODE_OPTIONS
    const args = ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=1000', path.join(ROOT, 'bin', 'memscope.js')];
    const ms = start(process.execPath, [...args, 'faults', '--unwind', 'dwarf', '--json', '-p', String(target.pid)]);
    await Promise.race([ms.waitFor('Hit Ctrl-C'), ms.exited]);
    target.send('go');
    await target.waitFor('done');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const total = jsonLines(r.stdout)
      .filter((x) => x.ustack[0]?.startsWith('touch_pages+'))
      .reduce((s, x) => s + x.count, 0);
    // one fault a page (a few more allowed: a page-table or stack page touched from the same frame)
    assert.ok(total >= PAGES && total <= PAGES + 8, `touch_pages faults: ${total}\n${r.stderr}`);
    // the profiler did run through the load: it wrote its profile
    assert.ok(fs.readdirSync(dir).some((f) => f.endsWith('.cpuprofile')), 'no CPU profile written');
  } finally {
    target.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

after(() => assertNothingLoaded());
