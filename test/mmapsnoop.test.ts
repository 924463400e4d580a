// SPDX-License-Identifier: Apache-2.0
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { jsonLines, start, startMemscope, traceGated, Running } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { MMAP_EVENT } from '../src/tools/mmapsnoop';
import { PATH_LOST, PATH_NOTE } from '../src/tools/mmapsnoop/paths';

function dataFile(): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-mmap-'));
  const file = path.join(dir, 'mmapsnoop-test.dat');
  fs.writeFileSync(file, Buffer.alloc(64 * 1024, 7));
  return { dir, file };
}

test('mmapsnoop prints exactly the mappings a workload makes, with -p filtering', async () => {
  const { dir, file } = dataFile();
  try {
    const { result: r, target } = await traceGated(workload('mmap_file'), [file], (pid) => ['mmapsnoop', '-p', String(pid)], { bystander: [file] });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0], /^PID\s+COMM\s+CONTAINER\s+PROT MAP\s+OFFS\(KB\) SIZE\(KB\) FILE$/);
    const rows = lines.slice(1).filter(Boolean).map((l) => l.split(/\s+/));
    const [fileAddr, anonAddr] = /file=(0x[0-9a-f]+) anon=(0x[0-9a-f]+)/.exec(target.stdout)!.slice(1);
    // the file by its full path (walked in the kernel), then the two munmap() calls
    assert.deepEqual(rows, [
      [String(target.pid), 'mmap_file', '-', 'R--', 'S---', '8', '16', fs.realpathSync(file)],
      [String(target.pid), 'mmap_file', '-', 'RW-', '-P-A', '0', '12', '[anon]'],
      [String(target.pid), 'mmap_file', '-', '---', 'unmap', '-', '16', fileAddr],
      [String(target.pid), 'mmap_file', '-', '---', 'unmap', '-', '12', anonAddr],
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('mmapsnoop --json carries the returned address; -U the stack; -T a time', async () => {
  const { dir, file } = dataFile();
  try {
    const { result: r, target } = await traceGated(workload('mmap_file'), [file], (pid) => ['mmapsnoop', '--json', '-U', '-p', String(pid)]);
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    const printed = /file=(0x[0-9a-f]+) anon=(0x[0-9a-f]+)/.exec(target.stdout)!;
    assert.equal(recs.length, 4, r.stdout);
    assert.deepEqual(
      recs.slice(2).map((x) => [x.call, x.addr, x.size, x.ret]),
      [
        ['munmap', printed[1], 16384, 0],
        ['munmap', printed[2], 12288, 0],
      ],
    );
    assert.equal(recs[0].addr, printed[1]);
    assert.equal(recs[1].addr, printed[2]);
    assert.equal(recs[0].size, 16384);
    assert.equal(recs[0].offset, 8192);
    assert.equal(recs[0].file, fs.realpathSync(file));
    // mmap is entered through libc (no frame pointers): the stack reaches at least the libc wrapper
    assert.ok(recs[0].ustack.length >= 1, JSON.stringify(recs[0]));
    assert.match(recs[0].ustack[0], /mmap/);
    assert.ok(!Number.isNaN(Date.parse(recs[0].time)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// A full ring, made exactly: memscope is held stopped (SIGSTOP) while the workload fills its events
// ring (1 MiB, bpf/mmapsnoop.bpf.c) to a chosen level with records of known sizes. A reservation
// fails once the ring would hold its size or more (kernel/bpf/ringbuf.c: new_prod_pos - cons_pos > mask).
const RING = 1 << 20;
const slot = (size: number) => Math.ceil((size + 8) / 8) * 8; // an 8-byte header, rounded to 8
const NOTE = slot(PATH_NOTE.size), REC = slot(MMAP_EVENT.size), PAIR = NOTE + REC;

/** n file mmap()s (none unless files) and j anonymous ones that fill the ring to a level in
 * [lo, hi), nearest its middle. */
function fill(lo: number, hi: number, files = true): [number, number] {
  let best: [number, number] | undefined;
  const mid = (lo + hi) / 2;
  const most = files ? Math.floor(hi / PAIR) : 0;
  for (let n = most; n >= Math.max(0, most - 2 * REC); n--) {
    for (let j = Math.max(0, Math.ceil((lo - n * PAIR) / REC)); n * PAIR + j * REC < hi; j++) {
      const u = n * PAIR + j * REC;
      if (!best || Math.abs(u - mid) < Math.abs(best[0] * PAIR + best[1] * REC - mid)) best = [n, j];
    }
  }
  return best!;
}

/** Stops memscope and waits until every one of its threads is stopped: until then one may still
 * be taking records off the ring (a group stop reaches the other threads through the first). */
async function stop(ms: Running): Promise<void> {
  ms.child.kill('SIGSTOP');
  const dir = `/proc/${ms.pid}/task`;
  const state = (t: string) => fs.readFileSync(`${dir}/${t}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
  for (let waited = 0; !fs.readdirSync(dir).every((t) => state(t) === 'T'); waited += 10) {
    if (waited > 120_000) throw new Error('memscope did not stop');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const rowsOf = (ms: Running) => ms.stdout.split('\n').slice(1).filter(Boolean);

async function rowsAtLeast(ms: Running, n: number): Promise<void> {
  for (let waited = 0; rowsOf(ms).length < n; waited += 20) {
    if (waited > 120_000) throw new Error(`${rowsOf(ms).length} rows of ${n}: ${ms.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("mmapsnoop on a full ring: a record whose path note was lost shows [path lost] and its own name, never the path of a call whose record was lost", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-mmap-'));
  const [file, first, second] = ['filler.dat', 'first.dat', 'second.dat'].map((n) => path.join(dir, n));
  for (const f of [file, first, second]) fs.writeFileSync(f, Buffer.alloc(4096, 1));
  // step 2: FIRST's note fits, its record does not; step 3 (the ring emptied in between), with
  // anonymous mappings only, which send no note: SECOND's note does not fit, its record does
  const [n1, j1] = fill(RING - PAIR, RING - NOTE);
  const [, j2] = fill(RING - NOTE, RING - REC, false);
  const w = start(workload('mmap_ring'), [file, first, second, String(n1), String(j1), String(j2)]);
  let ms: Running | undefined;
  try {
    await w.waitFor('ready');
    ms = await startMemscope(['mmapsnoop', '-p', String(w.pid)]);
    w.send('1');
    await rowsAtLeast(ms, 1); // the marker: the ring is empty now
    await stop(ms);
    w.send('2');
    await w.waitFor('step2');
    ms.child.kill('SIGCONT');
    await rowsAtLeast(ms, 1 + n1 + j1);
    await stop(ms);
    w.send('3');
    await w.waitFor('step3');
    ms.child.kill('SIGCONT');
    await rowsAtLeast(ms, 1 + n1 + j1 + j2 + 1);
    w.send('4');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    const files = rowsOf(ms).map((l) => l.split(/\s+/).slice(7).join(' '));
    const real = fs.realpathSync(file);
    const filler = (n: number, j: number) => [...Array<string>(n).fill(real), ...Array<string>(j).fill('[anon]')];
    // FIRST's record lost, SECOND's path note lost: SECOND's row says so, and is not FIRST's path
    assert.deepEqual(files, ['[anon]', ...filler(n1, j1), ...filler(0, j2), `${PATH_LOST} second.dat`]);
    assert.match(r.stderr, /memscope: 2 events were dropped/);
    assert.match(r.stderr, new RegExp(`${n1 + j1 + j2 + 2} mmap\\(\\) and 0 munmap\\(\\) calls traced, 1 shown with \\[path lost\\]`));
  } finally {
    w.kill();
    if (ms) {
      ms.child.kill('SIGCONT');
      ms.kill();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

after(() => assertNothingLoaded());
