// SPDX-License-Identifier: Apache-2.0
// bench:dashboard-soak — a dashboard page left open for an hour at the normal rate (one sample a
// second over Server-Sent Events), against `memscope agent`, in headless Chromium: every
// BENCH_SOAK_EVERY minutes (default 5) the page's JS heap after a forced GC (CDP
// Performance.getMetrics), the samples the page holds and the agent's RSS. Not run by npm test:
// test/dashboard-soak.test.ts is its shortened form (the same 3,600+ updates at 40 ms each).
// The bounds it checks are printed beside the figures; nothing is asserted here.
//
//   node dist/bench/dashboard-soak.js   (npm run bench:dashboard-soak; BENCH_SOAK_MINUTES=60,
//                                         BENCH_SOAK_SAMPLE_MS=1000)
import { TestBrowser } from '../test/lib/browser';
import { lastSeq, mib, PageHeap, pageSamples, rssBytes, startAgent } from '../test/lib/soak';
import { formatTable } from '../src/render/table';

const MINUTES = Number(process.env.BENCH_SOAK_MINUTES ?? 60);
const EVERY = Number(process.env.BENCH_SOAK_EVERY ?? 5);
const SAMPLE_MS = Number(process.env.BENCH_SOAK_SAMPLE_MS ?? 1000);

async function main(): Promise<void> {
  const { agent, base } = await startAgent(SAMPLE_MS);
  const browser = await TestBrowser.launch();
  const rows: (string | number)[][] = [];
  try {
    const w = await browser.open(`${base}/#/overview`);
    await w.page.waitForSelector('.charts .uplot');
    const heap = await PageHeap.of(w.page);
    const t0 = Date.now();
    const row = async () => {
      const r = [((Date.now() - t0) / 60_000).toFixed(1), await lastSeq(base), await pageSamples(w.page), mib(await heap.used()), mib(rssBytes(agent.pid))];
      rows.push(r);
      process.stderr.write(`${r.join('  ')}\n`);
    };
    await row();
    for (let m = EVERY; m <= MINUTES; m += EVERY) {
      await new Promise((r) => setTimeout(r, t0 + m * 60_000 - Date.now()));
      await row();
    }
    await heap.detach();
    if (w.dialogs.length || w.errors.length) process.stderr.write(`page errors: ${JSON.stringify([...w.dialogs, ...w.errors])}\n`);
  } finally {
    await browser.close();
    agent.child.kill('SIGTERM');
    await agent.exited;
  }
  process.stdout.write(`dashboard soak: ${MINUTES} min at one sample per ${SAMPLE_MS} ms\n`);
  process.stdout.write(
    formatTable(['MINUTES', 'UPDATES', 'PAGE SAMPLES', 'PAGE JS HEAP', 'AGENT RSS'], rows, [true, true, true, true, true]).join('\n') + '\n',
  );
  process.stdout.write(
    'bounds (test/dashboard-soak.test.ts): page JS heap <= 64 MiB, agent RSS <= 1 GiB, neither growing once the 3,600-sample rings are full\n',
  );
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
