// SPDX-License-Identifier: Apache-2.0
// The new-process note BPF sends on a process's first event (ms_note_process in
// bpf/include/memscope.h), decoded for the symbolizer.
import { struct } from './struct';

const PATH_DEPTH = 16; // MS_PATH_DEPTH
const NAME_LEN = 64; // MS_NAME_LEN

/** struct ms_proc_note (bpf/include/memscope.h), checked against BTF when an object opens. */
export const PROC_NOTE = struct(
  [
    ['tgid', 'u32'],
    ['depth', 'u32'],
    ['comps', `bytes[${PATH_DEPTH * NAME_LEN}]`],
  ] as const,
  { c: 'ms_proc_note' },
);

/** The pid and its executable's path. */
export function decodeProcNote(r: Buffer): [number, string] {
  return [r.readUInt32LE(PROC_NOTE.offsets.tgid), '/' + noteComponents(r).join('/')];
}

/** A note's path components, root first (each at most NAME_LEN - 1 bytes: a longer name is cut). */
export function noteComponents(r: Buffer): string[] {
  const depth = Math.min(r.readUInt32LE(PROC_NOTE.offsets.depth), PATH_DEPTH);
  const comps: string[] = [];
  for (let i = 0; i < depth; i++) {
    const o = PROC_NOTE.offsets.comps + i * NAME_LEN;
    const end = r.indexOf(0, o);
    comps.unshift(r.toString('utf8', o, end < 0 || end > o + NAME_LEN ? o + NAME_LEN : end));
  }
  return comps;
}

/** The longest name a note holds whole (MS_NAME_LEN less its NUL): one this long may have been cut. */
export const NOTE_NAME_MAX = NAME_LEN - 1;

/** Only the pid of a process note (no path decoded: the agent reads the maps, not the path). */
export function procNotePid(r: Buffer): number {
  return r.readUInt32LE(PROC_NOTE.offsets.tgid);
}
