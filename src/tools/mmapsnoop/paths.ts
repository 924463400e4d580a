// SPDX-License-Identifier: Apache-2.0
// The full path of each file mmap()'s file: BPF sends it on the events ring ahead of the call's
// record (struct mmap_path_note), and both carry the call's number. A record takes only the note
// with its own number. Taken as "the thread's next record", a note whose record was lost (ring
// full) named the next call's file whenever that call's note was lost too: a wrong row, unsaid.
import { struct } from '../../engine/struct';
import { decodeProcNote, PROC_NOTE } from '../../engine/proc-note';

/** struct mmap_path_note (bpf/mmapsnoop.bpf.c): the path as a process note (tgid holds the
 * thread id), then the number of the call. */
export const PATH_NOTE = struct(
  [
    ['note', `bytes[${PROC_NOTE.size}]`],
    ['seq', 'u64'],
  ] as const,
  { c: 'mmap_path_note', bpf: 'mmapsnoop' },
);

/** Shown for a file mapping whose path note was lost, before the file's own name (the record
 * carries the last component, cut at 63 bytes): "[path lost] libc.so.6". */
export const PATH_LOST = '[path lost]';

export class PathNotes {
  /** thread id -> its latest note not yet taken */
  private notes = new Map<number, { seq: number; path: string }>();
  /** Records shown with PATH_LOST: their note never came. */
  lost = 0;

  /** Keeps a note (a ring record of PATH_NOTE's size) for its call's record. */
  add(r: Buffer): void {
    const [tid, path] = decodeProcNote(r);
    this.notes.set(tid, { seq: Number(r.readBigUInt64LE(PATH_NOTE.offsets.seq)), path });
  }

  /**
   * What a record of thread tid (any record: mmap() or munmap()) shows as its file: the full path
   * if its note came, PATH_LOST and name if it was sent but never came, else name (the record's
   * own: the last component, or "" for no file). seq is the record's path_seq, 0 when no note was
   * sent (an anonymous mapping, an fd naming no file, munmap). Whatever note the thread had is
   * forgotten: a thread's calls come one after another and a note precedes its record on the one
   * ring, so a note still here at a later record is of a call whose record was lost.
   */
  file(tid: number, seq: number, name: string): string {
    const n = this.notes.get(tid);
    this.notes.delete(tid);
    if (!seq) return name;
    if (n?.seq !== seq) {
      this.lost++;
      return name ? `${PATH_LOST} ${name}` : PATH_LOST;
    }
    return n.path === '/' ? name : n.path; // "/": the walk found no name
  }
}
