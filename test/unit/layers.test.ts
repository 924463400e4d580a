// SPDX-License-Identifier: Apache-2.0
// The layer rule of eslint.config.mjs (ARCHITECTURE.md, "Layers") reports imports that go up or
// sideways, and lets the allowed ones through: checked on source text linted as if it lived at a
// given path, so no file is changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ESLint } from 'eslint';
import { ROOT } from '../lib/workloads';

async function layerErrors(file: string, importLine: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [r] = await eslint.lintText(`${importLine}\nexport const x = imported;\n`, { filePath: path.join(ROOT, file) });
  return r.messages.filter((m) => m.ruleId === 'import/no-restricted-paths').map((m) => m.message);
}

test('layers: upward and tool-to-tool imports are errors; downward ones and tool helpers are not', async () => {
  const cases: [string, string, RegExp | null][] = [
    ['src/procfs/x.ts', "import { native as imported } from '../engine/native';", /layer 'procfs' may import only core/],
    ['src/core/x.ts', "import { mergeStacks as imported } from '../render/stacks';", /layer 'core' may import only nothing of ours/],
    ['src/symbols/x.ts', "import { BpfObject as imported } from '../engine/bpf-object';", /layer 'symbols'/],
    ['src/engine/x.ts', "import { DwarfStacks as imported } from '../unwind/dwarf-stacks';", /layer 'engine'/],
    ['src/tools/x.ts', "import { tool as imported } from './ffaults';", /a tool does not import another tool/],
    ['src/tools/x.ts', "import { Tool as imported } from '../cli';", /layer 'tools'/],
    ['src/tools/x.ts', "import { userFaultGroup as imported } from './_fault-sources';", null],
    ['src/tools/x.ts', "import { addCommonOptions as imported } from './options';", null],
    ['src/unwind/x.ts', "import { StackReader as imported } from '../engine/stacks';", null],
    ['src/render/x.ts', "import { formatFrame as imported } from '../core/frames';", null],
    ['src/dashboard/x.ts', "import { tool as imported } from '../tools/oomlog';", /layer 'dashboard'/],
    ['src/tools/x.ts', "import { createDashboard as imported } from '../dashboard/index';", null],
  ];
  for (const [file, line, want] of cases) {
    const errors = await layerErrors(file, line);
    if (want) assert.ok(errors.length === 1 && want.test(errors[0]), `${file}: ${line} → ${JSON.stringify(errors)}`);
    else assert.deepEqual(errors, [], `${file}: ${line}`);
  }
});
