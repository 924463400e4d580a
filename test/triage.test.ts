// SPDX-License-Identifier: Apache-2.0
// triage on staged trouble, each in a memory cgroup this test creates and removes: a quiet
// system, a process faulting fast, a process swapping actively, an OOM kill; and its HTML page
// opened in headless Chromium.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { memscope, Running } from './lib/run';
import { MemoryCgroup, Swapfile, vmstat } from './lib/scenario';
import { workload } from './lib/workloads';
import { assertNothingLoaded } from './lib/bpf';

const started = Date.now();
const sinceStart = () => String(Math.ceil((Date.now() - started) / 1000) + 1);

function triage(args: string[]): any {
  const r = memscope(['triage', '--json', ...args], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, r.stderr);
  // progress on stderr, in checklist order
  assert.match(r.stderr, /memscope triage: 1\/9 OOM kills in the kernel log: /);
  assert.match(r.stderr, /memscope triage: 9\/9 hardware cache misses/);
  return JSON.parse(r.stdout);
}

/** A hog in its own memory cgroup, started and running before triage looks. */
async function hogIn(cg: MemoryCgroup, args: string[], env: Record<string, string> = {}): Promise<Running> {
  const argv = cg.wrap([workload('triage_hog'), ...args]);
  const hog = new Running(spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] }));
  await hog.waitFor('touched', 60_000);
  return hog;
}

/** Page faults per second of a process over one second (/proc/PID/stat minflt + majflt). */
async function faultRate(pid: number): Promise<number> {
  const faults = () => {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[7]) + Number(f[9]);
  };
  const [f0, t0] = [faults(), Date.now()];
  await new Promise((r) => setTimeout(r, 1000));
  return ((faults() - f0) * 1000) / (Date.now() - t0);
}

const problems = (r: any) => r.findings.filter((f: any) => f.severity === 'critical' || f.severity === 'warning');

/** What the test itself sees of the system: swap and reclaim counters, per-process faults, memcg limit hits. */
function sample() {
  const faults = new Map<number, number>();
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      faults.set(Number(pid), Number(f[7]) + Number(f[9]));
    } catch {
      /* exited */
    }
  }
  const fails = new Map<string, number>();
  const walk = (dir: string, depth: number) => {
    if (depth > 4) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      try {
        fails.set(`${dir}/${e.name}`, Number(fs.readFileSync(`${dir}/${e.name}/memory.failcnt`, 'utf8')));
      } catch {
        /* not a v1 memcg */
      }
      walk(`${dir}/${e.name}`, depth + 1);
    }
  };
  if (fs.existsSync('/sys/fs/cgroup/memory/memory.failcnt')) walk('/sys/fs/cgroup/memory', 1);
  return { at: Date.now(), vm: vmstat(), faults, fails };
}

/** Why the system was not quiet between two samples (by the test's own measure), or null. */
function notQuiet(a: ReturnType<typeof sample>, b: ReturnType<typeof sample>): string | null {
  const s = (b.at - a.at) / 1000;
  const d = (k: string) => (b.vm[k] ?? 0) - (a.vm[k] ?? 0);
  if (d('pswpin') + d('pswpout') >= 256) return `swapping: ${d('pswpin')} in, ${d('pswpout')} out`;
  if (d('pgmajfault') / s >= 50) return `major faults ${d('pgmajfault')}`;
  if (d('pgscan_anon') + d('pgscan_file') > 0) return 'page scanning (reclaim)';
  for (const [pid, n] of b.faults) if (a.faults.has(pid) && (n - a.faults.get(pid)!) / s >= 5000) return `PID ${pid} faulting`;
  for (const [cg, n] of b.fails) if (a.fails.has(cg) && n > a.fails.get(cg)!) return `memcg ${cg} at its limit`;
  return null;
}

test('quiet system: no problem, every step says what it checked', () => {
  // Other work on the machine (another test suite's swap storm) is real trouble that triage must
  // report: a run counts as quiet only when the test's own measurements around it say so.
  let r: any;
  const noise: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const a = sample();
    // OOM kills before this test file started are history, not this system's problem now
    r = triage(['-d', '4', '--since', sinceStart()]);
    const why = notQuiet(a, sample());
    if (!why) break;
    // not quiet: whatever triage found must then be a problem
    noise.push(why);
    r = undefined;
  }
  assert.ok(r, `the system was never quiet for a triage run: ${noise.join('; ')}`);
  assert.deepEqual(problems(r), [], JSON.stringify(r.findings, null, 1));
  assert.deepEqual(
    r.steps.map((s: any) => s.id),
    ['oom', 'swap', 'memory', 'processes', 'faults', 'files', 'growth', 'reclaim', 'pmc'],
  );
  assert.ok(r.steps.filter((s: any) => s.status === 'clean').length >= 6, JSON.stringify(r.steps));
  assert.equal(r.steps[8].status, 'not available'); // no PMU on this VM
  assert.match(r.steps[8].summary, /no hardware PMU/);
  const text = memscope(['triage', '-d', '3', '--since', sinceStart()], { timeoutMs: 90_000 });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^(No problem found\.|Findings, most severe first:)$/m);
  assert.match(text.stdout, /\n  2\. swap configured, used and active +(nothing wrong found in swap|info|problem): /);
});

test('a process faulting fast: triage names it and the function in its stack; the HTML page shows it in Chromium', async () => {
  const cg = new MemoryCgroup('memscope-triage-faults', 512 << 20);
  const html = path.join(os.tmpdir(), `memscope-triage-${process.pid}.html`);
  let hog: Running | undefined;
  try {
    hog = await hogIn(cg, ['64', '0'], { HOG_FRESH: '1' });
    // How fast the hog faults depends on the machine and on what else runs on it (triage's own
    // eight tools starting on two busy cores cut it to a third here): what counts as high is set
    // well below the rate it reached just now, so the test asks the same of any machine.
    const rate = await faultRate(hog.pid);
    const r = triage(['-d', '6', '--since', sinceStart(), '--html', html, '--fault-rate', String(Math.max(1, Math.floor(rate / 10)))]);
    const f = r.findings.find((x: any) => x.step === 'faults' && x.severity === 'warning' && x.title.includes(`(PID ${hog!.pid})`));
    assert.ok(f, `${rate} faults/s before; ${JSON.stringify(r.steps.find((x: any) => x.id === 'faults'))}; ${JSON.stringify(r.findings, null, 1)}`);
    assert.match(f.title, new RegExp(`^High page-fault rate: triage_hog \\(PID ${hog.pid}\\) [\\d,]+ faults/s .*, in touch_pages ← main`));
    assert.ok(f.dig.includes(`memscope faults -p ${hog.pid} 10`));
    assert.equal(r.steps.find((s: any) => s.id === 'faults').status, 'problem');
    const stack = r.tables.faultStacks.find((s: any) => s.pid === hog!.pid);
    assert.match(stack.ustack[0], /^touch_pages\+0x[0-9a-f]+ \[triage_hog\]$/);

    // the page, after its scripts ran
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-chromium-'));
    try {
      const c = spawnSync(
        'chromium',
        ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--dump-dom', `file://${html}`],
        { encoding: 'utf8', timeout: 60_000 },
      );
      assert.equal(c.status, 0, c.stderr);
      const dom = c.stdout;
      assert.match(dom, /<body data-rendered="yes">/); // the page's script ran
      assert.match(dom, /<div id="overview" class="sub">Findings: (\d+ critical, )?\d+ warning/);
      assert.ok(dom.includes(`High page-fault rate: triage_hog (PID ${hog.pid})`), 'finding on the page');
      // the flame graph: inline SVG whose frames name the hog's functions, laid out by its script
      const svg = /<svg [^>]*data-total="(\d+)"[\s\S]*?<\/svg>/.exec(dom);
      assert.ok(svg, 'flame graph SVG');
      assert.ok(Number(svg![1]) > 0);
      assert.match(svg![0], /<title>touch_pages \([\d,]+ page faults, [\d.]+%\)<\/title>/);
      assert.match(svg![0], /<g class="f" data-x="\d+" data-w="\d+" data-d="\d+"><title>triage_hog /);
      assert.match(svg![0], /<rect x="\d+(\.\d+)?" y="\d+" width="[\d.]+" height="15" rx="2"/);
    } finally {
      fs.rmSync(profile, { recursive: true, force: true });
    }
  } finally {
    hog?.kill();
    cg.dispose();
    fs.rmSync(html, { force: true });
  }
});

test('a process swapping actively: triage reports swap activity naming it', async () => {
  const swap = new Swapfile(256, `/var/tmp/memscope-triage-${process.pid}.swap`);
  const cg = new MemoryCgroup('memscope-triage-swap', 32 << 20, { swappiness: 100 });
  let hog: Running | undefined;
  try {
    // 64 MB touched over and over in 32 MB: pages go out to swap and come back in all the time
    hog = await hogIn(cg, ['64', '0']);
    const r = triage(['-d', '6', '--since', sinceStart()]);
    const f = r.findings.find((x: any) => x.step === 'swap' && (x.severity === 'warning' || x.severity === 'critical'));
    assert.ok(f, JSON.stringify(r.findings, null, 1));
    assert.match(f.title, /^Active swapping: [\d.]+ [kMG]i?B\/s in, [\d.]+ [kMG]i?B\/s out; /);
    assert.ok([f.title, ...f.details].some((l: string) => l.includes(`triage_hog (PID ${hog!.pid})`)), JSON.stringify(f));
    assert.equal(r.steps.find((s: any) => s.id === 'swap').status, 'problem');
    // the cgroup at its limit is a finding of its own
    assert.ok(r.findings.some((x: any) => x.step === 'memory' && x.title.startsWith(`Memory cgroup ${cg.name} is hitting its limit`)), JSON.stringify(r.findings, null, 1));
  } finally {
    hog?.kill();
    cg.dispose();
    swap.dispose();
  }
});

test('after an OOM kill: the top finding names the killed process', () => {
  const cg = new MemoryCgroup('memscope-triage-oom', 32 << 20);
  try {
    const argv = cg.wrap([workload('triage_hog'), '128']);
    const child = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
    assert.equal(child.signal, 'SIGKILL');
    const r = triage(['-d', '3', '--since', sinceStart()]);
    const top = r.findings[0];
    assert.equal(top.step, 'oom');
    assert.equal(top.severity, 'critical');
    assert.match(top.title, new RegExp(`^OOM kill \\d+ s ago: triage_hog \\(PID ${child.pid}\\) was killed; memory cgroup ${cg.name} hit its limit$`));
    assert.ok(top.dig.includes('memscope oomlog'));
    assert.equal(r.steps[0].status, 'problem');
  } finally {
    cg.dispose();
  }
});

test('bad input: one line', () => {
  for (const [args, re] of [
    [['triage', '-d', 'x'], /^memscope: triage: .*positive number/],
    [['triage', '-d', '1'], /^memscope: triage needs --duration of at least 2 seconds/],
    [['triage', '--html', '/nonexistent/dir/x.html'], /^memscope: cannot write \/nonexistent\/dir\/x.html: no such directory/],
  ] as [string[], RegExp][]) {
    const r = memscope(args, { timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
});

after(() => assertNothingLoaded());
