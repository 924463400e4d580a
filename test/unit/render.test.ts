// SPDX-License-Identifier: Apache-2.0
// Renderers without a kernel: tables, the stack report, folded lines, JSON records, the flame-graph
// SVG and the HTML page, with names that would break markup if they were not escaped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CountedStack, Frame } from '../../src/core/frames';
import { formatTable } from '../../src/render/table';
import { formatStackCounts, mergeStacks, ProfileStacks, stackJson, toFolded } from '../../src/render/stacks';
import { renderFlameGraph } from '../../src/render/flamegraph';
import { escapeHtml, htmlPage, htmlTable, inlineSvg } from '../../src/render/html';
import { escapeText, escapeTextKeepLines, escapeXml } from '../../src/core/escape';
import { parseMaps } from '../../src/procfs/maps';

const fr = (symbol: string | null, module: string | null, offset = 0): Frame => ({ addr: 0x1000n, symbol, offset, module });

const STACKS: CountedStack[] = [
  { pid: 7, comm: 'app', count: 3, user: [fr('leaf', 'app', 0x1c), fr('main', 'app', 4)], kernel: [] },
  { pid: 7, comm: 'app', count: 5, user: [fr(null, 'libc.so.6')], kernel: [fr('do_brk_flags', null, 0x10)] },
];

test('table: columns fit the widest cell; numbers right-aligned, the last text column not padded', () => {
  assert.deepEqual(formatTable(['PID', 'COMM', 'KB'], [[1, 'init', 12], [12345, 'x', 3]], [true, false, true]), [
    '  PID COMM KB',
    '    1 init 12',
    '12345 x     3',
  ]);
  assert.deepEqual(formatTable(['N', 'FILE'], [[10, 'a'], [2, 'long name']], [true, false]), [' N FILE', '10 a', ' 2 long name']);
});

test('stack report: kernel frames, --, user frames, "comm [pid]", count; least frequent first', () => {
  assert.deepEqual(formatStackCounts(STACKS), [
    '',
    '  leaf+0x1c [app]',
    '  main+0x4 [app]',
    '    app [7]',
    '    3',
    '',
    '  do_brk_flags+0x10',
    '  --',
    '  [unknown] [libc.so.6]',
    '    app [7]',
    '    5',
  ]);
});

test('stacks merge when their symbolized frames are equal, whatever the addresses', () => {
  const a = { ...STACKS[0], user: [{ ...fr('leaf', 'app', 0x1c), addr: 1n }] };
  const b = { ...STACKS[0], user: [{ ...fr('leaf', 'app', 0x1c), addr: 2n }], count: 4 };
  assert.deepEqual(mergeStacks([a, b]).map((s) => s.count), [7]);
});

test('folded lines: comm first, root to leaf, kernel frames last with _[k]; separators replaced', () => {
  const odd: CountedStack = { pid: 1, comm: 'my app', count: 2, user: [fr('ns::f;g', 'x')], kernel: [] };
  assert.deepEqual(toFolded([...STACKS, odd]), ['app;[libc.so.6];do_brk_flags_[k] 5', 'app;main;leaf 3', 'my_app;ns::f:g 2']);
});

test('JSON stack records: frames as BCC prints them, kstack only when there is one', () => {
  assert.deepEqual(stackJson(STACKS[0]), { pid: 7, comm: 'app', count: 3, ustack: ['leaf+0x1c [app]', 'main+0x4 [app]'] });
  assert.deepEqual(stackJson(STACKS[1]).kstack, ['do_brk_flags+0x10']);
});

test('flame graph SVG: one frame per node, names and hover text escaped', () => {
  const svg = renderFlameGraph(
    [
      [['main', 'operator new<T&>', 'a&b'], 3],
      [['main', 'other'], 1],
    ],
    { title: 'x<y', unit: 'bytes' },
  );
  assert.match(svg, /^<\?xml/);
  assert.equal((svg.match(/<g class="f"/g) ?? []).length, 5); // root, main, operator new, a&b, other
  assert.ok(svg.includes('operator new&lt;T&amp;&gt;'));
  assert.ok(svg.includes('a&amp;b (3 bytes, 75.00%)'));
  assert.ok(!/<title>[^<]*<T&/.test(svg), 'no raw markup from a frame name');
  assert.ok(!svg.includes('x<y'), 'the title is escaped too');
});

test('HTML: text and tables escaped; an inline SVG loses its XML declaration', () => {
  assert.equal(escapeHtml(`<a href="x">&</a>`), '&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;');
  const table = htmlTable(['COMM', 'KB'], [['<script>', 5]], [false, true]);
  assert.ok(table.includes('<td>&lt;script&gt;</td><td class="r">5</td>'));
  assert.ok(!table.includes('<script>'));
  const page = htmlPage('t<1>', 's&s', [{ id: 'a', title: 'A & B', html: inlineSvg('<?xml version="1.0"?>\n<svg></svg>') }]);
  assert.ok(page.startsWith('<!DOCTYPE html>'));
  assert.ok(page.includes('<h2>A &amp; B</h2>\n<svg></svg>'));
  assert.ok(!page.includes('t<1>'));
});

test('text escapes: control characters shown as ls -b shows them, a backslash doubled so the two never look alike', () => {
  assert.equal(escapeText('a\x1b[2Jb\nc'), 'a\\x1b[2Jb\\nc');
  assert.equal(escapeText('a\\x1b'), 'a\\\\x1b', 'the four characters \\x1b are not an ESC');
  assert.notEqual(escapeText('\x1b'), escapeText('\\x1b'));
  assert.equal(escapeText('plain name'), 'plain name');
  assert.equal(escapeXml('<\\>'), '&lt;\\\\&gt;');
  // composed text of names already escaped once: a raw control is caught, escapes are not doubled
  assert.equal(escapeTextKeepLines(`${escapeText('a\x1b')}\n\x07`), 'a\\x1b\n\\x07');
});

test('maps: a newline the kernel wrote as \\012 is read back as the newline the file name has', () => {
  const [m] = parseMaps('7f0000000000-7f0000001000 r--p 00000000 08:01 42 /tmp/a\\012b.dat\n');
  assert.equal(m.path, '/tmp/a\nb.dat');
});

test('ProfileStacks: reports merge, past the limit the least counted fold per process, totals kept', () => {
  const p = new ProfileStacks(2);
  const at = (pid: number, sym: string, count: number): CountedStack => ({ pid, comm: 'w', count, user: [fr(sym, 'w')], kernel: [] });
  // report 1: three stacks of pid 1, one of pid 2 — two kept, the rest folded per process
  for (const s of [at(1, 'a', 10), at(1, 'b', 1), at(1, 'c', 5), at(2, 'd', 2)]) p.add(s);
  p.settle();
  // report 2: a again, and new stacks that fold into the same per-process overflow samples
  for (const s of [at(1, 'a', 4), at(1, 'e', 1), at(2, 'f', 3)]) p.add(s);
  const out = p.stacks();
  const by = new Map(out.map((s) => [`${s.pid}:${s.user[0].symbol}`, s.count]));
  const over = "[stacks over the profile's limit of 2]";
  assert.equal(by.get('1:a'), 14);
  assert.equal(out.reduce((a, s) => a + s.count, 0), 26);
  // at most the limit of real stacks; the folded ones are one sample per process
  assert.equal(out.filter((s) => !s.user[0].note).length, 2);
  assert.deepEqual(
    out.filter((s) => s.user[0].symbol === over).map((s) => s.pid).sort(),
    [1, 2],
  );
});
