// SPDX-License-Identifier: Apache-2.0
// The agent's alive cache (src/agent/alive.ts): one /proc listing a collection says which pids
// live; a process that exits is forgotten at the next refresh, and only it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AliveCache } from '../../src/agent/alive';

test('AliveCache: a child is alive until it exits and is reaped, then forgotten at the next refresh; its siblings stay', async () => {
  const a = spawn('sleep', ['60'], { stdio: 'ignore' });
  const b = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const c = new AliveCache();
    c.refresh();
    assert.equal(c.isAlive(a.pid!), true);
    assert.equal(c.isAlive(b.pid!), true);
    assert.equal(c.isAlive(process.pid), true);
    a.kill('SIGKILL');
    await new Promise((r) => a.once('exit', r)); // reaped by Node
    assert.equal(c.isAlive(a.pid!), true, 'the cache answers from its last listing until refreshed');
    c.refresh();
    assert.equal(c.isAlive(a.pid!), false);
    assert.equal(c.isAlive(b.pid!), true);
  } finally {
    a.kill('SIGKILL');
    b.kill('SIGKILL');
  }
});

test('AliveCache: only numeric entries are pids (self, thread-self and the rest of /proc are not)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-alive-'));
  try {
    for (const d of ['1', '42', 'self', 'sys', '7x']) fs.mkdirSync(path.join(dir, d));
    const c = new AliveCache(dir);
    c.refresh();
    assert.equal(c.size, 2);
    assert.equal(c.isAlive(7), false);
    assert.equal(c.isAlive(42), true);
    assert.equal(c.isAlive(2), false);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});
