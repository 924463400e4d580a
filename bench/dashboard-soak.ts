// SPDX-License-Identifier: Apache-2.0
// bench:dashboard-soak — a dashboard page left open for an hour at the normal rate (one sample a
// second over Server-Sent Events), against `memscope agent`, in headless Chromium: every
// BENCH_SOAK_EVERY minutes (default 5) the page's JS heap after a forced GC (CDP
// Performance.getMetrics), the samples the page holds and the agent's RSS. Not run by npm test:
// test/dashboard-soak.test.ts is its shortened form (the same 3,600+ updates at 40 ms each).
// The bounds it checks are printed beside the figures; nothing is asserted here. EXPECTED is the
// agent's sample slots so far (one per interval since it started, src/dashboard/monitor.ts),
// RECEIVED the samples the page got, GAPS the slots it has none for (marked on its timeline),
// UNMARKED the slots between its first and last that are neither (0 unless one was lost silently).
//
//   node dist/bench/dashboard-soak.js   (npm run bench:dashboard-soak; BENCH_SOAK_MINUTES=60,
//                                         BENCH_SOAK_SAMPLE_MS=1000)
import { TestBrowser } from '../test/lib/browser';
import { lastSeq, mib, PageHeap, pageSamples, pageTally, rssBytes, startAgent } from '../test/lib/soak';
import { formatTable } from '../src/render/table';

const MINUTES = Number(process.env.BENCH_SOAK_MINUTES ?? 60);
const EVERY = Number(process.env.BENCH_SOAK_EVERY ?? 5);
const SAMPLE_MS = Number(process.env.BENCH_SOAK_SAMPLE_MS ?? 1000);

async function main(): Promise<void> {
  const { agent, base } = await startAgent(SAMPLE_MS);
  const browser = await TestBrowser.launch();
  const rows: (string | number)[][] = [];
  try {
    // as the soak test: a busy host's agent holds its event loop for seconds at times (its collections)
    const w = await browser.open(`${base}/#/overview`, undefined, 180_000);
    await w.page.waitForSelector('.charts .uplot', { timeout: 180_000 });
    const heap = await PageHeap.of(w.page);
    const t0 = Date.now();
    const row = async () => {
      // EXPECTED: the agent's slots so far (one a sample interval since it started); the page's
      // RECEIVED and GAPS (slots marked missing) add up to its last slot from its first
      const p = await pageTally(w.page);
      const r = [
        ((Date.now() - t0) / 60_000).toFixed(1),
        await lastSeq(base),
        p.received,
        p.gaps,
        p.received ? p.last - p.first + 1 - p.received - p.gaps : 0,
        await pageSamples(w.page),
        mib(await heap.used()),
        mib(rssBytes(agent.pid)),
      ];
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
    formatTable(['MINUTES', 'EXPECTED', 'RECEIVED', 'GAPS', 'UNMARKED', 'PAGE SAMPLES', 'PAGE JS HEAP', 'AGENT RSS'], rows, Array(8).fill(true)).join('\n') +
      '\n',
  );
  process.stdout.write(
    'bounds (test/dashboard-soak.test.ts): page JS heap <= 64 MiB, agent RSS <= 1 GiB, neither growing once the 3,600-sample rings are full\n',
  );
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
