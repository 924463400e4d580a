// SPDX-License-Identifier: Apache-2.0
// Interval output prints what happened: every interval is headed by its time, and an empty one
// says so ("(no swap-ins)", "(no events)") instead of printing a bare blank line or an empty table.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { memscope, start } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

test('swapin: each interval has a time header; an empty interval says (no swap-ins)', async () => {
  const idle = start('sleep', ['60']); // it swaps nothing in
  try {
    const r = memscope(['swapin', '-p', String(idle.pid), '0.2', '3']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.replace(/\d\d:\d\d:\d\d/g, 'T'), '\nT\n(no swap-ins)\n'.repeat(3));
  } finally {
    idle.kill();
  }
});

test('count -i: an interval without events says (no events) under its time', async () => {
  const idle = start('sleep', ['60']); // it makes no brk() calls
  try {
    const r = memscope(['count', '-i', '0.2', '-d', '0.7', '-p', String(idle.pid), 't:syscalls:sys_enter_brk']);
    assert.equal(r.code, 0, r.stderr);
    const blocks = r.stdout.split('\n\n').filter(Boolean);
    assert.ok(blocks.length >= 1, r.stdout);
    for (const b of blocks) assert.match(b.trim(), /^\[\d\d:\d\d:\d\d\]\n\(no events\)$/, r.stdout);
  } finally {
    idle.kill();
  }
});

after(() => assertNothingLoaded());
