// SPDX-License-Identifier: Apache-2.0
// What a tool's start-up loads of Node's own modules (scripts/bundle-cli.mjs, issue 16's launch →
// attached row): child_process (and with it dgram and the process bindings) only when something is
// spawned, perf_hooks only when something is timed. Asked of the bundled CLI as bin/memscope runs
// it: `count --help` loads count's modules, the engine's (session, probes, tracefs) and commander.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../lib/workloads';

/** The built-in modules Node had loaded when `memscope ARGS` exited. */
function builtinsLoaded(args: string[]): string[] {
  const report =
    "process.on('exit', () => require('node:fs').writeSync(3, JSON.stringify(process.moduleLoadList)));" +
    `process.argv = [process.argv[0], ${JSON.stringify(path.join(ROOT, 'bin', 'memscope.js'))}, ...${JSON.stringify(args)}];` +
    'require(process.argv[1]);';
  const r = spawnSync(process.execPath, ['-e', report], {
    env: { ...process.env, MEMSCOPE_FD1: 'open' },
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const list = JSON.parse(String(r.output[3])) as string[];
  return list.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
}

/** Why bin/memscope.js would not run the bundle (it runs dist/src/cli.js then), or false. */
function noBundle(): string | false {
  const mtime = (f: string) => fs.statSync(path.join(ROOT, 'dist', f)).mtimeMs;
  if (!fs.existsSync(path.join(ROOT, 'dist', 'memscope.js'))) return 'no bundle (npm run build:ts makes it)';
  return mtime('memscope.js') < mtime('src/cli.js') ? 'the bundle is older than dist/src (npm run build:ts makes it again)' : false;
}

test('the bundled CLI starts count without child_process, dgram or perf_hooks', { skip: noBundle() }, () => {
  const loaded = builtinsLoaded(['count', '--help']);
  // root and no tracefs mounted: mountTracefs spawns mount(8), rightly
  const tracefsMounted = fs.existsSync('/sys/kernel/tracing/events') || fs.existsSync('/sys/kernel/debug/tracing/events');
  for (const m of ['child_process', 'dgram', 'perf_hooks']) {
    if (m !== 'perf_hooks' && process.getuid?.() === 0 && !tracefsMounted) continue;
    assert.ok(!loaded.includes(m), `${m} loaded at start-up`);
  }
});
