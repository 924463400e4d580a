// SPDX-License-Identifier: Apache-2.0
// triage killed mid-run by SIGTERM, SIGINT, SIGHUP or SIGKILL: its tracers (memscope TOOL --json
// subprocesses with BPF loaded) end with it, and nothing of memscope stays loaded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { start } from './lib/run';
import { ROOT } from './lib/workloads';
import { assertNothingLoaded } from './lib/bpf';

const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/s.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Live processes running this worktree's memscope (`node .../dist/src/cli.js ...`), by pid. */
function memscopeProcesses(): Map<number, string> {
  const out = new Map<number, string>();
  for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.includes(CLI) && alive(Number(d))) out.set(Number(d), argv.join(' '));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Children of pid (by /proc/PID/stat ppid). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const ppid = Number(/^\d+ \(.*\) \S (\d+)/s.exec(fs.readFileSync(`/proc/${d}/stat`, 'utf8'))![1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Polls until cond() holds or ms pass; returns whether it held (not a timing assertion: the
 * bound only keeps a failure from hanging the suite). */
async function eventually(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

const TOOLS = ['oomkill', 'swapin', 'ffaults', 'vmgrowth', 'vmscan', 'drsnoop', 'pmc'];

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGKILL'] as NodeJS.Signals[]) {
  test(`triage killed by ${sig}: its tracers end with it and nothing stays loaded`, async () => {
    assert.deepEqual([...memscopeProcesses().values()], [], 'memscope processes before the test');
    // -v: one line per tool once it is tracing, so the kill comes with every tool's BPF attached
    const t = start(path.join(ROOT, 'bin', 'memscope'), ['triage', '-v', '-d', '120']);
    try {
      for (const tool of TOOLS) await t.waitFor(`memscope ${tool} is tracing`, 90_000);
      const tracers = childrenOf(t.pid);
      assert.ok(tracers.length >= TOOLS.length, `${tracers.length} tracers: ${[...memscopeProcesses().values()].join('\n')}`);
      t.child.kill(sig);
      const r = await t.exited;
      if (sig === 'SIGKILL') {
        assert.equal(r.signal, 'SIGKILL');
        // nothing of triage ran after the kill: each tracer must see it by itself
        assert.ok(await eventually(() => tracers.every((p) => !alive(p)), 20_000), `tracers still running after SIGKILL: ${[...memscopeProcesses().values()].join('\n')}`);
      } else {
        // caught: triage stops its tracers and waits for them before it exits
        assert.equal(r.code, { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 }[sig as string], r.stderr);
        assert.match(r.stderr, new RegExp(`memscope triage: ${sig}: stopping the tools; no report`));
        assert.deepEqual(tracers.filter(alive), [], `tracers alive after triage exited: ${[...memscopeProcesses().values()].join('\n')}`);
      }
      assert.deepEqual([...memscopeProcesses().values()], []);
      await assertNothingLoaded();
    } finally {
      t.kill();
    }
  });
}

after(() => assertNothingLoaded());
