// SPDX-License-Identifier: Apache-2.0
// The agent under test and its real clients: a started `memscope agent`, HTTP GETs, Debian's
// prometheus scraping it (queried through its HTTP API), and `go tool pprof -raw` on a profile.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { MEMSCOPE, Running, start } from './run';

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

export interface Agent {
  run: Running;
  base: string;
  stop(): Promise<void>;
}

export async function startAgent(extra: string[] = []): Promise<Agent> {
  const port = await freePort();
  const run = start(MEMSCOPE, ['agent', '--listen', `127.0.0.1:${port}`, ...extra]);
  await run.waitFor('"event":"started"', 120_000);
  return {
    run,
    base: `http://127.0.0.1:${port}`,
    async stop() {
      run.child.kill('SIGTERM');
      const r = await run.exited;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /"event":"stopped"/);
    },
  };
}

export const until = async (what: string, f: () => Promise<boolean> | boolean, ms = 60_000) => {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > ms) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

/** `go tool pprof -raw` on a profile: each sample's values and the functions of its stack (leaf first). */
export function pprofRaw(source: string): { values: number[]; functions: string[]; labels: string }[] {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-pprof-'));
  try {
    const out = execFileSync('go', ['tool', 'pprof', '-raw', source], {
      encoding: 'utf8',
      env: { ...process.env, HOME: tmp, PPROF_TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const samplesText = out.slice(out.indexOf('Samples:'), out.indexOf('\nLocations'));
    const locText = out.slice(out.indexOf('\nLocations'), out.indexOf('\nMappings'));
    const fnOf = new Map<string, string>();
    for (const l of locText.split('\n')) {
      const m = /^\s+(\d+): 0x[0-9a-f]+ M=\d+ (\S+)/.exec(l);
      if (m) fnOf.set(m[1], m[2]);
    }
    const samples: { values: number[]; functions: string[]; labels: string }[] = [];
    for (const l of samplesText.split('\n')) {
      const m = /^\s+([\d ]+?):\s*([\d ]*)$/.exec(l);
      if (m)
        samples.push({
          values: m[1].trim().split(/\s+/).map(Number),
          functions: m[2]
            .trim()
            .split(/\s+/)
            .filter(Boolean)
            .map((id) => fnOf.get(id) ?? '?'),
          labels: '',
        });
      else if (samples.length && /^\s+\w+:\[/.test(l)) samples[samples.length - 1].labels += l.trim() + ' ';
    }
    return samples;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export interface Prometheus {
  run: Running;
  query(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[] | null>;
  /** waits until Prometheus has scraped the agent once */
  scraped(): Promise<void>;
  stop(): Promise<void>;
}

/** Debian's prometheus on a free loopback port, scraping the agent every 3 s (a 3 s timeout leaves
 * room for a scrape on a loaded machine: with a 1 s interval Prometheus gives up after 1 s). */
export async function startPrometheus(agent: Agent, tmp: string): Promise<Prometheus> {
  const port = await freePort();
  fs.writeFileSync(
    path.join(tmp, 'prometheus.yml'),
    `global:\n  scrape_interval: 3s\n  scrape_timeout: 3s\nscrape_configs:\n  - job_name: memscope\n    static_configs:\n      - targets: ['${agent.base.replace('http://', '')}']\n`,
  );
  const run = start('prometheus', [`--config.file=${tmp}/prometheus.yml`, `--storage.tsdb.path=${tmp}/data`, `--web.listen-address=127.0.0.1:${port}`]);
  const query = async (q: string) => {
    const r = await get(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => null);
    return r && r.status === 200 ? (JSON.parse(r.body.toString()).data.result as { metric: Record<string, string>; value: [number, string] }[]) : null;
  };
  return {
    run,
    query,
    scraped: () => until('a scrape of the agent', async () => ((await query('up{job="memscope"}')) ?? [])[0]?.value[1] === '1', 120_000),
    async stop() {
      run.child.kill('SIGTERM');
      await run.exited;
    },
  };
}
