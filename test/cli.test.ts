// SPDX-License-Identifier: Apache-2.0
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { memscope, MEMSCOPE } from './lib/run';
import { spawnSync } from 'node:child_process';
import { ROOT } from './lib/workloads';

test('memscope --help lists the tools', () => {
  const r = memscope(['--help']);
  assert.equal(r.code, 0);
  for (const t of ['brkstack', 'faults', 'mmapsnoop', 'shmsnoop']) assert.match(r.stdout, new RegExp(`\\n  ${t} +\\S`));
});

test('every tool explains itself with examples', () => {
  const tools = fs
    .readdirSync(path.join(ROOT, 'dist', 'src', 'tools'))
    .filter((f) => f.endsWith('.js') && f !== 'tool.js' && f !== 'options.js' && !f.startsWith('_'));
  assert.ok(tools.length > 0);
  for (const f of tools) {
    const r = memscope([f.slice(0, -3), '--help']);
    assert.equal(r.code, 0, f);
    assert.match(r.stdout, /Usage: memscope /);
    assert.match(r.stdout, /Examples:/, `${f} --help has no examples`);
  }
});

test('bin/memscope runs from a link, a link to a link, a linked directory and a relative path', () => {
  // the wrapper calls readlink(1) only when it was started through a symlink (start-up cost)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-wrapper-'));
  try {
    fs.symlinkSync(MEMSCOPE, path.join(dir, 'link'));
    fs.symlinkSync('link', path.join(dir, 'link2'));
    fs.symlinkSync(path.dirname(MEMSCOPE), path.join(dir, 'bindir'));
    const runs: [string, string[], string | undefined][] = [
      [path.join(dir, 'link'), ['--version'], undefined],
      [path.join(dir, 'link2'), ['count', '--help'], undefined],
      [path.join(dir, 'bindir', 'memscope'), ['count', '--help'], undefined],
      ['./memscope', ['--version'], path.dirname(MEMSCOPE)],
      ['sh', ['memscope', '--version'], path.dirname(MEMSCOPE)],
    ];
    for (const [cmd, args, cwd] of runs) {
      const r = spawnSync(cmd, args, { encoding: 'utf8', cwd });
      assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, args[0] === 'count' ? /^Usage: memscope count / : /^\d+\.\d+\.\d+\n$/, `${cmd} ${args.join(' ')}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the code caches of the bundle are ones V8 accepts, and hold more than its top level', () => {
  // written by scripts/bundle-cli.mjs after a traced run (count's own, and one with every tool
  // loaded), under the flag bin/memscope gives Node; a rejected cache would silently cost every
  // start the compile it saves
  const file = path.join(ROOT, 'dist', 'memscope.js');
  const check =
    "const fs = require('node:fs'), vm = require('node:vm'); const [file, cache] = process.argv.slice(1);" +
    "const s = new vm.Script(fs.readFileSync(file, 'latin1'), { filename: file, cachedData: fs.readFileSync(cache) });" +
    "const bare = new vm.Script(fs.readFileSync(file, 'latin1'), { filename: file + '-bare' }).createCachedData();" +
    'process.stdout.write(JSON.stringify({ rejected: s.cachedDataRejected, bare: bare.length }));';
  for (const cache of [`${file}.cache`, ...(process.getuid?.() === 0 ? [`${file}.count.cache`] : [])]) {
    const r = spawnSync(process.execPath, ['--verify-snapshot-checksum', '-e', check, file, cache], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { rejected, bare } = JSON.parse(r.stdout) as { rejected: boolean; bare: number };
    assert.equal(rejected, false, cache);
    const size = fs.statSync(cache).size;
    assert.ok(size > 2 * bare, `${cache}: ${size} B, top level alone ${bare} B`);
  }
});

test('bad input gives one clear line and a non-zero exit', () => {
  const cases: [string[], RegExp, number][] = [
    [['nosuchtool'], /^memscope: unknown tool 'nosuchtool'/, 2],
    [['brkstack', '--bogus'], /^memscope: brkstack: unknown option '--bogus'/, 2],
    [['brkstack', '-p', 'abc'], /^memscope: brkstack: .*PID/, 2],
    [['brkstack', '-p', '999999999'], /^memscope: no process with PID 999999999/, 2],
    [['brkstack', 'xyz'], /^memscope: brkstack: .*positive number/, 2],
  ];
  for (const [args, re, code] of cases) {
    const r = memscope(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('not root: one line saying so', () => {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', MEMSCOPE, 'brkstack', '1'], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^memscope: must run as root/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('.ci/run runs the README setup and test commands exactly', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const ci = fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8');
  const setup = /<!-- setup -->\n```sh\n(.+)\n```/.exec(readme)?.[1];
  const tests = /<!-- test -->\n```sh\n(.+)\n```/.exec(readme)?.[1];
  assert.ok(setup && tests, 'README marks its setup and test commands');
  assert.ok(ci.includes(`\n${setup}\n${tests}\n`), '.ci/run differs from the README');
});
