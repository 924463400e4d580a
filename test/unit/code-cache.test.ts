// SPDX-License-Identifier: Apache-2.0
// The bundle's V8 code caches (bin/memscope.js, scripts/bundle-cli.mjs) are an optimisation only:
// a corrupted one is rejected and the CLI runs as without it (V8 crashed on one before: a fatal
// error, a native stack trace, exit 133), and writing one never goes through a link.
// Run on a copy of the launcher and the bundle in a temporary tree (dist/src, build and native
// linked to the real ones), so the build's own files are never touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../lib/workloads';

const BUNDLE = path.join(ROOT, 'dist', 'memscope.js');

/** Why the test cannot run here (no bundle or no cache: npm run build:ts makes them), or false. */
function noBundle(): string | false {
  if (!fs.existsSync(BUNDLE) || !fs.existsSync(`${BUNDLE}.cache`)) return 'no bundle or code cache (npm run build:ts makes them)';
  return fs.statSync(BUNDLE).mtimeMs < fs.statSync(path.join(ROOT, 'dist', 'src', 'cli.js')).mtimeMs ? 'the bundle is older than dist/src' : false;
}

/** A tree that runs as the real one: copies of bin/ and the bundle, links to the rest. */
function copyTree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-cache-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.mkdirSync(path.join(dir, 'dist'));
  for (const f of ['bin/memscope', 'bin/memscope.js', 'package.json', 'dist/memscope.js']) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  fs.chmodSync(path.join(dir, 'bin', 'memscope'), 0o755);
  for (const d of ['dist/src', 'build', 'native', 'node_modules']) fs.symlinkSync(path.join(ROOT, d), path.join(dir, d));
  return dir;
}

/** Every cache bundle-cli wrote for the bundle, copied into `dir` with 64 bytes in its middle flipped. */
function corruptCaches(dir: string): string[] {
  const names = fs.readdirSync(path.join(ROOT, 'dist')).filter((f) => f.startsWith('memscope.js.') && f.endsWith('.cache'));
  for (const f of names) {
    const b = fs.readFileSync(path.join(ROOT, 'dist', f));
    for (let i = 0; i < 64; i++) b[(b.length >> 1) + i] ^= 0x5a;
    fs.writeFileSync(path.join(dir, 'dist', f), b);
  }
  return names;
}

function run(dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(path.join(dir, 'bin', 'memscope'), args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
}

test('a corrupted code cache is rejected: the CLI runs as without one', { skip: noBundle() }, () => {
  const dir = copyTree();
  try {
    const names = corruptCaches(dir);
    assert.ok(names.includes('memscope.js.cache'), names.join(' '));
    // count --help reads count's own cache where the build made one, --help and brkstack the general one
    for (const [args, out] of [
      [['count', '--help'], /^Usage: memscope count /],
      [['brkstack', '--help'], /^Usage: memscope brkstack /],
      [['--help'], /^Usage: memscope TOOL/],
    ] as [string[], RegExp][]) {
      const r = run(dir, args);
      assert.equal(r.status, 0, `${args.join(' ')}: exit ${r.status} ${r.signal ?? ''}: ${r.stderr.slice(0, 300)}`);
      assert.match(r.stdout, out);
      assert.equal(r.stderr, '', args.join(' '));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a code cache is written as a new file: a link at its place is replaced, not followed', { skip: noBundle() }, () => {
  const dir = copyTree();
  try {
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'keep\n');
    const cache = path.join(dir, 'dist', 'memscope.js.cache');
    fs.symlinkSync(victim, cache);
    const r = run(dir, ['count', '--help'], { MEMSCOPE_WRITE_CODE_CACHE: cache, MEMSCOPE_CODE_CACHE_TOOL_ONLY: '1' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'keep\n');
    assert.ok(!fs.lstatSync(cache).isSymbolicLink(), 'the link is still there');
    assert.ok(fs.statSync(cache).size > 1000);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'dist')).filter((f) => f.endsWith('.tmp')), []);
    // and the cache written is one the launcher then uses: the next run starts and ends as usual
    const again = run(dir, ['count', '--help']);
    assert.equal(again.status, 0, again.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
