// SPDX-License-Identifier: Apache-2.0
// A real browser for the dashboard tests: Debian's chromium, headless, driven by playwright-core
// over CDP, with a fresh profile and nothing talking to the network but the page. Each page records
// dialogs (a script injected through a name would open one), console errors and CSP violations.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BrowserContext, chromium, Page } from 'playwright-core';
import { ROOT } from './workloads';

export const ARTIFACTS = path.join(ROOT, 'build', 'artifacts', 'dashboard');
const CHROMIUM = '/usr/bin/chromium';

export interface WatchedPage {
  page: Page;
  dialogs: string[];
  errors: string[];
}

export class TestBrowser {
  private constructor(
    readonly context: BrowserContext,
    private readonly profile: string,
  ) {}

  /** A fresh --user-data-dir (playwright's persistent context passes it to Chromium). */
  static async launch(): Promise<TestBrowser> {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      chromiumSandbox: false,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 800 },
      acceptDownloads: true,
      timeout: 60_000,
    });
    return new TestBrowser(context, profile);
  }

  /** timeoutMs: for loading the page (a busy agent can take longer than playwright's 30 s) */
  async open(url: string, viewport = { width: 1280, height: 800 }, timeoutMs?: number): Promise<WatchedPage> {
    const page = await this.context.newPage();
    await page.setViewportSize(viewport);
    const dialogs: string[] = [];
    const errors: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    // (test code has no DOM types: in-page code is passed as strings)
    await page.addInitScript({
      content: "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));",
    });
    await page.goto(url, timeoutMs ? { timeout: timeoutMs } : {});
    return { page, dialogs, errors };
  }

  /** Opens a process's view and starts a trace from its page ("faults" or "memleak"), as a user
   * would: the seconds field, the start button; resolves once the section says it is running. */
  async startTrace(base: string, pid: number, kind: 'faults' | 'memleak', seconds: number): Promise<WatchedPage> {
    const w = await this.open(`${base}/#/process/${pid}`);
    await w.page.waitForSelector(`.view.process[data-loaded=yes] section.profile.${kind}`);
    await w.page.fill(`section.${kind} input.seconds`, String(seconds));
    await w.page.click(`button.start-${kind}`);
    await w.page.waitForSelector(`section.${kind}[data-state=running]`, { timeout: 30_000 });
    return w;
  }

  async close(): Promise<void> {
    await this.context.close();
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}

/** Saves a screenshot of the page under build/artifacts/dashboard and returns how far it overflows sideways (0 = none). */
export async function screenshot(page: Page, name: string): Promise<number> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  return page.evaluate<number>('Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth');
}
