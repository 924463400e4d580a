// SPDX-License-Identifier: Apache-2.0
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { start, startMemscope, jsonLines, traceGated } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const PAGES = 3000;
// faults in touch_pages beyond one per page: none are expected; a few allow for a page-table
// or stack page touched from the same frame
const ALLOWANCE = 8;

test('faults -p attributes one fault per touched page to touch_pages, and nothing of another process', async () => {
  const { result: r, target } = await traceGated(workload('fault_touch'), [String(PAGES)], (pid) => ['faults', '--json', '-p', String(pid)], {
    bystander: ['500'],
  });
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  assert.ok(recs.every((x) => x.pid === target.pid), 'another process leaked through -p');
  const inTouch = recs.filter((x) => x.ustack.length && x.ustack[0].startsWith('touch_pages+'));
  const total = inTouch.reduce((s, x) => s + x.count, 0);
  assert.ok(total >= PAGES && total <= PAGES + ALLOWANCE, `touch_pages faults: ${total}`);
  assert.match(inTouch[0].ustack[1], /^main\+0x[0-9a-f]+ \[fault_touch\]$/);
  assert.equal(inTouch[0].comm, 'fault_touch');
});

test('faults --svg and --folded: a page-fault flame graph that names the function', async () => {
  const bin = workload('fault_touch');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-faults-'));
  const svg = path.join(dir, 'faults.svg');
  const target = start(bin, ['1200']);
  try {
    await target.waitFor('ready');
    const ms = await startMemscope(['faults', '--folded', '--svg', svg, '-p', String(target.pid)]);
    target.send('go');
    await target.waitFor('done');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const line = r.stdout.split('\n').find((l) => /^fault_touch;.*;main;touch_pages \d+$/.test(l));
    assert.ok(line, r.stdout);
    const count = Number(line!.split(' ').pop());
    assert.ok(count >= 1200 && count <= 1200 + ALLOWANCE, line);
    const doc = fs.readFileSync(svg, 'utf8');
    assert.match(doc, /^<\?xml/);
    assert.match(doc, /<title>touch_pages \([\d,]+ page faults, [\d.]+%\)<\/title>/);
    assert.match(doc, /<script/);
  } finally {
    target.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('faults --kernel adds kernel stacks for faults taken inside the kernel', async () => {
  // read() into fresh pages: the kernel faults on the user buffer inside copy_to_user
  const r = await (async () => {
    const ms = await startMemscope(['faults', '--json', '--kernel', '-c', `dd if=/dev/zero of=/dev/null bs=4M count=4`]);
    return ms.exited;
  })();
  assert.equal(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  const kern = recs.filter((x) => x.comm === 'dd' && x.kstack && x.kstack.length > 0);
  assert.ok(kern.length > 0, r.stdout);
  assert.ok(kern.some((x) => x.kstack.some((f: string) => /read|copy|clear_user|iov/.test(f))), JSON.stringify(kern[0]));
});

for (const source of ['tracepoint exceptions', 'perf software event']) {
  test(`faults through the ${source} source counts the same faults`, async () => {
    const { result: r } = await traceGated(workload('fault_touch'), ['800'], (pid) => ['faults', '--json', '-v', '--source', source, '-p', String(pid)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`user page faults: using ${source}`));
    const total = jsonLines(r.stdout)
      .filter((x) => x.ustack.length && x.ustack[0].startsWith('touch_pages+'))
      .reduce((s, x) => s + x.count, 0);
    assert.ok(total >= 800 && total <= 800 + ALLOWANCE, `touch_pages faults: ${total}`);
  });
}

after(() => assertNothingLoaded());
