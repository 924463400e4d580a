// The new-process note BPF sends on a process's first event (ms_note_process in
// bpf/include/memscope.h), decoded for the symbolizer.

const PATH_DEPTH = 16;
const NAME_LEN = 64;

/** struct ms_proc_note (bpf/include/memscope.h): the pid and its executable's path. */
export function decodeProcNote(r: Buffer): [number, string] {
  const depth = Math.min(r.readUInt32LE(4), PATH_DEPTH);
  const comps: string[] = [];
  for (let i = 0; i < depth; i++) {
    const o = 8 + i * NAME_LEN;
    const end = r.indexOf(0, o);
    comps.unshift(r.toString('utf8', o, end < 0 || end > o + NAME_LEN ? o + NAME_LEN : end));
  }
  return [r.readUInt32LE(0), '/' + comps.join('/')];
}
