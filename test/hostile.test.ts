// SPDX-License-Identifier: Apache-2.0
// Names chosen by an attacker never act on the reader's terminal or break SVG/HTML: a process named
// ESC "[31m<s>" newline "row" (prctl) maps a file named ESC "[2Jevil" newline "fake row<script>.dat",
// and runs from a directory named likewise; every text renderer shows them escaped (\x1b, \n),
// SVG parses as XML in Chromium, JSON keeps the exact values.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jsonLines, memscope, Running, start, startMemscope, Result } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { ROOT, workload } from './lib/workloads';
import * as html from '../src/render/html';

const COMM = '\x1b[31m<s>\nrow';
const COMM_SHOWN = '\\x1b[31m<s>\\nrow';
const FILE = '\x1b[2Jevil\nfake row<script>.dat';
const FILE_SHOWN = '\\x1b[2Jevil\\nfake row<script>.dat';
const DIR = '\x1b[2Jdir\nfake row<script>';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-hostile-'));
const dir = path.join(base, DIR);
fs.mkdirSync(dir);
after(() => fs.rmSync(base, { recursive: true, force: true }));

/** No raw control character but line breaks; no line starting as a faked row would. */
function assertClean(text: string, what: string): void {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.exec(text);
  assert.equal(raw, null, `${what}: raw control character ${JSON.stringify(raw?.[0])} in ${JSON.stringify(text.slice(0, 2000))}`);
  assert.doesNotMatch(text, /^(row|fake row)/m, `${what}: a name's newline started a line`);
}

async function startHostile(): Promise<Running> {
  // the binary is copied into the hostile directory, so its path (in cmdline and maps) carries it too
  const bin = path.join(dir, 'hostile');
  if (!fs.existsSync(bin)) fs.copyFileSync(workload('hostile'), bin);
  fs.chmodSync(bin, 0o755);
  const w = start(bin, [dir]);
  await w.waitFor('ready');
  return w;
}

/** Traces one run of the workload with memscope (stopping when it exits). */
async function traceHostile(args: (pid: number) => string[]): Promise<Result> {
  const w = await startHostile();
  try {
    const ms = await startMemscope(args(w.pid));
    w.send('go');
    await w.waitFor('done');
    w.send('exit');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    return r;
  } finally {
    w.kill();
  }
}

const TRACERS: [string, (pid: number) => string[], string[]][] = [
  ['faults', (p) => ['faults', '-p', String(p)], [`    ${COMM_SHOWN} [`]],
  ['brkstack', (p) => ['brkstack', '-p', String(p)], [`    ${COMM_SHOWN} [`, 'grow_heap']],
  ['brksize', (p) => ['brksize', '-p', String(p)], [`@brk_bytes[${COMM_SHOWN}, `]],
  ['mmapsnoop', (p) => ['mmapsnoop', '-p', String(p)], [COMM_SHOWN, FILE_SHOWN]],
  ['ffaults', (p) => ['ffaults', '-p', String(p)], [FILE_SHOWN]],
  ['vmgrowth', (p) => ['vmgrowth', '-p', String(p)], [COMM_SHOWN]],
  ['trace', (p) => ['trace', '-p', String(p), 't:syscalls:sys_enter_brk'], [COMM_SHOWN]],
  ['count -P', (p) => ['count', '-P', '-p', String(p), 't:syscalls:sys_enter_brk'], [COMM_SHOWN]],
  ['stackcount -P', (p) => ['stackcount', '-P', '-p', String(p), 't:syscalls:sys_enter_brk'], [`    ${COMM_SHOWN} [`]],
];

for (const [name, args, shown] of TRACERS) {
  test(`hostile names: ${name} shows the process's names escaped`, async () => {
    let r = await traceHostile(args);
    // ffaults names a fault's file through bpf_find_vma, which another tracer on this busy machine
    // can hold at that instant ("[vma busy]", see ffaults --help): try again, a few times at most
    for (let i = 0; i < 3 && r.stdout.includes('[vma busy]') && !shown.every((x) => r.stdout.includes(x)); i++) r = await traceHostile(args);
    assertClean(r.stdout, `${name} stdout`);
    assertClean(r.stderr, `${name} stderr`);
    for (const s of shown) assert.ok(r.stdout.includes(s), `${name}: ${JSON.stringify(s)} not in\n${r.stdout}`);
  });
}

test('hostile names: ps and pmap show command lines and mappings escaped; JSON keeps them exact', async () => {
  const w = await startHostile();
  try {
    w.send('go');
    await w.waitFor('done');
    const ps = memscope(['ps']);
    assert.equal(ps.code, 0, ps.stderr);
    assertClean(ps.stdout, 'ps');
    const row = ps.stdout.split('\n').find((l) => new RegExp(`^\\s*${w.pid} `).test(l));
    // escaped as \x1b and \n, or as procps ps shows a command line (? for a control character, a space for a newline)
    assert.match(row ?? '', /(\\x1b|\?)\[2Jdir(\\n| )fake row<script>\/hostile /, `ps row: ${row}`);

    const psj = memscope(['ps', '--json']);
    const rec = jsonLines(psj.stdout).find((x) => x.pid === w.pid);
    assert.ok(rec.comm.startsWith('\x1b[31m<s>'), rec.comm); // raw ESC (/proc/PID/status itself writes the newline as \n)
    assert.equal(rec.command, `${dir}/hostile ${dir}`);

    const pmap = memscope(['pmap', String(w.pid)]);
    assert.equal(pmap.code, 0, pmap.stderr);
    assertClean(pmap.stdout, 'pmap');
    // the command line as ps shows it (escaped, or procps' ? and space)
    assert.match(
      pmap.stdout.split('\n')[0],
      new RegExp(`^${w.pid}: {3}\\S+/(\\\\x1b|\\?)\\[2Jdir(\\\\n| )fake row<script>/hostile `),
      pmap.stdout.slice(0, 200),
    );
    // /proc/PID/maps writes a newline in a path as \012 and the ESC raw; memscope reads the name back
    // exactly and shows both escaped
    assert.match(pmap.stdout, /\\x1b\[2Jevil\\nfake row<script>\.dat\n/, pmap.stdout);
    const pmapx = memscope(['pmap', '-x', String(w.pid)]);
    assertClean(pmapx.stdout, 'pmap -x');
  } finally {
    w.send('exit');
    await w.exited;
  }
});

function chromiumDom(file: string): string {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-chromium-'));
  try {
    const c = spawnSync(
      'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        `--user-data-dir=${profile}`,
        '--dump-dom',
        `file://${file}`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(c.status, 0, c.stderr);
    return c.stdout;
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

test('hostile names: the faults flame graph is valid XML (Chromium parses it) and shows the name escaped', async () => {
  const svg = path.join(base, 'faults.svg');
  const r = await traceHostile((p) => ['faults', '-p', String(p), '--svg', svg]);
  const text = fs.readFileSync(svg, 'utf8');
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  assert.equal(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.exec(text), null, 'XML-invalid character in the SVG');
  assert.ok(text.includes(`<title>${COMM_SHOWN.replace('<', '&lt;').replace('>', '&gt;')} (`), 'the comm frame, escaped');
  const dom = chromiumDom(svg);
  assert.doesNotMatch(dom, /parsererror/, dom.slice(0, 1500));
  assert.match(dom, /^<svg /);
  assertClean(r.stderr, 'faults --svg stderr');
});

test('hostile names: flamegraph of a folded file with BEL and ESC gives valid XML; its text output is escaped', () => {
  const folded = path.join(base, 'e.folded');
  fs.writeFileSync(folded, `a;\x07b 5\n\x1b[2Jx;<script>y 3\n`);
  const svg = path.join(base, 'e.svg');
  const r = memscope(['flamegraph', folded, '--svg', svg]);
  assert.equal(r.code, 0, r.stderr);
  const text = fs.readFileSync(svg, 'utf8');
  assert.ok(text.includes('<title>\\x07b (5 samples'), 'BEL shown escaped');
  assert.ok(text.includes('<title>\\x1b[2Jx (3 samples'), 'ESC shown escaped');
  assert.ok(text.includes('<title>&lt;script&gt;y (3 samples'), '<> still escaped');
  const dom = chromiumDom(svg);
  assert.doesNotMatch(dom, /parsererror/, dom.slice(0, 1500));
  // to standard output as well
  const out = memscope(['flamegraph', folded]);
  assert.equal(out.code, 0, out.stderr);
  assertClean(out.stdout, 'flamegraph to stdout');
});

test('hostile names: the HTML renderer escapes control characters and <>&" in text and tables', () => {
  const page: string = html.htmlPage(`report for ${COMM}`, FILE, [
    { id: 't', title: COMM, html: html.htmlTable(['COMM', 'FILE'], [[COMM, FILE]]) + `<p>${html.escapeHtml(`${FILE} & "q"`)}</p>` },
  ]);
  assertClean(page.replace(/\n/g, ''), 'HTML');
  assert.ok(page.includes(`<td>\\x1b[31m&lt;s&gt;\\nrow</td>`), 'table cell escaped');
  assert.ok(page.includes('\\x1b[2Jevil'), 'file name escaped');
  assert.ok(page.includes('&amp; &quot;q&quot;'));
  assert.ok(!page.includes('<script>.dat'), 'no raw <script>');
});

test('hostile names: oomlog -f prints log names escaped', () => {
  const log = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'oom-6.18-dmesg.txt'), 'utf8').replace(/triage_hog/g, '\x1b[2Jhog<script>');
  const file = path.join(base, 'oom.txt');
  fs.writeFileSync(file, log);
  const r = memscope(['oomlog', '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  assertClean(r.stdout, 'oomlog');
  assert.match(r.stdout, /killed: {6}\\x1b\[2Jhog<script> \(PID \d+\)/);
  const j = jsonLines(memscope(['oomlog', '-f', file, '--json']).stdout);
  assert.equal(j[0].victim.comm, '\x1b[2Jhog<script>');
});

test('hostile names: error lines quote what users typed escaped, on one line', () => {
  const r = memscope(['pmap', '\x1b[2J\nfake']);
  assert.equal(r.code, 2);
  assertClean(r.stderr, 'error line');
  assert.equal(r.stderr.split('\n').length, 2, r.stderr);
});

after(() => assertNothingLoaded());
