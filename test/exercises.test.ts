// SPDX-License-Identifier: Apache-2.0
// The chapter's exercises (7.5) as tools, each against a workload whose truth is known:
// brksize, vmgrowth, compaction, and the flame-graph diff.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { memscope, start, startMemscope, jsonLines, Result } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { pprofRaw } from './lib/agent';

async function traceVmOps(args: string[], msArgs: string[]): Promise<{ r: Result; pid: number }> {
  const w = start(workload('vm_ops'), args);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope([msArgs[0], '-p', String(w.pid), ...msArgs.slice(1)]);
    w.send('go');
    await w.waitFor('done');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    return { r, pid: w.pid };
  } finally {
    w.kill();
  }
}

for (const source of ['tracepoint', 'tp_btf']) {
test(`brksize (--source ${source}): brk() expansions of known sizes land in their log2 buckets`, async () => {
  const sizes = [...Array(3).fill(4096), ...Array(5).fill(65536), 100000, ...Array(2).fill(1 << 20)].map(String);
  const { r, pid } = await traceVmOps(['brk', ...sizes], ['brksize', '--json', '-v', '--source', source]);
  assert.match(r.stderr, new RegExp(`brk\\(\\) calls: using ${source}`));
  const recs = jsonLines(r.stdout);
  assert.equal(recs.length, 1, r.stdout);
  assert.deepEqual([recs[0].pid, recs[0].comm], [pid, 'vm_ops']);
  assert.equal(recs[0].expansions, 11);
  assert.equal(recs[0].bytes, 3 * 4096 + 5 * 65536 + 100000 + 2 * (1 << 20));
  assert.deepEqual(recs[0].hist, [
    { low: 4096, high: 8192, count: 3 },
    { low: 65536, high: 131072, count: 6 },
    { low: 1 << 20, high: 2 << 20, count: 2 },
  ]);
});
}

test('brksize -c: the text histogram, from the command\'s start', () => {
  const bin = workload('vm_ops');
  const r = memscope(['brksize', '-c', `${bin} brk 8192 8192 300000`], { input: 'go\n' });
  assert.equal(r.code, 0, r.stderr);
  const m = /@brk_bytes\[vm_ops, (\d+), -\]: 3 expansions, 316384 bytes\n\[8K, 16K\)\s+2 \|@+ *\|\n(?:.*\n)*?\[256K, 512K\)\s+1 \|@+ *\|/.exec(r.stdout);
  assert.ok(m, r.stdout);
});

for (const source of ['tracepoint', 'tp_btf']) {
test(`vmgrowth (--source ${source}): mapping and unmapping known sizes gives the exact net growth, with the stacks responsible`, async () => {
  const { r, pid } = await traceVmOps(['map'], ['vmgrowth', '--json', '-s', '-v', '--source', source]);
  assert.match(r.stderr, new RegExp(`munmap\\(\\) calls: using ${source}`));
  const recs = jsonLines(r.stdout);
  assert.equal(recs.length, 1, r.stdout);
  const p = recs[0];
  assert.deepEqual([p.pid, p.comm], [pid, 'vm_ops']);
  // 3 x 1 MiB + 2 x 256 KiB mapped, one 256 KiB map grown to 512 KiB, one 1 MiB map unmapped, brk +2 x 64 KiB
  assert.equal(p.mmap_bytes, 3 * (1 << 20) + 2 * (256 << 10) + (256 << 10));
  assert.equal(p.munmap_bytes, 1 << 20);
  assert.equal(p.brk_bytes, 128 << 10);
  assert.equal(p.net_bytes, 3 * (1 << 20) - (1 << 20) + 3 * (256 << 10) + (128 << 10));
  const fromMapSome = (list: any[]) => list.filter((s) => s.ustack.some((f: string) => /^map_some\+0x[0-9a-f]+ \[vm_ops\]$/.test(f)));
  assert.equal(fromMapSome(p.grow_stacks).reduce((s: number, x: any) => s + x.bytes, 0), p.mmap_bytes + p.brk_bytes);
  assert.equal(fromMapSome(p.shrink_stacks).reduce((s: number, x: any) => s + x.bytes, 0), p.munmap_bytes);
});
}

test('vmgrowth per interval: a table per interval, text form', async () => {
  const w = start(workload('vm_ops'), ['map']);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['vmgrowth', '-p', String(w.pid), '1']);
    w.send('go');
    await w.waitFor('done');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`\\d\\d:\\d\\d:\\d\\d\\n\\s*PID COMM\\s+CONTAINER\\s+BRK_KB MMAP_KB MUNMAP_KB NET_KB\\n\\s*${w.pid} vm_ops +- `));
    // the workload's calls may fall into one interval or straddle two (how fast it runs is the
    // machine's business): its rows add up to the same kB either way
    const rows = [...r.stdout.matchAll(new RegExp(`^\\s*${w.pid} vm_ops\\s+-\\s+(-?\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(-?\\d+)$`, 'gm'))].map((m) => m.slice(1).map(Number));
    assert.deepEqual(
      rows.reduce((a, x) => a.map((v, i) => v + x[i]), [0, 0, 0, 0]),
      [128, 3840, 1024, 2944],
      r.stdout,
    );
  } finally {
    w.kill();
  }
});

test('vmgrowth -s --pprof per interval: a function growing by brk and by mmap has the exact bytes of each kind', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-vmgrowth-pprof-'));
  const file = path.join(dir, 'growth.pb.gz');
  const w = start(workload('vm_ops'), ['map']);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['vmgrowth', '-s', '--pprof', file, '-p', String(w.pid), '1']);
    w.send('go');
    await w.waitFor('done');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    // map_some(): 3 x 1 MiB + 2 x 256 KiB mapped and a 256 KiB map grown to 512 KiB; brk +2 x 64 KiB.
    // merged across intervals per kind (ProfileStacks): each kind's bytes exact, none mislabelled
    const samples = pprofRaw(file).filter((s) => s.functions.includes('map_some'));
    const kindOf = (s: { labels: string }) => /kind:\[(\w+)\]/.exec(s.labels)?.[1];
    const bytes = (kind: string) => samples.filter((s) => kindOf(s) === kind).reduce((a, s) => a + s.values[0], 0);
    assert.equal(bytes('mmap_grow'), 3 * (1 << 20) + 3 * (256 << 10), JSON.stringify(samples));
    assert.equal(bytes('brk_grow'), 128 << 10, JSON.stringify(samples));
  } finally {
    w.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

for (const source of ['tp_btf', 'tracepoint']) {
test(`compaction (--source ${source}): events with latencies after a write to /proc/sys/vm/compact_memory, and a histogram`, async () => {
  const { r, pid } = await traceVmOps(['fragment', '64'], ['compaction', '--json', '-T', '-v', '--source', source]);
  assert.match(r.stderr, new RegExp(`compaction begin and end: using ${source}`));
  const recs = jsonLines(r.stdout);
  const events = recs.filter((x) => !x.summary);
  const summary = recs.find((x) => x.summary);
  assert.ok(events.length > 0, r.stdout);
  for (const e of events) {
    assert.deepEqual([e.pid, e.comm, e.mode], [pid, 'vm_ops', 'sync']); // a compact_memory write compacts synchronously
    assert.ok(typeof e.status === 'string' && /^[a-z_]+$/.test(e.status), e.status);
    assert.ok(e.zone_end > e.zone_start);
    assert.ok(e.lat_us >= 0);
    assert.match(e.time, /^\d{4}-\d\d-\d\dT/);
  }
  assert.equal(summary.compactions, events.length);
  assert.equal(summary.hist_us.reduce((s: number, b: any) => s + b.count, 0), events.length);
  // compact_memory runs one compaction per populated zone, zones in pfn order
  const starts = events.map((e) => Number(e.zone_start));
  assert.deepEqual([...starts].sort((a, b) => a - b), starts);
});
}

test('compaction text: per-event lines, then the histogram on exit', () => {
  const bin = workload('vm_ops');
  const r = memscope(['compaction', '-c', `${bin} fragment 16`], { input: 'go\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^PID\s+COMM\s+CONTAINER\s+ZONE_PFNS\s+MODE\s+STATUS\s+LAT\(ms\)\n/);
  assert.match(r.stdout, /\n\d+\s+vm_ops\s+-\s+0x[0-9a-f]+-0x[0-9a-f]+\s+sync\s+\w+\s+\d+\.\d{3}\n/);
  assert.match(r.stdout, /\n\d+ compactions, \d+\.\d{3} ms in total\n\n@usecs:\n\[/);
});

test('flamegraph --diff: a function only in the second profile is marked as grown, one that shrank as shrunk', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-diff-'));
  try {
    const before = path.join(dir, 'before.folded');
    const after = path.join(dir, 'after.folded');
    const svg = path.join(dir, 'diff.svg');
    fs.writeFileSync(before, 'app;main;parse 40\napp;main;render 60\n');
    fs.writeFileSync(after, 'app;main;parse 40\napp;main;render 30\napp;main;new_cache_fill 50\n');
    const r = memscope(['flamegraph', '--diff', before, after, '--svg', svg]);
    assert.equal(r.code, 0, r.stderr);
    const text = fs.readFileSync(svg, 'utf8');
    const fill = (name: string) => {
      const m = new RegExp(`<title>${name} \\(([^)]*\\))?[^<]*</title><rect [^>]*fill="rgb\\((\\d+),(\\d+),(\\d+)\\)"`).exec(text);
      assert.ok(m, `no frame ${name}`);
      return [Number(m![2]), Number(m![3]), Number(m![4])];
    };
    const [r1, g1, b1] = fill('new_cache_fill');
    assert.ok(r1 === 255 && g1 < 100 && b1 < 100, `new_cache_fill is not red: ${[r1, g1, b1]}`);
    const [r2, g2, b2] = fill('render');
    assert.ok(b2 === 255 && r2 < 255 && g2 < 255, `render is not blue: ${[r2, g2, b2]}`);
    assert.deepEqual(fill('parse'), [250, 250, 250]);
    assert.match(text, /<title>new_cache_fill \(50 samples, [\d.]+%; before 0, \+50 \(new\)\)<\/title>/);
    // a plain graph from one file; a missing file is one clear line
    const plain = memscope(['flamegraph', after]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^<\?xml/);
    const missing = memscope(['flamegraph', '--diff', before, path.join(dir, 'nope.folded')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^memscope: cannot read .*nope\.folded: ENOENT\n$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

after(() => assertNothingLoaded());
