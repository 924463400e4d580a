// SPDX-License-Identifier: Apache-2.0
// Every source file says its license in its first lines: Apache-2.0 for userspace, the dual
// BSD-2-Clause / GPL-2.0-only license for the BPF programs (bpf/LICENSE).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../lib/workloads';

const SOURCE = /\.(ts|mjs|c|cc|h|sh)$/;
const SKIP = new Set(['node_modules', 'dist', 'build', 'vmlinux.h']);

function* sources(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name) || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (SOURCE.test(e.name)) yield p;
  }
}

test('every source file carries an SPDX license line; BPF code is dual BSD/GPL, the rest Apache-2.0', () => {
  const files = ['src', 'test', 'bench', 'bpf', 'native/src', 'shim', 'web'].filter((d) => fs.existsSync(path.join(ROOT, d))).flatMap((d) => [...sources(path.join(ROOT, d))]);
  files.push(path.join(ROOT, 'setup.sh'), path.join(ROOT, 'bin', 'memscope'), path.join(ROOT, 'bin', 'memscope.js'), path.join(ROOT, 'eslint.config.mjs'));
  assert.ok(files.length > 200);
  const wrong: string[] = [];
  for (const f of files) {
    const head = fs.readFileSync(f, 'utf8').split('\n', 3).join('\n');
    const rel = path.relative(ROOT, f);
    const want = rel.startsWith('bpf/') ? 'SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)' : 'SPDX-License-Identifier: Apache-2.0';
    if (!head.includes(want)) wrong.push(rel);
  }
  assert.deepEqual(wrong, []);
  assert.match(fs.readFileSync(path.join(ROOT, 'bpf', 'include', 'memscope.h'), 'utf8'), /SEC\("license"\) = "Dual BSD\/GPL"/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).license, 'Apache-2.0');
});
