// SPDX-License-Identifier: Apache-2.0
// TypeScript layouts of C structs (struct.ts) checked against the BTF clang wrote into each BPF
// object: a field added, removed, resized or reordered in C fails loudly when the object opens,
// instead of silently shifting every field after it.
import { MemscopeError } from '../core/errors';
import type { Btf } from './btf';
import { fieldSize, Fields, Layout, mirrors } from './struct';

/**
 * What differs between a layout and the C struct, one line per difference; [] when they agree.
 * Fields are matched in order by offset and size. A TypeScript field may cover several C members
 * (a nested struct read as bytes[N]) if it starts at the first and ends where the last ends.
 */
export function layoutDifferences(layout: Layout<Fields>, c: { size: number; members: { name: string; offset: number; size: number }[] }, prefix = false): string[] {
  const out: string[] = [];
  let j = 0;
  for (const [name, type] of layout.fields) {
    const off = layout.offsets[name];
    const size = fieldSize(type);
    const m = c.members[j];
    if (!m) {
      out.push(`TypeScript has ${name} (offset ${off}) that C lacks`);
      continue;
    }
    // the C members this field covers: m, then those that end within it
    let end = m.offset + m.size;
    let k = j + 1;
    while (end < off + size && k < c.members.length && c.members[k].offset + c.members[k].size <= off + size) {
      end = c.members[k].offset + c.members[k].size;
      k++;
    }
    if (m.offset !== off || end !== off + size) {
      out.push(`${name}: TypeScript offset ${off}, ${size} bytes; C ${m.name} at offset ${m.offset}, ${m.size} bytes`);
      return out; // everything after is shifted: one line says it
    }
    j = k;
  }
  if (prefix) return out;
  for (; j < c.members.length; j++) out.push(`C has ${c.members[j].name} (offset ${c.members[j].offset}, ${c.members[j].size} bytes) that TypeScript lacks`);
  if (layout.size !== c.size) out.push(`size: TypeScript ${layout.size} bytes, C ${c.size}`);
  return out;
}

/** Checks every registered layout that belongs to object `name` against its BTF. */
export function checkLayouts(name: string, btf: Btf, layouts: Layout<Fields>[] = mirrors): void {
  const problems: string[] = [];
  for (const l of layouts) {
    const m = l.mirrors!;
    if (m.bpf !== undefined && m.bpf !== name) continue;
    const c = btf.struct(m.c);
    if (!c) {
      // a struct only a shared header defines is absent from objects that do not use it
      if (m.bpf !== undefined) problems.push(`struct ${m.c}: not in the object's BTF (is it used by a map, or forced with MS_BTF_TYPE?)`);
      continue;
    }
    for (const d of layoutDifferences(l, c, m.prefix)) problems.push(`struct ${m.c}: ${d}`);
  }
  if (problems.length) {
    throw new MemscopeError(`the record layouts of ${name}.bpf.o differ from memscope's (rebuild with npm run build, or update the layout):\n  ${problems.join('\n  ')}`);
  }
}
