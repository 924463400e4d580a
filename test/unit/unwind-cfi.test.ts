// SPDX-License-Identifier: Apache-2.0
// The CFI interpreter (src/unwind/cfi.ts) against binutils: for a sample of addresses in libc,
// ld.so and the test's own binaries, the CFA rule and the register rules (return address
// included) agree with `readelf --debug-dump=frames-interp`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ElfFile } from '../../src/symbols/elf';
import { rowAt } from '../../src/unwind/cfa-program';
import { readCfi, Row, RuleKind, RA_REG } from '../../src/unwind/cfi';
import { unwindWorkload } from '../unwind-workloads';

const REGS = ['rax', 'rdx', 'rcx', 'rbx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'ra'];

interface InterpFde {
  start: number;
  end: number;
  rows: { loc: number; cols: Map<string, string> }[];
}

/** The FDE tables of readelf's frames-interp output for one section (.eh_frame or .debug_frame). */
function readelfFdes(file: string, section = '.eh_frame'): InterpFde[] {
  // readelf exits non-zero when a separate debug file is missing (Debian's libc); its tables are still whole
  const text = spawnSync('readelf', ['--debug-dump=frames-interp', file], { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout;
  const out: InterpFde[] = [];
  let cur: InterpFde | null = null;
  let header: string[] = [];
  let inEh = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('Contents of the ')) inEh = line.includes(`${section} section`);
    if (!inEh) continue;
    const fde = / FDE cie=\S+ pc=([0-9a-f]+)\.\.([0-9a-f]+)/.exec(line);
    if (fde) {
      cur = { start: parseInt(fde[1], 16), end: parseInt(fde[2], 16), rows: [] };
      out.push(cur);
      continue;
    }
    if (/ CIE /.test(line)) {
      cur = null;
      continue;
    }
    if (!cur) continue;
    if (line.trim().startsWith('LOC')) {
      header = line.trim().split(/\s+/).slice(1);
      continue;
    }
    const m = /^([0-9a-f]{16}) (.*)$/.exec(line);
    if (m) {
      const vals = m[2].trim().split(/\s+/);
      const cols = new Map<string, string>();
      header.forEach((h, i) => cols.set(h, vals[i]));
      cur.rows.push({ loc: parseInt(m[1], 16), cols });
    }
  }
  return out.filter((f) => f.rows.length > 0);
}

function sign(n: number): string {
  return n >= 0 ? `+${n}` : `${n}`;
}

/** Our row in readelf's notation for one column. */
function ours(row: Row, col: string): string {
  if (col === 'CFA') return row.cfa.expr ? 'exp' : `${REGS[row.cfa.reg] ?? `r${row.cfa.reg}`}${sign(row.cfa.offset)}`;
  const reg = col === 'ra' ? row.raReg : REGS.indexOf(col);
  const r = row.regs.get(reg);
  if (!r) return 'u';
  switch (r.kind) {
    case RuleKind.Undefined: return 'u';
    case RuleKind.SameValue: return 's';
    case RuleKind.Offset: return `c${sign(r.n)}`;
    case RuleKind.ValOffset: return `v${sign(r.n)}`;
    case RuleKind.Register: return REGS[r.n] ?? `r${r.n}`;
    case RuleKind.Expression: return 'exp';
    case RuleKind.ValExpression: return 'vexp';
  }
  return '?';
}

function check(file: string, every: number, section = '.eh_frame'): { fdes: number; addrs: number } {
  const elf = ElfFile.read(file);
  assert.ok(elf, file);
  const cfi = readCfi(elf!);
  const eh = section === '.eh_frame' ? cfi.eh : cfi.debug;
  assert.ok(eh, `${file} has ${section}`);
  const fdes = readelfFdes(file, section);
  assert.ok(fdes.length > 0, `readelf found FDEs in ${file}`);
  let checked = 0;
  let addrs = 0;
  fdes.forEach((f, i) => {
    const hasExp = f.rows.some((r) => [...r.cols.values()].some((v) => v.includes('exp')));
    if (i % every !== 0 && !hasExp) return;
    checked++;
    f.rows.forEach((row, j) => {
      const last = (j + 1 < f.rows.length ? f.rows[j + 1].loc : f.end) - 1;
      for (const addr of new Set([row.loc, last, (row.loc + last) >> 1])) {
        const fde = eh!.find(addr);
        assert.ok(fde, `${file}: no FDE found for 0x${addr.toString(16)}`);
        assert.equal(fde!.start, f.start, `${file}: FDE of 0x${addr.toString(16)}`);
        const r = rowAt(fde!, addr, eh!.addr);
        for (const [col, want] of row.cols) {
          assert.equal(ours(r, col), want, `${file} 0x${addr.toString(16)} column ${col}`);
        }
        // the return-address rule is always there and is what the unwinder uses
        assert.ok(r.raReg === RA_REG, 'x86_64 return address column');
        addrs++;
      }
    });
  });
  assert.ok(checked > 0);
  return { fdes: checked, addrs };
}

test("libc's CFI rules agree with readelf --debug-dump=frames-interp (every 5th FDE and every FDE with expressions)", () => {
  const r = check('/lib/x86_64-linux-gnu/libc.so.6', 5);
  assert.ok(r.addrs > 1000, `checked ${r.addrs} addresses`);
});

test("ld.so's CFI rules agree with readelf", () => {
  check('/lib64/ld-linux-x86-64.so.2', 3);
});

test('the test binaries built without frame pointers (executable and shared library): every FDE agrees with readelf', () => {
  const w = unwindWorkload('nofp');
  check(w.bin, 1);
  check(w.lib, 1);
  const fp = unwindWorkload('fp');
  check(fp.bin, 1);
});

test('.debug_frame (a binary built without unwind tables): every FDE agrees with readelf', () => {
  const w = unwindWorkload('debugframe');
  const r = check(w.bin, 1, '.debug_frame');
  assert.ok(r.fdes >= 6, `${r.fdes} FDEs in .debug_frame`);
});

test('an address outside every FDE has no CFI', () => {
  const w = unwindWorkload('nofp');
  const { eh } = readCfi(ElfFile.read(w.bin)!);
  assert.equal(eh!.find(0), null);
  assert.equal(eh!.find(0x7fffffff), null);
});
