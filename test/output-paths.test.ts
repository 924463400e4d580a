// SPDX-License-Identifier: Apache-2.0
// Output files (--svg, --html) are written as root in directories other users can write: a link
// planted at the path is refused (never followed), as are directories and unwritable places, all
// with one line before any tracing starts. The vDSO copy lives in a private mkdtemp directory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MEMSCOPE, memscope, Result, startMemscope } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { withVdso } from '../src/symbols/vdso';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-paths-'));
// a sticky, world-writable directory like /tmp, where `nobody` plants links
const sticky = path.join(base, 'sticky');
fs.mkdirSync(sticky);
fs.chmodSync(base, 0o755);
fs.chmodSync(sticky, 0o1777);
// the root-owned secret a link points at
const secret = path.join(base, 'secret');
fs.writeFileSync(secret, 'root secret\n', { mode: 0o600 });
const folded = path.join(base, 'a.folded');
fs.writeFileSync(folded, 'main;f 5\n');
const mounts: string[] = [];

after(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  fs.rmSync(base, { recursive: true, force: true });
});

function asNobody(cmd: string): void {
  execFileSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'sh', '-c', cmd]);
}

function assertRefused(r: Result, file: string, why: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr); // one line: no banner, no tracing, no progress
  assert.match(lines[0], new RegExp(`^memscope: cannot write ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  assert.match(lines[0], why);
  assert.equal(r.stdout, '');
}

function assertSecretUntouched(): void {
  assert.equal(fs.readFileSync(secret, 'utf8'), 'root secret\n');
  assert.equal(fs.statSync(secret).mode & 0o777, 0o600);
}

test('a symlink planted by nobody in a sticky directory is refused, not followed (flamegraph, faults, triage --html)', () => {
  const link = path.join(sticky, 'out.svg');
  asNobody(`ln -s ${secret} ${link}`);
  assert.equal(fs.lstatSync(link).uid, Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })));
  assertRefused(memscope(['flamegraph', folded, '--svg', link]), link, /symbolic link/);
  // before tracing: no banner, at once
  assertRefused(memscope(['faults', '--svg', link, '30']), link, /symbolic link/);
  assertRefused(memscope(['brkstack', '--svg', link, '30']), link, /symbolic link/);
  assertRefused(memscope(['faults', '--pprof', link, '30']), link, /symbolic link/);
  const html = path.join(sticky, 'triage.html');
  asNobody(`ln -s ${secret} ${html}`);
  assertRefused(memscope(['triage', '-d', '30', '--html', html]), html, /symbolic link/);
  assertSecretUntouched();
  assert.equal(fs.readlinkSync(link), secret);
});

test('a dangling symlink is refused and its target is not created', () => {
  const target = path.join(base, 'created-by-memscope');
  const link = path.join(sticky, 'dangling.svg');
  asNobody(`ln -s ${target} ${link}`);
  assertRefused(memscope(['flamegraph', folded, '--svg', link]), link, /symbolic link/);
  assertRefused(memscope(['faults', '--svg', link, '30']), link, /symbolic link/);
  assert.equal(fs.existsSync(target), false);
});

test('unwritable places are refused before tracing: missing directory, read-only mount, a directory, not-writable for the user', () => {
  assertRefused(memscope(['faults', '--svg', '/nonexistent/x.svg', '1']), '/nonexistent/x.svg', /no such directory/);
  const ro = path.join(base, 'ro');
  fs.mkdirSync(ro);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
  mounts.push(ro);
  assertRefused(memscope(['faults', '--svg', path.join(ro, 'x.svg'), '1']), path.join(ro, 'x.svg'), /not writable \(read-only file system\)/);
  assertRefused(memscope(['flamegraph', folded, '--svg', base]), base, /is a directory/);
  // a user who may not write the directory (flamegraph needs no root)
  const closed = path.join(base, 'closed');
  fs.mkdirSync(closed, { mode: 0o755 });
  fs.chmodSync(folded, 0o644);
  const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', MEMSCOPE, 'flamegraph', folded, '--svg', path.join(closed, 'x.svg')], {
    encoding: 'utf8',
  });
  assertRefused({ code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }, path.join(closed, 'x.svg'), /not writable \(permission denied\)/);
  assert.deepEqual(fs.readdirSync(closed), []);
});

test("--svg '' and --html '' are usage errors, not SVG on standard output", () => {
  for (const args of [
    ['faults', '--pprof', '', '1'],
    ['flamegraph', folded, '--svg', ''],
    ['faults', '--svg', '', '1'],
    ['triage', '--html', ''],
  ]) {
    const r = memscope(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^memscope: \w+: option '--(svg|html|pprof) <FILE>' argument '' is invalid\. expected a file name/);
    assert.equal(r.stdout, '');
  }
});

test('a symlink planted after the check, while the tool traces, is not followed: the write is refused and the target kept', async () => {
  const out = path.join(sticky, 'late.svg');
  const r = await startMemscope(['faults', '--svg', out, '30']); // checked at start: no file there yet
  asNobody(`ln -s ${secret} ${out}`); // planted while tracing, before the write
  const done = await r.interrupt();
  assert.equal(done.code, 2, done.stderr);
  assert.match(done.stderr, new RegExp(`memscope: cannot write ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: it is a symbolic link`));
  assertSecretUntouched();
  assert.equal(fs.readlinkSync(out), secret, 'the link itself is left as nobody made it');
  assert.deepEqual(
    fs.readdirSync(sticky).filter((f) => f.includes('memscope-')),
    [],
    'no temporary file left behind',
  );
  fs.rmSync(out);
  assertNothingLoaded();
});

test('a regular file is replaced whole (new inode, no temporary left behind); the SVG has the graph', () => {
  const out = path.join(sticky, 'ok.svg');
  fs.writeFileSync(out, 'old contents that are longer than nothing\n');
  const before = fs.statSync(out).ino;
  const r = memscope(['flamegraph', folded, '--svg', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, `memscope: wrote ${out}\n`);
  assert.match(fs.readFileSync(out, 'utf8'), /^<\?xml [\s\S]*<title>f \(5 samples, 100\.00%\)<\/title>[\s\S]*<\/svg>\n$/);
  assert.notEqual(fs.statSync(out).ino, before);
  assert.deepEqual(
    fs.readdirSync(sticky).filter((f) => f.includes('memscope-')),
    [],
  );
});

test('the vDSO copy is made in a private directory (mode 0700) that is removed afterwards', () => {
  const tmpdir = fs.mkdtempSync(path.join(base, 'tmp-'));
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmpdir; // os.tmpdir() follows TMPDIR
  try {
    const seen = withVdso((elf: { path: string }) => {
      const dir = path.dirname(elf.path);
      assert.equal(path.dirname(dir), tmpdir);
      assert.match(path.basename(dir), /^memscope-vdso-.{6}$/);
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
      assert.equal(fs.lstatSync(elf.path).isFile(), true);
      return dir;
    });
    assert.ok(seen, 'memscope has a vDSO here');
    assert.equal(fs.existsSync(seen), false);
    assert.deepEqual(fs.readdirSync(tmpdir), []);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
});

after(() => assertNothingLoaded());
