// SPDX-License-Identifier: Apache-2.0
// The per-event tools (oomkill's trigger, mmapsnoop -U: EventStacks) name each event's walked
// (frame-pointer) stack when its note comes, or at once: in the maps its process has then, perhaps
// of a program exec'd since with other code at the same addresses (two non-PIE programs). The stack
// carries its program image (struct ms_walked_stack's image): it is named only in maps of that
// image (nameStackId, stack-counts' leftImage), else shown as EXECED and counted. As
// stack-counts-exec.test: a live child's /proc maps stand for "the program it runs now"; the BPF
// object is a fake holding one walked stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Symbolizer } from '../../src/symbols/symbolizer';
import { EXECED } from '../../src/engine/stack-counts';
import { formatFrame } from '../../src/core/frames';
import { execChild, OLD_IMAGE, walkedStack } from '../lib/exec-child';
import type { BpfObject } from '../../src/engine/bpf-object';
import { accountEventStacks, DwarfStacks } from '../../src/unwind/dwarf-stacks';
import { TriggerStacks } from '../../src/tools/_oom-trigger';

const USTACK = 5;

/** A BPF object holding walked stack USTACK: one frame at ip, of program image `image`. */
function fakeObject(ip: bigint, image: bigint): BpfObject {
  const walked = walkedStack(ip, image);
  return {
    hasGlobal: (n: string) => n === 'ms_plain_ustacks',
    readGlobalU8: () => 1,
    readGlobalU64: () => 0n,
    hasProgram: () => false,
    onRecords: () => {},
    lookup: (_map: string, k: Buffer) => (k.readInt32LE(0) === USTACK ? walked : null),
  } as unknown as BpfObject;
}


/** An OOM kill whose trigger (pid) has walked stack USTACK of `image`, its note arrived: the
 * frames it is shown with, and the trigger stacks' accounting. */
function killShown(pid: number, ip: bigint, image: bigint) {
  const s = new Symbolizer();
  const dwarf = new DwarfStacks(s);
  const shown: (string[] | undefined)[] = [];
  const triggers = new TriggerStacks<string>(dwarf, s, (_kill, frames) => shown.push(frames), true);
  const obj = fakeObject(ip, image);
  triggers.listen(obj, false);
  triggers.push('kill', { trig_tid: pid, trig_pid: pid, trig_ustack: USTACK, trig_seq: 0 });
  assert.equal(shown.length, 0, 'the kill waits for its stack note');
  // struct ms_stack_note: kind 3, tgid, ustack, image
  const note = Buffer.alloc(16);
  [3, pid, USTACK, Number(BigInt.asUintN(32, image))].forEach((v, i) => note.writeUInt32LE(v, 4 * i));
  (dwarf as unknown as { take(rec: Buffer): void }).take(note);
  assert.equal(shown.length, 1, 'the note lets the kill out');
  return { frames: shown[0]!, execed: triggers.execed, accounting: accountEventStacks(obj, dwarf, triggers) };
}

test("oomkill: a trigger's walked stack of a program image its process left is shown as EXECED and counted, never named in the program exec'd since", async () => {
  const { c, pid, ip } = await execChild();
  try {
    const { frames, execed, accounting } = killShown(pid, ip, OLD_IMAGE);
    assert.ok(!frames.some((f) => f.endsWith('[node]')), `named in the program exec'd since: ${frames.join(' <- ')}`);
    assert.deepEqual(frames, [formatFrame(EXECED)]);
    assert.equal(execed, 1);
    assert.equal(accounting.process_execd, 1);
  } finally {
    c.kill();
  }
});

test("oomkill: a trigger's walked stack of the image its process runs is named in its maps", async () => {
  const { c, pid, ip, image } = await execChild();
  try {
    const { frames, execed } = killShown(pid, ip, image);
    assert.match(frames[0], /\+0x[0-9a-f]+ \[node\]$/);
    assert.equal(execed, 0);
  } finally {
    c.kill();
  }
});
