// SPDX-License-Identifier: Apache-2.0
// Stack assertions shared by the tests that check unwound frames against a workload's known calls.
import assert from 'node:assert/strict';

/** A frame as "function [module]", without its offset ("+0x1c"). */
export const frameName = (f: string): string => f.replace(/\+0x[0-9a-f]+/, '');

/** Each expected "function [module]" appears in the stack, in this order (other frames may lie between). */
export function assertInOrder(stack: string[], expected: string[]): void {
  const names = stack.map(frameName);
  let at = -1;
  for (const e of expected) {
    const i = names.indexOf(e, at + 1);
    assert.ok(i > at, `${e} after position ${at} in:\n${stack.join('\n')}`);
    at = i;
  }
}
