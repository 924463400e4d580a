// SPDX-License-Identifier: Apache-2.0
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { jsonLines, traceGated } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

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

after(() => assertNothingLoaded());
