// SPDX-License-Identifier: Apache-2.0
// A reader that goes away (`memscope list | head -1`) ends memscope quietly, as coreutils end: no
// stack trace, no "internal error", status 141 (what a shell shows for a SIGPIPE death), every BPF
// object detached. A stdout closed from the start (`>&-`) is one line and a non-zero exit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MEMSCOPE, Result, start } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { ROOT, workload } from './lib/workloads';

/** Runs memscope with the read end of its stdout closed (after `afterLines` lines, as head -N does). */
function withClosedReader(args: string[], afterLines = 0, timeoutMs = 60_000): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(MEMSCOPE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const close = () => child.stdout.destroy();
    if (afterLines === 0) close();
    else {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        if (stdout.split('\n').length > afterLines) close();
      });
    }
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(kill);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function assertQuiet(r: Result, what: string): void {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal}; stderr: ${r.stderr}`);
  assert.equal(r.code, 141, `${what}: exit ${r.code}; stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /EPIPE|internal error|Unhandled|Error:|    at /, `${what}: ${r.stderr}`);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-pipes-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const folded = path.join(tmp, 'a.folded');
fs.writeFileSync(folded, 'main;f;g 5\nmain;h 3\n');

// views without BPF: the reader is gone before the first write, or, for interval views that write
// again later, after head -N's lines (a one-shot view whose whole output fits in the pipe before
// the reader leaves rightly ends with 0, as coreutils do)
const VIEWS: [string[], number][] = [
  [['list'], 0],
  [['vmstat', '0.1'], 3],
  [['paging', '0.1'], 1],
  [['pmc', '0.1'], 1],
  [['ps'], 0],
  [['ps', '--json'], 0],
  [['pmap', String(process.pid)], 0],
  [['pmap', '--json', String(process.pid)], 0],
  [['free'], 0],
  [['swap'], 0],
  [['oomlog', '-f', path.join(ROOT, 'test', 'fixtures', 'oom-6.18-dmesg.txt')], 0],
  [['flamegraph', folded], 0],
];

for (const [args, lines] of VIEWS) {
  test(`closed pipe: memscope ${args.join(' ')} | head -${lines} stops quietly`, async () => {
    assertQuiet(await withClosedReader(args, lines), args.join(' '));
  });
}

// tracing tools: the report (or header) meets a closed pipe; the trace must end, detached
const TRACERS: string[][] = [
  ['faults', '1'],
  ['faults', '--json', '1'],
  ['ffaults', '0.3'],
  ['hfaults', '0.3'],
  ['vmgrowth', '0.3'],
  ['mmapsnoop', '30'],
  ['brkstack', '1'],
  ['brksize', '1'],
  ['drsnoop', '30'],
  ['shmsnoop', '30'],
  ['compaction', '30'],
  ['swapthrash', '1'],
  ['swapin', '0.3'],
  ['vmscan', '0.3'],
  ['oomkill', '1'],
  ['count', '-d', '1', 'software:cpu-clock'],
  ['stackcount', '-D', '1', 'software:cpu-clock'],
  ['profile', '1'],
  ['trace', '--json', '-d', '30', 'software:cpu-clock:1000000'],
];

for (const args of TRACERS) {
  test(`closed pipe: memscope ${args.join(' ')} ends its trace quietly`, async () => {
    assertQuiet(await withClosedReader(args), args.join(' '));
  });
}

test('closed pipe: memleak -p ends quietly', async () => {
  const w = start(workload('hostile'), [tmp]);
  try {
    await w.waitFor('ready');
    assertQuiet(await withClosedReader(['memleak', '-p', String(w.pid), '0.3']), 'memleak');
  } finally {
    w.kill();
  }
});

test('closed pipe: triage ends quietly', async () => {
  assertQuiet(await withClosedReader(['triage', '-d', '2']), 'triage');
});

test('stdout closed (>&-): one line and a non-zero exit; >/dev/null still works', () => {
  for (const args of [['ps'], ['list'], ['faults', '1']]) {
    const r = spawnSync('bash', ['-c', `exec "$0" "$@" >&-`, MEMSCOPE, ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, 'memscope: standard output is closed, so the output would be lost (redirect it to /dev/null to discard it)\n');
  }
  const ok = spawnSync('bash', ['-c', `exec "$0" ps >/dev/null`, MEMSCOPE], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(ok.status, 0, ok.stderr);
});

test('stdout on a /dev/null opened read-write by the parent (Node stdio ignore, 1<>/dev/null) is not closed', () => {
  // the /dev/null Node opens for a closed fd 1 is read-write too: only bin/memscope can tell them apart
  const ignored = spawnSync(MEMSCOPE, ['ps'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 30_000 });
  assert.equal(ignored.status, 0, ignored.stderr);
  assert.equal(ignored.stderr, '');
  const rw = spawnSync('bash', ['-c', `exec "$0" list 1<>/dev/null`, MEMSCOPE], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(rw.status, 0, rw.stderr);
  assert.equal(rw.stderr, '');
  // and nothing of the wrapper's reaches memscope's children: a -c workload sees no MEMSCOPE_FD1
  const env = spawnSync(MEMSCOPE, ['trace', '--command', 'sh -c "echo fd1=$MEMSCOPE_FD1 >&2"', 't:syscalls:sys_enter_nanosleep'], { encoding: 'utf8', timeout: 30_000 });
  assert.match(env.stderr, /fd1=\n/, env.stderr);
});

after(() => assertNothingLoaded());
