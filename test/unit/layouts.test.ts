// SPDX-License-Identifier: Apache-2.0
// The TypeScript mirrors of C structs (struct() with { c: NAME }) agree with the BTF clang wrote
// into each BPF object, and a layout that does not agree is caught, with what differs. Reads the
// built objects (build/bpf/*.bpf.o); loads nothing into the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../lib/workloads';
import { Btf } from '../../src/engine/btf';
import { checkLayouts } from '../../src/engine/layout-check';
import { Fields, Layout, mirrors, struct } from '../../src/engine/struct';

// every module that declares layouts: each tool, and the engine and unwinder modules tools share
// eslint-disable-next-line @typescript-eslint/no-require-imports -- tools are found by file name, as cli.ts finds them
for (const f of fs.readdirSync(path.join(ROOT, 'dist', 'src', 'tools'))) if (f.endsWith('.js')) require(path.join(ROOT, 'dist', 'src', 'tools', f));
const DECLARED = [...mirrors];

const OBJECTS = fs.readdirSync(path.join(ROOT, 'build', 'bpf')).filter((f) => f.endsWith('.bpf.o')).map((f) => f.slice(0, -'.bpf.o'.length));
const btfOf = (name: string) => Btf.ofObject(path.join(ROOT, 'build', 'bpf', `${name}.bpf.o`));

test('every declared layout agrees with the BTF of each object that defines its struct', () => {
  assert.ok(DECLARED.length >= 25, `${DECLARED.length} layouts name their C struct`);
  const found = new Set<Layout<Fields>>();
  for (const name of OBJECTS) {
    const btf = btfOf(name);
    assert.doesNotThrow(() => checkLayouts(name, btf, DECLARED), name);
    for (const l of DECLARED) if ((l.mirrors!.bpf ?? name) === name && btf.struct(l.mirrors!.c)) found.add(l);
  }
  const unchecked = DECLARED.filter((l) => !found.has(l)).map((l) => `${l.mirrors!.c}@${l.mirrors!.bpf ?? '*'}`);
  assert.deepEqual(unchecked, [], 'each layout is checked against at least one object');
});

test('a layout that does not match its C struct is caught, saying what differs', () => {
  const check = (name: string, layout: Layout<Fields>) => () => checkLayouts(name, btfOf(name), [layout]);
  // a resized field (C: __u64 cgid, char name[64])
  assert.throws(check('ffaults', struct([['cgid', 'u64'], ['name', 'char[32]']] as const, { c: 'ff_key', bpf: 'ffaults' })), /struct ff_key: name: TypeScript offset 8, 32 bytes; C name at offset 8, 64 bytes/);
  // a field added in C: TypeScript declares one too few (struct swapin_key ends with comm)
  const swapin = DECLARED.find((l) => l.mirrors!.c === 'swapin_key')!;
  const fewer = struct(swapin.fields.slice(0, -1) as Fields, { c: 'swapin_key', bpf: 'swapin' });
  assert.throws(check('swapin', fewer), /C has comm \(offset \d+, 16 bytes\) that TypeScript lacks/);
  // two fields of different sizes swapped (u32 sys, char comm[16]); a swap of equal-sized fields
  // keeps every offset, and names are not compared (TypeScript spells args[0] as a0), so it passes
  const shm = DECLARED.find((l) => l.mirrors!.c === 'shm_event')!;
  const swapped = [...shm.fields];
  const [sys, comm] = [swapped.findIndex((f) => f[0] === 'sys'), swapped.findIndex((f) => f[0] === 'comm')];
  [swapped[sys], swapped[comm]] = [swapped[comm], swapped[sys]];
  assert.throws(check('shmsnoop', struct(swapped as Fields, { c: 'shm_event', bpf: 'shmsnoop' })), /struct shm_event: comm: TypeScript offset 48, 16 bytes; C sys at offset 48, 4 bytes/);
  // a struct the object does not have
  assert.throws(check('ffaults', struct([['x', 'u32']] as const, { c: 'no_such_struct', bpf: 'ffaults' })), /struct no_such_struct: not in the object's BTF/);
  // the message names the object and the way out
  assert.throws(check('ffaults', struct([['name', 'char[32]']] as const, { c: 'ff_key', bpf: 'ffaults' })), /^Error: the record layouts of ffaults\.bpf\.o differ from memscope's \(rebuild/);
});

test('globals come from BTF: variables, not maps', () => {
  const g = btfOf('stackcount').globals();
  assert.ok(g.has('targ_tgid') && g.has('ms_plain_ustacks') && g.has('lost_events'));
  assert.ok(!g.has('stack_counts'), 'a map is not a global');
  assert.ok(!btfOf('ffaults').globals().has('ms_plain_ustacks'), 'ffaults does not include stacks.h');
});
