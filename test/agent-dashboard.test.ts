// SPDX-License-Identifier: Apache-2.0
// The dashboard served by `memscope agent` at GET /, in a real browser, with what only the agent
// knows: the container name of a workload (a CRI-O container: its cgroup and the runtime's OCI
// config written by this test), the fault stacks it kept for a process (no trace started from the
// page), a fault trace started from the page as a window on the agent's own collections (no tool
// started), each process's swap-ins, and an OOM post-mortem with the victim's function in its flame
// graph.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { jsonLines, MEMSCOPE, Running, start, startMemscope } from './lib/run';
import { MemoryCgroup, Swapfile } from './lib/scenario';
import { workload } from './lib/workloads';
import { assertNothingLoaded } from './lib/bpf';
import { freePort } from './lib/agent';
import { screenshot, TestBrowser, WatchedPage } from './lib/browser';

const PAGES = 3000;
const ALLOWANCE = 8; // as faults.test.ts
const ID = 'd45b0a2d'.repeat(8); // a 64-hex container id
const CRIO_DIR = '/run/containers/storage/overlay-containers';

let browser: TestBrowser;
let agent: Running;
let base = '';
const CONFIG = path.join(os.tmpdir(), `memscope-agent-dashboard-${process.pid}.json`);

/** The command lines of a process's descendants. */
function descendants(pid: number): string[] {
  const out: string[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(/\) \S+ (\d+)/.exec(fs.readFileSync(`/proc/${d}/stat`, 'utf8'))![1]);
      if (ppid === pid) out.push(fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' '), ...descendants(Number(d)));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

async function until(w: WatchedPage, expr: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await w.page.evaluate<boolean>(expr))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${expr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  const port = await freePort();
  // every fault walked whatever the host's fault rate (the kept stacks' exact count below): past
  // faultStackRate faults a second on the host the agent samples (agent.test.ts tests that)
  fs.writeFileSync(CONFIG, JSON.stringify({ faultStackRate: 10_000_000 }));
  agent = start(MEMSCOPE, ['agent', '--listen', `127.0.0.1:${port}`, '--config', CONFIG]);
  await agent.waitFor('"event":"started"', 120_000);
  base = `http://127.0.0.1:${port}`;
  browser = await TestBrowser.launch();
});

after(async () => {
  await browser?.close();
  agent?.child.kill('SIGTERM');
  await agent?.exited;
  fs.rmSync(CONFIG, { force: true });
  assertNothingLoaded();
});

test("the agent's dashboard: the table names a workload's container; its process view shows the fault stacks the agent kept, with the exact count", async () => {
  // a CRI-O container as the runtime leaves it: cgroup crio-<id>.scope, OCI config with the pod's annotations
  const createdRun = !fs.existsSync('/run/containers');
  const dir = path.join(CRIO_DIR, ID, 'userdata');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      annotations: { 'io.kubernetes.container.name': 'dash-web', 'io.kubernetes.pod.name': 'shop-7d9', 'io.kubernetes.pod.namespace': 'default' },
    }),
  );
  const cg = new MemoryCgroup(`crio-${ID}.scope`, 512 << 20);
  const wl = new Running(
    spawn(cg.wrap([workload('fault_touch'), String(PAGES)])[0], cg.wrap([workload('fault_touch'), String(PAGES)]).slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  try {
    await wl.waitFor('ready');
    const w = await browser.open(`${base}/#/processes`);
    const row = `table.procs tr[data-pid="${wl.pid}"]`;
    await w.page.waitForSelector(row, { timeout: 15_000 });
    assert.equal(await w.page.textContent(`${row} td[data-key=container]`), 'dash-web');
    assert.equal(await w.page.textContent(`${row} td[data-key=cgroup]`), `/crio-${ID}.scope`);
    await w.page.click(row);
    await w.page.waitForSelector(`.view.process[data-pid="${wl.pid}"][data-loaded=yes]`);
    wl.send('go');
    await wl.waitFor('done');
    // no trace started from the page: the agent kept them; they show at its next collection. The
    // kept stacks are a running total: a collection made while the workload was still touching
    // shows part of them, and a later refresh the rest (the workload is done before "done")
    const frame = 'touch_pages [fault_touch]';
    const cell = `section.faults table.top-stacks tr[data-frame="${frame}"] td[data-value]`;
    await until(w, `Number(document.querySelector(${JSON.stringify(cell)})?.dataset.value ?? 0) >= ${PAGES}`, 30_000).catch(() => undefined);
    const count = Number(await w.page.getAttribute(cell, 'data-value'));
    assert.ok(count >= PAGES && count <= PAGES + ALLOWANCE, `touch_pages faults: ${count}`);
    assert.equal(await w.page.textContent(`section.faults .flame-chart g[name="${frame}"] title`), `${frame} (${count.toLocaleString('en-US')} faults)`);
    assert.equal(await screenshot(w.page, 'agent-process-wide'), 0);
    assert.deepEqual(w.dialogs, []);
    assert.deepEqual(w.errors, []);
    await w.page.close();
  } finally {
    wl.kill();
    cg.dispose();
    fs.rmSync(path.join(CRIO_DIR, ID), { recursive: true, force: true });
    if (createdRun) fs.rmSync('/run/containers', { recursive: true, force: true });
  }
});

test("the agent's OOM post-mortem: on the timeline and in the OOM view within 5 s, with the victim's fault stacks as a flame graph", async () => {
  const cg = new MemoryCgroup('memscope_dash_agent_oom', 32 << 20, { swappiness: 0 });
  const argv = cg.wrap([workload('oom_touch'), '100']);
  const hog = new Running(spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] }));
  try {
    await hog.waitFor('ready');
    const w = await browser.open(`${base}/#/overview`);
    await w.page.waitForSelector('.findings li');
    hog.send('go');
    const h = await hog.exited;
    assert.equal(h.signal, 'SIGKILL', `not OOM-killed: ${h.stdout} ${h.stderr}`);
    await until(w, `[...document.querySelectorAll('.oom-strip a.oom-marker')].some((a) => a.textContent.endsWith('oom_touch (${hog.pid})'))`, 5000);
    await w.page.click(`.oom-strip a.oom-marker:has-text("oom_touch (${hog.pid})")`);
    const card = `.oom-card[data-victim-pid="${hog.pid}"]`;
    await w.page.waitForSelector(card, { timeout: 5000 });
    assert.equal(await w.page.textContent(`${card} dd[data-field="memory cgroup"]`), cg.name);
    assert.equal(await w.page.textContent(`${card} dd[data-field="limit"]`), '32.0 MiB');
    // the card's flame graph holds exactly the agent's post-mortem stacks
    const api = JSON.parse(await w.page.evaluate<string>(`fetch('/api/dash/oom').then((r) => r.text())`)) as {
      victim?: { pid: number };
      stacks?: { value: number }[];
    }[];
    const pm = api.find((r) => r.victim?.pid === hog.pid)!;
    const total = pm.stacks!.reduce((a, x) => a + x.value, 0);
    assert.ok(total > 0, 'the agent kept fault stacks of the victim');
    await w.page.waitForSelector(`${card} .flame-chart g[name="all"]`, { state: 'attached', timeout: 5000 });
    assert.equal(await w.page.textContent(`${card} .flame-chart g[name="all"] title`), `all (${total.toLocaleString('en-US')} faults)`);
    // the victim's function: fault stacks are stored under a hash of their frames (stacks.h), so a
    // busy host no longer loses this stack to a stack-map bucket taken by another process's
    await w.page.waitForSelector(`${card} .flame-chart g[name="touch_pages [oom_touch]"]`, { timeout: 5000, state: 'attached' });
    assert.equal(await screenshot(w.page, 'agent-oom-wide'), 0);
    assert.deepEqual(w.dialogs, []);
    assert.deepEqual(w.errors, []);
    await w.page.close();
  } finally {
    hog.kill();
    cg.dispose();
  }
});

test("a fault trace started from the agent's page is a window on the agent's own collections: the workload's function with its exact count, no tool started", async () => {
  const wl = start(workload('fault_touch'), [String(PAGES)]);
  try {
    await wl.waitFor('ready');
    const w = await browser.startTrace(base, wl.pid, 'faults', 60);
    assert.deepEqual(descendants(agent.pid), [], 'the agent started a process for the trace');
    wl.send('go');
    await wl.waitFor('done');
    // the workload exits: the trace ends with the agent's last collection
    await w.page.waitForSelector('section.faults[data-state=done]', { timeout: 30_000 });
    const frame = 'touch_pages [fault_touch]';
    const cell = `section.faults table.top-stacks tr[data-frame="${frame}"] td[data-value]`;
    await w.page.waitForSelector(cell);
    const count = Number(await w.page.getAttribute(cell, 'data-value'));
    // only what faulted after the start: main's faults before "go" (the workload's setup) are not in it
    const folded = await w.page.evaluate<string>(`fetch(document.querySelector('section.faults a.dl-folded').href).then((r) => r.text())`);
    // what the agent said meanwhile (events lost in BPF, collection errors, stalls) says why when it is off
    const agentLog = () =>
      agent.stdout
        .split('\n')
        .filter((l) => !/"event":"(started|http)"/.test(l))
        .slice(-20)
        .join('\n');
    // the page says when the kernel dropped faults during the window (a full count map on a busy host)
    const lost = await w.page.getAttribute('section.faults .job-status', 'data-lost');
    assert.ok(count >= PAGES && count <= PAGES + ALLOWANCE, `touch_pages faults: ${count} (lost host-wide: ${lost ?? 0})\n${folded}\nagent: ${agentLog()}`);
    assert.match(folded, new RegExp(`^fault_touch;(.*;)?main \\[fault_touch\\];touch_pages \\[fault_touch\\] ${count}$`, 'm'));
    const total = folded
      .trim()
      .split('\n')
      .reduce((a, l) => a + Number(/ (\d+)$/.exec(l)![1]), 0);
    assert.ok(total - count <= ALLOWANCE, `faults besides touch_pages in the window: ${total - count}\n${folded}`);
    assert.equal(await w.page.textContent(`section.faults .flame-chart g[name="${frame}"] title`), `${frame} (${count.toLocaleString('en-US')} faults)`);
    assert.deepEqual(w.dialogs, []);
    assert.deepEqual(w.errors, []);
    await w.page.close();
  } finally {
    wl.kill();
  }
});

test("the table's swap-ins: a workload that swaps in its memcg shows a swap-in rate and the pages it swapped in, as many as swapin counted for it", async () => {
  const swap = new Swapfile(256, '/var/tmp/memscope_dash_swapin.swap');
  const cg = new MemoryCgroup('memscope_dash_swapin', 32 << 20, { swappiness: 100 });
  // 128 MiB written three times in a 32 MiB memcg: passes 2-3 read back what was swapped out; then it holds
  const argv = cg.wrap([workload('mem_hog'), '128', '3', 'hold']);
  const hog = new Running(spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] }));
  let ref: Running | null = null;
  try {
    await hog.waitFor('ready');
    ref = await startMemscope(['swapin', '--json', '-p', String(hog.pid)]);
    const w = await browser.open(`${base}/#/processes`);
    const cell = `table.procs tr[data-pid="${hog.pid}"] td[data-key=swapins]`;
    await w.page.waitForSelector(cell, { timeout: 15_000 });
    assert.equal(await w.page.getAttribute(cell, 'data-total'), '0');
    hog.send('go');
    // the rate column while it swaps in: read every 200 ms until the table's total has all of the
    // workload's swap-ins. The table refreshes every 2 s with the pages since its last refresh, so
    // the refresh whose total grew shows a rate for 2 s; on a fast host all of the passes' swap-ins
    // fit between two refreshes, and that refresh can come after the workload said "done"
    let maxRate = 0;
    const readRate = async () => {
      const t = (await w.page.textContent(cell).catch(() => null)) ?? '';
      maxRate = Math.max(maxRate, Number(t.replace(/[^\d.]/g, '')) || 0);
    };
    while (!hog.stdout.includes('done')) {
      await readRate();
      await new Promise((r) => setTimeout(r, 200));
    }
    const r = await ref.interrupt();
    const counted = jsonLines(r.stdout).reduce((a, x) => a + x.pages, 0);
    assert.ok(counted > 0, `swapin counted nothing: ${r.stdout} ${r.stderr}`);
    for (let i = 0; i < 50 && (await w.page.getAttribute(cell, 'data-total')) !== String(counted); i++) {
      await readRate();
      await new Promise((r) => setTimeout(r, 200));
    }
    await readRate();
    await until(w, `document.querySelector(${JSON.stringify(cell)})?.dataset.total === '${counted}'`, 10_000);
    console.log(`# swap-ins of mem_hog: ${counted} pages; highest rate shown ${maxRate}/s`);
    assert.ok(maxRate > 0, 'no swap-in rate was shown while it swapped in');
    // the process view says the same
    await w.page.click(`table.procs tr[data-pid="${hog.pid}"]`);
    await w.page.waitForSelector(`.view.process[data-pid="${hog.pid}"][data-loaded=yes]`);
    const dd = await w.page.evaluate<string>(`[...document.querySelectorAll('.figures dt')].find((d) => d.textContent === 'swap-ins').nextSibling.textContent`);
    assert.match(dd, new RegExp(`, ${counted.toLocaleString('en-US')} pages in all$`));
    assert.deepEqual(w.dialogs, []);
    assert.deepEqual(w.errors, []);
    await w.page.close();
  } finally {
    ref?.kill();
    hog.kill();
    cg.dispose();
    swap.dispose();
  }
});
