// SPDX-License-Identifier: Apache-2.0
// A process's files are opened when a frame first needs them (Symbolizer.note, the agent), which
// can be long after the process was noted: a binary replaced in between must not name its frames.
// Against a live child (no root, no BPF).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Symbolizer } from '../../src/symbols/symbolizer';
import { readMaps, type Mapping } from '../../src/procfs/maps';
import { formatFrame } from '../../src/core/frames';
import { workload } from '../lib/workloads';

test("a host binary replaced after its process was noted (an upgrade) does not name the process's frames: they stay unnamed", async () => {
  // a copy of a small program with symbols, run from a directory of our own, then replaced there
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-replaced-'));
  const prog = path.join(dir, 'prog');
  fs.copyFileSync(workload('rounds'), prog);
  const c = spawn(prog, ['1'], { stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    await once(c, 'spawn');
    let text: Mapping | undefined;
    for (let i = 0; i < 200 && !text; i++) {
      text = readMaps(c.pid!)?.find((m) => m.path === prog && m.perms.includes('x'));
      if (!text) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(text, 'the child maps prog');
    const ip = text.start + 0x10n;
    const before = new Symbolizer();
    before.note(c.pid!);
    assert.match(formatFrame(before.name(c.pid!, before.pin(c.pid!, [{ ip }])!)[0]), /\[prog\]$/);
    // note() opens files when a frame needs them: replaced before that, the new file must not answer
    const lazy = new Symbolizer();
    lazy.note(c.pid!);
    fs.copyFileSync(workload('kfault'), path.join(dir, 'new'));
    fs.renameSync(path.join(dir, 'new'), prog);
    const frame = formatFrame(lazy.name(c.pid!, lazy.pin(c.pid!, [{ ip }])!)[0]);
    assert.match(frame, /^\[unknown\]/, frame);
  } finally {
    c.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
