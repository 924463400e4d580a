// SPDX-License-Identifier: Apache-2.0
// The live dashboard in a real browser (Debian's chromium, headless, driven by playwright-core)
// against a live `memscope dashboard` and known workloads: the process table shows them, hostile
// names stay text, a fault trace started from the page shows the workload's function with its
// count, memleak started from the page shows the leak site's exact outstanding bytes, an OOM kill in
// a memory cgroup reaches the timeline and the OOM view, POSTs need the session's CSRF token, the
// stream resumes after a restart. Screenshots of every view at 1280x800 and 390 px wide are kept in
// build/artifacts/dashboard, and no view overflows sideways.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import * as http from 'node:http';
import { MEMSCOPE, Running, start } from './lib/run';
import { MemoryCgroup } from './lib/scenario';
import { workload } from './lib/workloads';
import { assertNothingLoaded } from './lib/bpf';
import { screenshot, TestBrowser, WatchedPage } from './lib/browser';
import { slope } from '../src/tools/memleak/growth';

const HOSTILE = '<img src=x onerror=alert(1)>';
const HOSTILE_CG = '<svg onload=alert(2)>';
const PAGES = 3000;
// as faults.test.ts: a stack page or page-table page touched from the same frame may add a few
const ALLOWANCE = 8;

let browser: TestBrowser;
let server: Running;
let base = '';

async function startServer(listen = '127.0.0.1:0'): Promise<{ server: Running; base: string }> {
  const s = start(MEMSCOPE, ['dashboard', '--listen', listen]);
  await s.waitFor(/memscope dashboard: http:\/\/127\.0\.0\.1:\d+\//);
  return { server: s, base: /http:\/\/127\.0\.0\.1:\d+/.exec(s.stdout)![0] };
}

before(async () => {
  ({ server, base } = await startServer());
  browser = await TestBrowser.launch();
});

after(async () => {
  await browser?.close();
  await server?.interrupt();
  assertNothingLoaded();
});

/** Text of the elements matching a selector (in-page code is a string: the tests have no DOM types). */
async function texts(w: WatchedPage, selector: string): Promise<string[]> {
  return w.page.evaluate<string[]>(`[...document.querySelectorAll(${JSON.stringify(selector)})].map((e) => e.textContent)`);
}

/** Waits until an in-page expression is true (page.waitForFunction would eval inside the page, which its CSP forbids). */
async function until(w: WatchedPage, expr: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await w.page.evaluate<boolean>(expr))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${expr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A request with any Host header (fetch will not send one that differs from the URL). */
function getStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

function clean(w: WatchedPage): void {
  assert.deepEqual(w.dialogs, [], 'a dialog opened: a name ran as script');
  assert.deepEqual(w.errors, [], 'console errors or CSP violations');
}

test('the process table shows a workload with its memory cgroup; hostile process and cgroup names render as text and no dialog fires', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-dash-'));
  const cg = new MemoryCgroup(HOSTILE_CG, 256 << 20);
  const exe = path.join(dir, HOSTILE);
  fs.copyFileSync(workload('fault_touch'), exe);
  fs.chmodSync(exe, 0o755);
  // (cg.wrap's shell line cannot hold this name: the pid joins the cgroup once started)
  const w0 = start(exe, ['10']);
  try {
    await w0.waitFor('ready');
    cg.add(w0.pid);
    const w = await browser.open(`${base}/#/processes`);
    const row = `table.procs tr[data-pid="${w0.pid}"]`;
    await w.page.waitForSelector(row, { timeout: 15_000 });
    // the kernel keeps 15 characters of a command name
    assert.equal(await w.page.textContent(`${row} td[data-key=comm]`), HOSTILE.slice(0, 15));
    assert.equal(await w.page.textContent(`${row} td[data-key=cgroup]`), `/${HOSTILE_CG}`);
    assert.match((await w.page.textContent(`${row} td[data-key=cg]`)) ?? '', /\/ 256 MiB \(\d+%\)$/);
    // the filter finds it by its cgroup
    await w.page.fill('input.filter', HOSTILE_CG);
    await until(w, `document.querySelectorAll('table.procs tbody tr').length === 1`);
    // click through: the process view shows its whole command line as text
    await w.page.click(row);
    await w.page.waitForSelector(`.view.process[data-pid="${w0.pid}"][data-loaded=yes]`);
    assert.equal(await w.page.textContent('.proc-head .cmdline'), `${exe} 10`);
    assert.equal(await w.page.textContent('.proc-head .comm'), HOSTILE.slice(0, 15));
    assert.ok((await texts(w, '.segments td.mapping')).includes(exe), 'pmap -x lists the executable');
    assert.equal(await w.page.evaluate<number>(`document.querySelectorAll('img, svg[onload]').length`), 0, 'markup from a name reached the DOM');
    await w.page.waitForTimeout(500); // an onerror would have fired by now
    clean(w);
    await w.page.close();
  } finally {
    w0.kill();
    cg.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a POST without the session CSRF token is refused; with it, a trace starts (and a bad pid is one clear error)', async () => {
  const w = await browser.open(`${base}/#/overview`);
  const noToken = await w.page.evaluate<number>(
    `fetch('/api/dash/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ kind: 'faults', pid: 1, seconds: 1 }) }).then((r) => r.status)`,
  );
  assert.equal(noToken, 403);
  const wrong = await w.page.evaluate<number>(
    `fetch('/api/dash/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': '00' }, body: '{}' }).then((r) => r.status)`,
  );
  assert.equal(wrong, 403);
  // from outside the page: no session cookie, so no token can match
  const r = await fetch(`${base}/api/dash/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': 'x' }, body: '{}' });
  assert.equal(r.status, 403);
  const bad = await w.page.evaluate<any>(
    `fetch('/api/dash/session').then((r) => r.json()).then((s) => fetch('/api/dash/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf }, body: JSON.stringify({ kind: 'faults', pid: 999999999, seconds: 1 }) })).then(async (r) => [r.status, await r.json()])`,
  );
  assert.deepEqual(bad, [400, { error: 'no process 999999999' }]);
  // a Host that is not loopback (DNS rebinding) is refused
  assert.equal(await getStatus(`${base}/api/dash/session`, { Host: 'evil.example:9477' }), 421);
  assert.equal(await getStatus(`${base}/`, { Host: 'evil.example' }), 421);
  // the refusals above are logged by the browser; nothing else may be
  assert.deepEqual(
    w.errors.splice(0).map((e) => e.replace(/.*status of (\d+).*/, '$1')),
    ['403', '403', '400'],
  );
  clean(w);
  await w.page.close();
});

test("the process view's page-fault flame graph, traced from the page, shows the workload's function with its fault count", async () => {
  const wl = start(workload('fault_touch'), [String(PAGES)]);
  try {
    await wl.waitFor('ready');
    const w = await browser.startTrace(base, wl.pid, 'faults', 60);
    wl.send('go');
    await wl.waitFor('done');
    // the workload exits: the trace ends with its report
    await w.page.waitForSelector('section.faults[data-state=done]', { timeout: 30_000 });
    const frame = 'touch_pages [fault_touch]';
    const cell = `section.faults table.top-stacks tr[data-frame="${frame}"] td[data-value]`;
    await w.page.waitForSelector(cell);
    const count = Number(await w.page.getAttribute(cell, 'data-value'));
    assert.ok(count >= PAGES && count <= PAGES + ALLOWANCE, `touch_pages faults: ${count}`);
    // the flame graph's frame says the same number
    const title = await w.page.textContent(`section.faults .flame-chart g[name="${frame}"] title`);
    assert.equal(title, `${frame} (${count.toLocaleString('en-US')} faults)`);
    // search highlights it; the inverted view still draws it; downloads carry it
    await w.page.fill('section.faults input.flame-search', 'touch_pages');
    await until(w, `document.querySelector('section.faults .flame-details').textContent.startsWith('search: ')`);
    await w.page.check('section.faults input.flame-invert');
    await w.page.waitForSelector(`section.faults .flame-chart g[name="${frame}"]`);
    const folded = await w.page.evaluate<string>(`fetch(document.querySelector('section.faults a.dl-folded').href).then((r) => r.text())`);
    assert.match(folded, new RegExp(`^fault_touch;(.*;)?main \\[fault_touch\\];touch_pages \\[fault_touch\\] ${count}$`, 'm'));
    const svg = await w.page.evaluate<string>(`fetch(document.querySelector('section.faults a.dl-svg').href).then((r) => r.text())`);
    assert.match(svg, /^<\?xml|^<svg/);
    assert.ok(svg.includes('touch_pages [fault_touch]'));
    // pprof: go tool pprof reads the download and finds the function with the same count
    const b64 = await w.page.evaluate<string>(
      `fetch(document.querySelector('section.faults a.dl-pprof').href).then((r) => r.arrayBuffer()).then((b) => { let s = ''; new Uint8Array(b).forEach((x) => (s += String.fromCharCode(x))); return btoa(s); })`,
    );
    const pb = path.join(os.tmpdir(), `memscope-dash-${process.pid}.pb.gz`);
    fs.writeFileSync(pb, Buffer.from(b64, 'base64'));
    try {
      const traces = execFileSync('go', ['tool', 'pprof', '-traces', pb], {
        encoding: 'utf8',
        env: { ...process.env, HOME: os.tmpdir(), PPROF_TMPDIR: os.tmpdir() },
      });
      assert.match(traces, new RegExp(`^\\s+${count}\\s+touch_pages$`, 'm'), traces);
    } finally {
      fs.rmSync(pb, { force: true });
    }
    for (const [name, vp] of [
      ['process-wide', { width: 1280, height: 800 }],
      ['process-phone', { width: 390, height: 844 }],
    ] as const) {
      await w.page.setViewportSize(vp);
      await w.page.waitForTimeout(300);
      assert.equal(await screenshot(w.page, name), 0, `${name} overflows sideways`);
    }
    clean(w);
    await w.page.close();
  } finally {
    wl.kill();
  }
});

test('memleak started from the page shows the leak site with its exact outstanding bytes, updating while it runs', async () => {
  const wl = start(workload('memleak_sites'));
  try {
    await wl.waitFor('ready');
    const w = await browser.startTrace(base, wl.pid, 'memleak', 120);
    wl.send('go');
    await wl.waitFor('done');
    const cell = `section.memleak table.top-stacks tr[data-frame="leak_a [memleak_sites]"] td[data-value]`;
    await w.page.waitForSelector(cell, { timeout: 15_000 });
    assert.equal(Number(await w.page.getAttribute(cell, 'data-value')), 100 * 1000);
    const b = `section.memleak table.top-stacks tr[data-frame="leak_b [memleak_sites]"] td[data-value]`;
    assert.equal(Number(await w.page.getAttribute(b, 'data-value')), 50 * 64);
    // reports keep coming while it runs: a second report, then the diff of two windows
    await until(
      w,
      `/report [2-9]/.test(document.querySelector('section.memleak .job-status').textContent + [...document.querySelectorAll('section.memleak option')].map((o) => o.textContent).join())`,
      15_000,
    );
    const title = await w.page.textContent(`section.memleak .flame-chart g[name="leak_a [memleak_sites]"] title`);
    assert.match(title ?? '', /^leak_a \[memleak_sites\] \(97\.7 KiB/);
    await w.page.check('section.memleak input.diff-toggle');
    await w.page.waitForSelector('section.memleak section.flame.diff');
    await w.page.click('section.memleak button.stop');
    await w.page.waitForSelector('section.memleak[data-state=done]', { timeout: 30_000 });
    clean(w);
    await w.page.close();
  } finally {
    wl.kill();
  }
});

/** web/src/format.ts's bytes() for 1 KiB and up (as the page's labels show them) */
function kib(n: number): string {
  const UNITS = ['KiB', 'MiB', 'GiB'];
  let v = Math.abs(n) / 1024;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || (i === 0 && Number.isInteger(v)) ? Math.round(v) : v.toFixed(1)} ${UNITS[i]}`;
}

test("memleak from the page: a stack's growth rate is the slope of its outstanding bytes over the tracer's report times, and matches a leak of known rate; the diff of two reports and the icicle view", async () => {
  // leak_tick mallocs N bytes every P ms: RATE bytes per second
  const N = 1024;
  const P = 100;
  const RATE = (N * 1000) / P;
  const wl = start(workload('leak_rate'), [String(N), String(P)]);
  try {
    await wl.waitFor('ready');
    const w = await browser.startTrace(base, wl.pid, 'memleak', 120);
    wl.send('go');
    const frame = 'leak_tick [leak_rate]';
    const read = () =>
      w.page.evaluate<{ report: number; t: number; bytes: number; growth: string } | null>(`(() => {
        const t = document.querySelector('section.memleak table.top-stacks');
        const r = t && t.querySelector('tr[data-frame=${JSON.stringify(frame)}]');
        if (!r) return null;
        return { report: Number(t.dataset.report), t: Number(t.dataset.t), bytes: Number(r.querySelector('td[data-value]').dataset.value), growth: r.querySelector('td.growth').dataset.growth };
      })()`);
    // every report from the first that holds the leak: 12 is as many as memleak's slope uses
    const points: { report: number; t: number; bytes: number; growth: string }[] = [];
    const deadline = Date.now() + 60_000;
    while (points.length < 12) {
      assert.ok(Date.now() < deadline, `reports seen: ${JSON.stringify(points)}`);
      const p = await read();
      if (p && p.report !== points[points.length - 1]?.report) points.push(p);
      await new Promise((r) => setTimeout(r, 50));
    }
    points.forEach((p, i) => {
      assert.equal(p.bytes % N, 0, `outstanding bytes are whole ticks: ${p.bytes}`);
      if (i === 0) return;
      assert.equal(p.report, points[i - 1].report + 1, 'a report was missed');
      assert.ok(p.bytes >= points[i - 1].bytes && p.t > points[i - 1].t);
      // the rate shown is the least-squares slope of outstanding bytes over the report times the
      // tracer stamped (not over a nominal 1 s a report)
      const fit = Math.round(slope(points.slice(0, i + 1).map((q) => [q.t / 1000, q.bytes])));
      assert.ok(Math.abs(Number(p.growth) - fit) <= 1, `report ${p.report}: growth ${p.growth}, slope ${fit}`);
    });
    // against the known rate: the outstanding bytes are a staircase of N-byte steps, at most one
    // step off the line RATE*t; over a span S that moves a least-squares slope by at most ~1.5 N/S
    // (evenly spaced reports), allowed twice that for uneven ones. S from the tracer's own times.
    const last = points[points.length - 1];
    const span = (last.t - points[0].t) / 1000;
    const tolerance = (3 * N) / span;
    console.log(`# leak_tick: growth shown ${last.growth} B/s, known ${RATE} B/s, tolerance ${tolerance.toFixed(0)} B/s over ${span.toFixed(2)} s`);
    assert.ok(Math.abs(Number(last.growth) - RATE) <= tolerance, `growth ${last.growth} B/s, expected ${RATE} ± ${tolerance.toFixed(0)}`);
    const growthCell = await w.page.textContent(`section.memleak table.top-stacks tr[data-frame="${frame}"] td.growth`);
    assert.match(growthCell ?? '', /^\+\d+(\.\d)? KiB\/s$/);
    // stopped: its last report, then the diff of the first report that held the leak and the last
    await w.page.click('section.memleak button.stop');
    await w.page.waitForSelector('section.memleak[data-state=done]', { timeout: 30_000 });
    const fin = (await read())!;
    const first = await w.page.evaluate<string>(
      `[...document.querySelectorAll('section.memleak select[aria-label="first window"] option')].find((o) => / report ${points[0].report} /.test(o.textContent)).value`,
    );
    await w.page.selectOption('section.memleak select[aria-label="first window"]', first);
    await w.page.check('section.memleak input.diff-toggle');
    await w.page.waitForSelector('section.memleak section.flame.diff');
    const g = `section.memleak .flame-chart g[name="${frame}"]`;
    const title = (await w.page.textContent(`${g} title`)) ?? '';
    assert.ok(title.endsWith(`, change +${kib(fin.bytes - points[0].bytes)})`), `${title} (${points[0].bytes} → ${fin.bytes})`);
    // the icicle view: the root on top, the leak site below it; the flame graph has them the other way
    const top = (sel: string) => w.page.evaluate<number>(`document.querySelector(${JSON.stringify(sel)}).getBoundingClientRect().top`);
    const root = 'section.memleak .flame-chart g[name="all"]';
    assert.ok((await top(root)) > (await top(g)), 'flame graph: the root is at the bottom');
    await w.page.check('section.memleak input.flame-invert');
    await until(
      w,
      `document.querySelector(${JSON.stringify(root)}).getBoundingClientRect().top < document.querySelector(${JSON.stringify(g)}).getBoundingClientRect().top`,
      5000,
    );
    assert.ok((await w.page.textContent(`${g} title`))?.endsWith(`, change +${kib(fin.bytes - points[0].bytes)})`), 'the icicle view draws the diff too');
    clean(w);
    await w.page.close();
  } finally {
    wl.kill();
  }
});

test('an OOM kill in a memory cgroup appears on the timeline and in the OOM view within 5 s', async () => {
  const cg = new MemoryCgroup('memscope_dashboard_oom', 32 << 20, { swappiness: 0 });
  const argv = cg.wrap([workload('oom_touch'), '100']);
  const hog = new Running(spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] }));
  try {
    await hog.waitFor('ready');
    const w = await browser.open(`${base}/#/overview`);
    await w.page.waitForSelector('.findings li');
    hog.send('go');
    const h = await hog.exited;
    assert.equal(h.signal, 'SIGKILL', `not OOM-killed: ${h.stdout} ${h.stderr}`);
    const marker = `.oom-strip a.oom-marker`;
    await until(w, `[...document.querySelectorAll(${JSON.stringify(marker)})].some((a) => a.textContent.endsWith('oom_touch (${hog.pid})'))`, 5000);
    await w.page.click(`${marker}:has-text("oom_touch (${hog.pid})")`);
    const card = `.oom-card[data-victim-pid="${hog.pid}"]`;
    await w.page.waitForSelector(card, { timeout: 5000 });
    assert.equal(await w.page.textContent(`${card} dd[data-field="memory cgroup"]`), cg.name);
    assert.equal(await w.page.textContent(`${card} dd[data-field="limit"]`), '32.0 MiB');
    assert.equal(await w.page.textContent(`${card} dd[data-field="victim"]`), `oom_touch (PID ${hog.pid})`);
    assert.equal(await w.page.textContent(`${card} dd[data-field="constraint"]`), 'CONSTRAINT_MEMCG');
    clean(w);
    await w.page.close();
  } finally {
    hog.kill();
    cg.dispose();
  }
});

test('every view at 1280x800 and 390 px wide: screenshots kept, nothing overflows sideways', async () => {
  for (const [label, vp] of [
    ['wide', { width: 1280, height: 800 }],
    ['phone', { width: 390, height: 844 }],
  ] as const) {
    const w = await browser.open(`${base}/#/overview`, vp);
    await w.page.waitForSelector('.charts .uplot');
    await w.page.waitForSelector('.findings li');
    assert.equal(await screenshot(w.page, `overview-${label}`), 0, `overview ${label}`);
    await w.page.goto(`${base}/#/processes`);
    await w.page.waitForSelector('.view.processes[data-loaded=yes]');
    assert.equal(await screenshot(w.page, `processes-${label}`), 0, `processes ${label}`);
    await w.page.goto(`${base}/#/oom`);
    await w.page.waitForSelector('.oom-card, .oom-list .empty');
    assert.equal(await screenshot(w.page, `oom-${label}`), 0, `oom ${label}`);
    clean(w);
    await w.page.close();
  }
});

test('after the server restarts, the open page reconnects and goes on with the new instance', async () => {
  const w = await browser.open(`${base}/#/overview`);
  await w.page.waitForSelector('#conn:not(.down)');
  await until(w, `document.querySelector('#conn').textContent === 'live'`);
  const port = new URL(base).port;
  await server.interrupt();
  await until(w, `document.querySelector('#conn').textContent === 'reconnecting…'`, 10_000);
  ({ server, base } = await startServer(`127.0.0.1:${port}`));
  await until(w, `document.querySelector('#conn').textContent === 'live'`, 15_000);
  // new samples flow again (the chart's data is the page's; the session serves a new CSRF token)
  const instance = await fetch(`${base}/api/dash/session`).then((r) => r.json() as Promise<{ instance: string }>);
  await until(w, `document.body.dataset.instance === ${JSON.stringify(instance.instance)}`, 10_000);
  w.errors.splice(0); // the refused connections while it was down are logged by the browser
  clean(w);
  await w.page.close();
});
