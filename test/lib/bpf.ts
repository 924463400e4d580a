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

export function loadedMemscopePrograms(): string[] {
  const ours = ourProgramNames();
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as { name?: string }[];
  return progs.map((p) => p.name ?? '').filter((n) => ours.has(n));
}

export function assertNothingLoaded(): void {
  assert.deepEqual(loadedMemscopePrograms(), [], 'memscope BPF programs are still loaded');
}
