// SPDX-License-Identifier: Apache-2.0
// A file of another mount namespace is reached through /proc/PID/root only while PID lives; its
// symbol table, evicted by the module cache's byte budget, must still be readable after PID is
// gone (an OOM victim in a container is named after its death).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { ElfFile } from '../../src/symbols/elf';

test('a symbol table read through /proc/PID/root is read again after its eviction, when PID is gone', async () => {
  // node itself: a binary with a symbol table of its own
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const path = `/proc/${child.pid}/root${fs.realpathSync(process.execPath)}`;
  const elf = ElfFile.read(path);
  assert.ok(elf);
  const n = elf.symbols().length;
  assert.ok(n > 0);
  elf.dropSymbols(); // as the module cache does when it evicts the table
  child.kill();
  await once(child, 'exit');
  assert.equal(fs.existsSync(path), false, 'the path died with the process');
  assert.equal(elf.symbols().length, n);
});
