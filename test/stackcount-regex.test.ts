// SPDX-License-Identifier: Apache-2.0
// stackcount -r on uprobes (BCC: stackcount -r 'c:mall.*'): the function name is a regular
// expression over the library's symbols, each matching function probed once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { workload } from './lib/workloads';
import { memscope, start, startMemscope } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

after(() => assertNothingLoaded());

/** memleak_sites traced by stackcount -f -U -p PID ARGS through one "go"; the folded lines. */
async function sites(args: string[]): Promise<string[]> {
  const w = start(workload('memleak_sites'));
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['stackcount', '-f', '-U', '-p', String(w.pid), ...args]);
    w.send('go');
    await w.waitFor('done');
    const r = await ms.interrupt();
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  } finally {
    w.kill();
  }
}

test("stackcount -r 'p:BIN:leak_.*': every function of the binary whose name matches, each call counted by stack", async () => {
  const bin = workload('memleak_sites');
  const lines = await sites(['-r', `p:${bin}:leak_.*`]);
  // after "go": leak_a, leak_b and leak_thread once each, leak_thread_allocs once from leak_thread;
  // leak_e (matched too) is not called before "young"
  const tails = lines.map((l) => l.split(';').slice(-2).join(';'));
  for (const want of ['main;leak_a 1', 'main;leak_b 1', 'leak_thread;leak_thread_allocs 1']) {
    assert.ok(tails.includes(want), `${want} missing:\n${lines.join('\n')}`);
  }
  assert.ok(
    lines.some((l) => /;leak_thread 1$/.test(l)),
    lines.join('\n'),
  );
  assert.ok(!lines.some((l) => /leak_e/.test(l)), lines.join('\n'));
  assert.equal(lines.length, 4, lines.join('\n'));
});

test("stackcount -r 'c:(malloc|calloc)', BCC's spelling: libc's functions by regular expression, the known calls by caller", async () => {
  const lines = await sites(['-r', 'c:(malloc|calloc)']);
  const count = (re: RegExp) => lines.filter((l) => re.test(l)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  assert.equal(count(/;main;leak_a;malloc \d+$/), 100, lines.join('\n'));
  assert.equal(count(/;main;leak_b;calloc \d+$/), 50, lines.join('\n'));
  assert.equal(count(/;leak_thread_allocs;malloc \d+$/), 10, lines.join('\n'));
});

test('stackcount -r: a regular expression matching no function, or a bad one, is one line', () => {
  const none = memscope(['stackcount', '-r', 'c:no_such_fn_[0-9]+']);
  assert.equal(none.code, 1, none.stderr);
  assert.match(none.stderr, /^memscope: no function of .*libc\.so\.6 matches the regular expression 'no_such_fn_\[0-9\]\+'\n$/);
  const bad = memscope(['stackcount', '-r', 'c:mall(oc']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /^memscope: bad regular expression in 'c:mall\(oc'/);
});
