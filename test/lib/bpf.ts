// SPDX-License-Identifier: Apache-2.0
// Proof that nothing of memscope stays loaded in the kernel.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import { ROOT } from './workloads';

/** Names of every BPF program memscope builds (as bpftool shows them: at most 15 characters). */
function ourProgramNames(): Set<string> {
  const dir = path.join(ROOT, 'build', 'bpf');
  const names = new Set<string>();
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.bpf.o'))) {
    const out = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', path.join(dir, f)], { encoding: 'utf8' });
    for (const t of JSON.parse(out).types as { kind: string; name: string }[]) {
      if (t.kind === 'FUNC') names.add(t.name.slice(0, 15));
    }
  }
  return names;
}

/** prog id → pids holding an fd (program or link) on it. */
function holders(): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fdinfo`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let info: string;
      try {
        info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      } catch {
        continue;
      }
      const m = /^prog_id:\s+(\d+)/m.exec(info);
      if (m) out.set(Number(m[1]), [...(out.get(Number(m[1])) ?? []), Number(pid)]);
    }
  }
  return out;
}

function isDescendantOfThisTest(pid: number): boolean {
  for (let p = pid, i = 0; p > 1 && i < 64; i++) {
    if (p === process.pid) return true;
    try {
      p = Number(/^\d+ \(.*\) \S (\d+)/s.exec(fs.readFileSync(`/proc/${p}/stat`, 'utf8'))![1]);
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * memscope programs still loaded that this test is responsible for: held by nobody (leaked through
 * a pin or a link) or held by a process this test started. Programs of memscope runs started by
 * others (a developer tracing while the suite runs) are not this test's leak.
 */
export function loadedMemscopePrograms(): string[] {
  const ours = ourProgramNames();
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as { id: number; name?: string }[];
  const held = holders();
  return progs
    .filter((p) => ours.has(p.name ?? ''))
    .filter((p) => {
      const pids = held.get(p.id) ?? [];
      return pids.length === 0 || pids.some(isDescendantOfThisTest);
    })
    .map((p) => `${p.name} (id ${p.id})`);
}

/** The kernel frees a program a little after its last holder closes it (RCU): wait that long. */
export async function assertNothingLoaded(): Promise<void> {
  let left = loadedMemscopePrograms();
  for (let i = 0; i < 30 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = loadedMemscopePrograms();
  }
  assert.deepEqual(left, [], 'memscope BPF programs are still loaded');
}
