// SPDX-License-Identifier: Apache-2.0
// A live child standing for "the program a process runs now" in the exec unit tests (no root, no
// BPF): node itself, a binary with symbols, with an address in its executable's code and its
// program image (mm->start_stack, as /proc/PID/stat tells it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { readMaps, type Mapping } from '../../src/procfs/maps';
import { readPidStat } from '../../src/procfs/pid';

export async function execChild() {
  const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  await once(c, 'spawn');
  const exe = fs.realpathSync(process.execPath);
  // the maps appear once the exec is done
  let text: Mapping | undefined;
  for (let i = 0; i < 200 && !text; i++) {
    text = readMaps(c.pid!)?.find((m) => m.path === exe && m.perms.includes('x'));
    if (!text) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(text, 'the child maps node');
  const image = readPidStat(c.pid!)?.startstack;
  assert.ok(image, "the child's startstack is readable");
  return { c, pid: c.pid!, ip: text.start + (text.end - text.start) / 2n, image };
}

/** A start_stack no live process has: the image a stack is of, one its process exec'd away from. */
export const OLD_IMAGE = 0x7ffc00001000n;

/** struct ms_walked_stack of one frame at ip, of program image `image` (its low 32 bits, as BPF
 * stores it): a fake BPF object's walked stack. */
export function walkedStack(ip: bigint, image: bigint): Buffer {
  const walked = Buffer.alloc(16 + 8);
  walked.writeBigUInt64LE(0x1234n, 0);
  walked.writeUInt32LE(1, 8);
  walked.writeUInt32LE(Number(BigInt.asUintN(32, image)), 12);
  walked.writeBigUInt64LE(ip, 16);
  return walked;
}
