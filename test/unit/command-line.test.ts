// SPDX-License-Identifier: Apache-2.0
// -c COMMAND: how a command line is given to the gate shell (src/engine/command-line.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execLast } from '../../src/engine/command-line';

test("-c command lines: the last command is exec'd after its assignments; lines whose program would be a child are refused", () => {
  assert.equal(execLast('VAR=1 cmd a'), 'VAR=1 exec cmd a');
  assert.equal(execLast('cd /tmp && X="a b" prog --x'), 'cd /tmp && X="a b" exec prog --x');
  assert.equal(execLast('sqlite3 t.db < s.sql'), 'exec sqlite3 t.db < s.sql');
  assert.equal(execLast('env X=1 prog;'), 'exec env X=1 prog');
  assert.equal(execLast('(cd x); y 2>&1'), '(cd x); exec y 2>&1');
  assert.equal(execLast('echo "a;b" \'c|d\' $(ls | wc -l)'), 'exec echo "a;b" \'c|d\' $(ls | wc -l)');
  assert.equal(execLast('exec prog'), 'exec prog');
  for (const [line, why] of [
    ['a | b', /not in a pipeline/],
    ['a &', /not in a background job/],
    ['(cd x; y)', /not in a subshell/],
    ['if true; then x; fi', /not in a compound command/],
    ['X=1', /runs no program/],
    ['  ', /needs a command line/],
    ['echo "a', /unterminated quote/],
  ] as [string, RegExp][]) {
    assert.throws(() => execLast(line), why, line);
  }
});
