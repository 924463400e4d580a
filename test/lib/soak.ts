// SPDX-License-Identifier: Apache-2.0
// What the dashboard soak (test/dashboard-soak.test.ts) and its hour-long bench
// (bench/dashboard-soak.ts) share: an agent sampling at a given rate, a page's JS heap after a
// forced GC (CDP), a process's RSS, the agent's last sample number.
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import type { CDPSession, Page } from 'playwright-core';
import { MEMSCOPE, Running } from './run';
import { freePort } from './agent';

export const MIB = 1 << 20;

/** `memscope agent` on a free loopback port, sampling the overview every sampleMs. */
export async function startAgent(sampleMs: number): Promise<{ agent: Running; base: string }> {
  const port = await freePort();
  const agent = new Running(
    spawn(MEMSCOPE, ['agent', '--listen', `127.0.0.1:${port}`], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, MEMSCOPE_DASHBOARD_SAMPLE_MS: String(sampleMs) },
    }),
  );
  await agent.waitFor('"event":"started"', 120_000);
  return { agent, base: `http://127.0.0.1:${port}` };
}

export function rssBytes(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

/** A page's JS heap in use after a garbage collection (what it holds, not what awaits collection). */
export class PageHeap {
  private constructor(private readonly cdp: CDPSession) {}

  static async of(page: Page): Promise<PageHeap> {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    return new PageHeap(cdp);
  }

  async used(): Promise<number> {
    await this.cdp.send('HeapProfiler.collectGarbage');
    const m = await this.cdp.send('Performance.getMetrics');
    return m.metrics.find((x) => x.name === 'JSHeapUsedSize')!.value;
  }

  detach(): Promise<void> {
    return this.cdp.detach();
  }
}

/** The number of the agent's last overview sample. */
export async function lastSeq(base: string): Promise<number> {
  // a busy host's agent may cut an answer short (its request timeout while its loop was held): ask again
  for (let i = 0; ; i++) {
    try {
      const all = (await fetch(`${base}/api/dash/overview`).then((r) => r.json())) as { samples: { seq: number }[] };
      return all.samples[all.samples.length - 1]?.seq ?? 0;
    } catch (e) {
      if (i >= 4) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** How many samples the page holds (main.ts keeps it in body[data-samples]). */
export function pageSamples(page: Page): Promise<number> {
  return page.evaluate<number>('Number(document.body.dataset.samples || 0)');
}

export const mib = (n: number) => `${(n / MIB).toFixed(1)} MiB`;

/** What the page got: samples received since it opened, slots it has none for (marked gaps), and
 * the first and last slots it saw. received + gaps = last - first + 1 when nothing went unmarked. */
export async function pageTally(page: Page): Promise<{ received: number; gaps: number; first: number; last: number }> {
  const d = await page.evaluate<Record<string, string>>('({ ...document.body.dataset })');
  return { received: Number(d.received ?? 0), gaps: Number(d.gaps ?? 0), first: Number(d.firstSeq ?? 0), last: Number(d.lastSeq ?? 0) };
}
