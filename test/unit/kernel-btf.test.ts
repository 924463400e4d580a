// SPDX-License-Identifier: Apache-2.0
// What keeps kernel BTF (5.5 MB, /sys/kernel/btf/vmlinux) off the start-up path of the general
// verbs (issue 16): count-lean.bpf.o (count without USDT or --cgroup) carries no CO-RE relocation,
// so libbpf never parses kernel BTF for it, and the raw tracepoint names are read through a small buffer, exactly. Reads files
// only; loads nothing into the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../lib/workloads';
import { ElfFile } from '../../src/symbols/elf';
import { btfTraceNamesIn, btfTracepointsAmong } from '../../src/engine/features';

/** Bytes of CO-RE relocation records in an object's .BTF.ext (libbpf parses kernel BTF for any). */
function coreReloBytes(name: string): number {
  const file = path.join(ROOT, 'build', 'bpf', `${name}.bpf.o`);
  const sec = ElfFile.read(file)?.sections.find((s) => s.name === '.BTF.ext');
  if (!sec) return 0;
  const buf = Buffer.alloc(sec.size);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, buf, 0, sec.size, sec.offset);
  } finally {
    fs.closeSync(fd);
  }
  assert.equal(buf.readUInt16LE(0), 0xeb9f, `${name}: .BTF.ext magic`);
  const hdrLen = buf.readUInt32LE(4);
  // struct btf_ext_header: ..., core_relo_off at 24, core_relo_len at 28 (when the header has them)
  return hdrLen >= 32 ? buf.readUInt32LE(28) : 0;
}

test('count-lean.bpf.o has no CO-RE relocation and no USDT program; count.bpf.o has both', () => {
  assert.equal(coreReloBytes('count-lean'), 0, 'count-lean.bpf.o: libbpf would parse kernel BTF at every load');
  // the reader sees relocations where there are some: usdt.bpf.h and the cgroup filter read kernel structs
  assert.ok(coreReloBytes('count') > 0, 'count.bpf.o has the USDT helpers and the cgroup filter');
  // a program's name in the object's string tables
  const has = (obj: string, fn: string) => fs.readFileSync(path.join(ROOT, 'build', 'bpf', `${obj}.bpf.o`)).includes(Buffer.from(`\0${fn}\0`));
  assert.ok(!has('count-lean', 'count_usdt') && has('count', 'count_usdt'));
  assert.ok(has('count-lean', 'count_tp') && has('count-lean', 'count_raw_0') && has('count', 'count_raw_0'));
});

/** A raw BTF file (24-byte header, no types) whose string section is `strings`. */
function btfFile(dir: string, strings: Buffer): string {
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0);
  hdr[2] = 1;
  hdr.writeUInt32LE(24, 4); // hdr_len
  hdr.writeUInt32LE(0, 8); // type_off
  hdr.writeUInt32LE(0, 12); // type_len
  hdr.writeUInt32LE(0, 16); // str_off
  hdr.writeUInt32LE(strings.length, 20);
  const file = path.join(dir, 'btf');
  fs.writeFileSync(file, Buffer.concat([hdr, strings]));
  return file;
}

test('btf_trace_ names are read exactly through the small buffer, wherever a chunk boundary falls', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-btf-'));
  try {
    const CHUNK = 64 * 1024;
    // for each shift, a name sits across the first chunk boundary at a different place: in the
    // marker, right after it, in the name, on its terminating NUL
    for (let shift = -60; shift <= 12; shift++) {
      const want = new Set<string>();
      const parts: Buffer[] = [Buffer.from('\0')];
      let len = 1;
      const filler = Buffer.alloc(Math.max(0, CHUNK + shift - 30 - len), 'x');
      parts.push(filler, Buffer.from('\0'));
      len += filler.length + 1;
      for (let i = 0; i < 4000; i++) {
        const name = i % 3 ? `mm_event_${i}` : `btf_trace_not_a_marker_${i}`; // the latter: no NUL before it
        const s = i % 3 ? `btf_trace_${name}` : `x${name}`;
        if (i % 3) want.add(name);
        parts.push(Buffer.from(`${s}\0`));
        len += s.length + 1;
      }
      const got = btfTraceNamesIn(btfFile(dir, Buffer.concat(parts)));
      assert.deepEqual([...got].sort(), [...want].sort(), `shift ${shift}`);
    }
    assert.equal(btfTraceNamesIn(btfFile(dir, Buffer.from('no header'))).size, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('on the running kernel, the names are those a whole read of the string section finds', () => {
  const b = fs.readFileSync('/sys/kernel/btf/vmlinux');
  const start = b.readUInt32LE(4) + b.readUInt32LE(16);
  const strings = b.toString('latin1', start, start + b.readUInt32LE(20));
  const want = new Set([...strings.matchAll(/\0btf_trace_([^\0]+)/g)].map((m) => m[1]));
  assert.ok(want.has('sys_enter') && want.size > 100, `${want.size} raw tracepoints`);
  assert.deepEqual([...btfTraceNamesIn('/sys/kernel/btf/vmlinux')].sort(), [...want].sort());
});

test('asked for some names, the reader stops once it has them all, and reads on for one BTF lacks', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-btf-'));
  try {
    // 3,000 names over about 3 chunks; the wanted ones sit in the first chunk
    const strings = ['', ...Array.from({ length: 3000 }, (_, i) => `btf_trace_ev_${i}`)].join('\0') + '\0';
    const file = btfFile(dir, Buffer.from(strings));
    const early = btfTraceNamesIn(file, new Set(['ev_10', 'ev_3']));
    assert.ok(early.has('ev_10') && early.has('ev_3'));
    assert.equal(early.complete, false, 'read to the end although both names were found early');
    assert.ok(early.size < 3000, `${early.size} names read`);
    const all = btfTraceNamesIn(file, new Set(['ev_10', 'no_such_tracepoint']));
    assert.equal(all.complete, true);
    assert.equal(all.size, 3000);
    assert.ok(!all.has('no_such_tracepoint'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('on the running kernel, the raw tracepoints asked for together are those BTF has', () => {
  const vmscan = fs.readdirSync('/sys/kernel/tracing/events/vmscan').filter((n) => !['enable', 'filter'].includes(n));
  // sys_enter_madvise is a syscalls event, not a raw tracepoint: asked for, it makes the reader read on
  const asked = [...vmscan, 'sys_enter_madvise', 'sys_enter'];
  const b = fs.readFileSync('/sys/kernel/btf/vmlinux');
  const start = b.readUInt32LE(4) + b.readUInt32LE(16);
  const strings = b.toString('latin1', start, start + b.readUInt32LE(20));
  const want = asked.filter((n) => strings.includes(`\0btf_trace_${n}\0`));
  assert.ok(want.includes('mm_vmscan_write_folio') && want.includes('sys_enter') && !want.includes('sys_enter_madvise'));
  assert.deepEqual([...btfTracepointsAmong(vmscan)].sort(), vmscan.filter((n) => want.includes(n)).sort());
  assert.deepEqual([...btfTracepointsAmong(asked)].sort(), [...want].sort());
});
