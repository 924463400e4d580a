// SPDX-License-Identifier: Apache-2.0
// mmapsnoop's join of a file's path note to its mmap() record (src/tools/mmapsnoop/paths.ts), fed
// ring records as BPF lays them out, in ring order, with some lost (as a full ring loses them):
// every record shows its own call's path, or [path lost] and its own name, never another call's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PATH_LOST, PATH_NOTE, PathNotes } from '../../src/tools/mmapsnoop/paths';
import { PROC_NOTE } from '../../src/engine/proc-note';

/** struct mmap_path_note for thread tid, call seq: the path's components leaf first, 64 bytes each. */
function note(tid: number, seq: number, path: string): Buffer {
  const b = Buffer.alloc(PATH_NOTE.size);
  const comps = path.split('/').filter(Boolean).reverse();
  b.writeUInt32LE(tid, PROC_NOTE.offsets.tgid);
  b.writeUInt32LE(comps.length, PROC_NOTE.offsets.depth);
  comps.forEach((c, i) => b.write(c, PATH_NOTE.offsets.note + PROC_NOTE.offsets.comps + i * 64));
  b.writeBigUInt64LE(BigInt(seq), PATH_NOTE.offsets.seq);
  return b;
}

test('a record whose note was lost shows [path lost] and its own name, never the path of a call whose record was lost', () => {
  const p = new PathNotes();
  // call 1 of thread 7: both came
  p.add(note(7, 1, '/usr/lib/libc.so.6'));
  assert.equal(p.file(7, 1, 'libc.so.6'), '/usr/lib/libc.so.6');
  // call 2: its note came, its record was lost; call 3: its note was lost, its record came
  p.add(note(7, 2, '/data/b.dat'));
  assert.equal(p.file(7, 3, 'c.dat'), `${PATH_LOST} c.dat`);
  // call 4 after that: its own path again
  p.add(note(7, 4, '/data/d.dat'));
  assert.equal(p.file(7, 4, 'd.dat'), '/data/d.dat');
  assert.equal(p.lost, 1);
});

test("a munmap() or anonymous mmap() record forgets the thread's stale note: a later lost note is not replaced by it", () => {
  const p = new PathNotes();
  p.add(note(7, 5, '/data/e.dat')); // call 5's record lost
  assert.equal(p.file(7, 0, ''), ''); // munmap: no note was sent for it
  p.add(note(7, 6, '/data/f.dat')); // call 6's record lost
  assert.equal(p.file(7, 0, ''), ''); // an anonymous mmap()
  assert.equal(p.file(7, 7, 'g.dat'), `${PATH_LOST} g.dat`); // call 7's note lost
  assert.equal(p.file(7, 8, ''), PATH_LOST, 'a file with no name of its own');
  assert.equal(p.lost, 2);
});

test('notes of several threads are joined each to its own record, in whatever order the threads interleave', () => {
  const p = new PathNotes();
  p.add(note(8, 10, '/a/x'));
  p.add(note(9, 11, '/a/y'));
  p.add(note(8, 12, '/a/z')); // call 10's record lost: its note is replaced by call 12's
  assert.equal(p.file(9, 11, 'y'), '/a/y');
  assert.equal(p.file(8, 12, 'z'), '/a/z');
  // a thread id's note never goes to another thread's record with the same number
  p.add(note(8, 13, '/a/w'));
  assert.equal(p.file(9, 13, 'v'), `${PATH_LOST} v`);
  assert.equal(p.file(8, 13, 'w'), '/a/w');
  // a walk that found no name ("/"): the record's own name
  p.add(note(8, 14, '/'));
  assert.equal(p.file(8, 14, 'u'), 'u');
  assert.equal(p.lost, 1);
});
