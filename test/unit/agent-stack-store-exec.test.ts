// SPDX-License-Identifier: Apache-2.0
// The agent keeps each process's fault stacks raw (StackStore) and names them when asked (a
// profile, an OOM victim's fault traces: Collectors.symbolize), in the maps the process has then,
// perhaps of a program exec'd since with other code at the same addresses (two non-PIE programs).
// A walked stack keeps its program image (the low 32 bits of mm->start_stack) in the store: it is
// named only in maps of that image, else shown as EXECED; the same addresses of two images are two
// stacks. As stack-counts-exec.test: a live child's /proc maps stand for "the program it runs now".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Symbolizer } from '../../src/symbols/symbolizer';
import { EXECED } from '../../src/engine/stack-counts';
import { formatFrame, type Frame } from '../../src/core/frames';
import { execChild, OLD_IMAGE } from '../lib/exec-child';
import { StackStore, TextSample, type RawStack } from '../../src/agent/stack-store';
import { Collectors } from '../../src/agent/collectors';

const low32 = (image: bigint) => Number(BigInt.asUintN(32, image));

/** Collectors.symbolize with symbolizer s (it needs nothing else of a running agent). */
const symbolize = (s: Symbolizer, pid: number, raw: RawStack): Frame[] => Collectors.prototype.symbolize.call({ symbolizer: s } as unknown as Collectors, pid, raw);

/** The stacks the store keeps for pid after one collection of `samples`. */
function kept(pid: number, samples: TextSample[]): RawStack[] {
  const store = new StackStore({ maxProcesses: 8, maxStacksPerProcess: 8 });
  store.add(samples, () => null);
  return [...store.get(pid)!.stacks.values()];
}

test("agent: a kept fault stack of a program image its process left is named EXECED, never in the program exec'd since", async () => {
  const { c, pid, ip } = await execChild();
  try {
    const [stack] = kept(pid, [new TextSample(pid, 'exec_pair-a', 3, undefined, ip.toString(16), low32(OLD_IMAGE))]);
    const named = symbolize(new Symbolizer(), pid, stack).map((f) => formatFrame(f));
    assert.ok(!named.some((f) => f.endsWith('[node]')), `named in the program exec'd since: ${named.join(' <- ')}`);
    assert.deepEqual(named, [formatFrame(EXECED)]);
  } finally {
    c.kill();
  }
});

test('agent: a kept fault stack of the image its process runs is named in its maps; the same addresses of another image are another stack', async () => {
  const { c, pid, ip, image } = await execChild();
  try {
    const frames = ip.toString(16);
    const stacks = kept(pid, [new TextSample(pid, 'node', 2, undefined, frames, low32(image)), new TextSample(pid, 'node', 5, undefined, frames, low32(OLD_IMAGE))]);
    assert.deepEqual(
      stacks.map((s) => s.count),
      [2, 5],
    );
    const s = new Symbolizer();
    assert.match(formatFrame(symbolize(s, pid, stacks[0])[0]), /\+0x[0-9a-f]+ \[node\]$/);
    assert.deepEqual(symbolize(s, pid, stacks[1]), [EXECED]);
  } finally {
    c.kill();
  }
});
