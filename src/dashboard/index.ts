// SPDX-License-Identifier: Apache-2.0
// The dashboard as a request handler the agent's HTTP server calls: `GET /`, `/assets/*` (the
// bundle built from web/ into build/dashboard) and `/api/dash/*` (JSON, the live stream, and the
// POSTs that start traces). handle() returns false for any other path, so the host keeps /metrics
// and /debug/pprof/* to itself.
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';
import { ContainerResolver } from '../containers';
import type { Frame } from '../core/frames';
import { renderFlameGraph } from '../render/flamegraph';
import { renderPprof } from '../render/pprof';
import { Jobs, MAX_RUNNING, streamView } from './jobs';
import { Monitor } from './monitor';
import { ProcessTable, segments } from './processes';
import { Guard, SECURITY_HEADERS, TokenCheck } from './security';
import { EventHub } from './stream';
import { DashboardSources, JobKind, JobState } from './types';

export const ASSET_DIR = path.join(__dirname, '..', '..', '..', 'build', 'dashboard');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};
const MAX_BODY = 4096;
const MAX_SECONDS = 600;

/** "func [module]" (a flame graph's frame) back into a frame for the pprof encoder. */
function toFrame(name: string): Frame {
  const m = /^(.*?)(?: \[([^\]]*)\])?$/.exec(name)!;
  const symbol = m[1] === '[unknown]' || m[1] === '' ? null : m[1];
  return { addr: 0n, symbol, offset: 0, module: m[2] ?? null };
}

export interface DashboardOptions {
  sources?: DashboardSources;
  /** the host's bearer-token check, required on every request when it says so (beyond loopback) */
  token?: TokenCheck;
  /** only loopback Host names are accepted (the default) */
  loopbackOnly?: boolean;
  assetDir?: string;
  /** ms between the overview's samples (default 1000, or MEMSCOPE_DASHBOARD_SAMPLE_MS) */
  sampleMs?: number;
}

/**
 * The sample interval. MEMSCOPE_DASHBOARD_SAMPLE_MS (10 to 1000) is for the soak test and bench
 * (test/dashboard-soak.test.ts, bench/dashboard-soak.ts): the ring and the page keep the same 3,600
 * samples, so an hour's updates arrive in minutes.
 */
function sampleInterval(given?: number): number {
  if (given !== undefined) return given;
  const v = Number(process.env.MEMSCOPE_DASHBOARD_SAMPLE_MS);
  return Number.isInteger(v) && v >= 10 && v <= 1000 ? v : 1000;
}

export interface Dashboard {
  /** Serves the request if it is the dashboard's; false when the path is not (the host goes on). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close(): void;
}

export function createDashboard(opts: DashboardOptions = {}): Dashboard {
  const given = opts.sources ?? {};
  // container names from the runtimes' own files, as the agent resolves them, when the host gives none
  const resolver = given.container ? null : new ContainerResolver();
  const sources: DashboardSources = {
    ...given,
    container:
      given.container ??
      ((cg) => {
        const k = resolver!.ofCgroupPath(cg);
        return k.id ? { name: k.name, id: k.id } : null;
      }),
  };
  const guard = new Guard({ token: opts.token, loopbackOnly: opts.loopbackOnly ?? true });
  const hub = new EventHub();
  const procs = new ProcessTable(sources);
  const jobs = new Jobs(sources, (j) => hub.broadcast('job', streamView(j)));
  const monitor = new Monitor(
    sources,
    (s) => hub.broadcast('sample', s, s.seq),
    (r) => hub.broadcast('oom', r),
  );
  monitor.start(sampleInterval(opts.sampleMs));
  const assetDir = opts.assetDir ?? ASSET_DIR;
  // the bundle's files, listed once: only these names are ever served (no path from the URL reaches the disk)
  const assets = new Map<string, string>();
  try {
    for (const f of fs.readdirSync(assetDir)) if (TYPES[path.extname(f)]) assets.set(f, path.join(assetDir, f));
  } catch {
    /* not built: GET / says so */
  }

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Cache-Control': 'no-store', ...extra }).end(body);
  };
  const json = (res: ServerResponse, status: number, v: unknown) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(v));
  const fail = (res: ServerResponse, status: number, error: string) => json(res, status, { error });

  function handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const p = url.pathname;
    if (p !== '/' && p !== '/index.html' && !p.startsWith('/assets/') && !p.startsWith('/api/dash/')) return false;
    if (!guard.hostAllowed(req)) return (fail(res, 421, 'this dashboard answers to loopback host names only'), true);
    if (p === '/' && guard.acceptTokenParam(url, res)) return true;
    if (!guard.authorized(req)) return (fail(res, 401, 'a bearer token is required'), true);
    try {
      route(req, res, url);
    } catch (e) {
      if (!res.headersSent) fail(res, 500, `internal error: ${(e as Error).message}`);
      else res.destroy();
    }
    return true;
  }

  function route(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const p = url.pathname;
    const m = req.method ?? 'GET';
    if (m === 'POST') return void post(req, res, p);
    if (m !== 'GET' && m !== 'HEAD') return fail(res, 405, 'method not allowed');
    if (p === '/' || p === '/index.html') {
      const file = assets.get('index.html');
      if (!file) return fail(res, 503, 'the dashboard is not built: run npm run build');
      const s = guard.session(req);
      return send(res, 200, TYPES['.html'], fs.readFileSync(file), s.setCookie ? { 'Set-Cookie': s.setCookie } : {});
    }
    if (p.startsWith('/assets/')) {
      const file = assets.get(p.slice('/assets/'.length));
      if (!file) return fail(res, 404, 'no such asset');
      return send(res, 200, TYPES[path.extname(file)], fs.readFileSync(file), { 'Cache-Control': 'no-cache' });
    }
    const api = p.slice('/api/dash/'.length).split('/');
    switch (api[0]) {
      case 'session': {
        const s = guard.session(req);
        const body = {
          csrf: guard.csrfToken(s.id),
          instance: hub.instance,
          oomSource: monitor.oomSource,
          faultsKept: !!sources.faultProfile,
          pprof: true,
          maxRunning: MAX_RUNNING,
        };
        return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(body), s.setCookie ? { 'Set-Cookie': s.setCookie } : {});
      }
      case 'overview': {
        const since = Number(url.searchParams.get('since') ?? 0);
        return json(res, 200, {
          instance: hub.instance,
          samples: monitor.since(Number.isFinite(since) ? since : 0),
          findings: monitor.findings(procs.rows()),
          ooms: monitor.ooms(),
        });
      }
      case 'findings':
        return json(res, 200, monitor.findings(procs.rows()));
      case 'processes':
        return json(res, 200, procs.rows());
      case 'process': {
        const pid = Number(api[1]);
        if (!/^\d+$/.test(api[1] ?? '') || pid <= 0) return fail(res, 400, 'a PID is a positive whole number');
        const row = procs.row(pid);
        // gone is an answer, not an error: the page says so and stops asking
        if (!row)
          return json(res, 200, {
            exited: true,
            // what the host still keeps: the agent holds a process's fault stacks a while after it exits
            faults: sources.faultProfile?.(pid) ?? null,
            jobs: jobs
              .list()
              .filter((j) => j.pid === pid)
              .map(streamView),
          });
        const segs = segments(pid) ?? []; // smaps may be unreadable (a kernel thread, a process gone meanwhile)
        const faults = sources.faultProfile?.(pid) ?? null;
        return json(res, 200, {
          row,
          segments: segs,
          faults,
          jobs: jobs
            .list()
            .filter((j) => j.pid === pid)
            .map(streamView),
        });
      }
      case 'oom':
        return json(res, 200, monitor.ooms());
      case 'jobs': {
        if (api[1] === undefined) return json(res, 200, jobs.list().map(streamView));
        const j = jobs.get(Number(api[1]));
        if (!j) return fail(res, 404, 'no such trace');
        if (api[2] === 'download') return download(res, j, url.searchParams.get('format') ?? 'folded');
        return json(res, 200, j);
      }
      case 'stream': {
        const from = hub.resumeFrom(req);
        return hub.open(req, res, (sendEvent) => {
          if (from === null) sendEvent('hello', { instance: hub.instance, samples: monitor.since(0), ooms: monitor.ooms(), jobs: jobs.list().map(streamView) });
          for (const s of monitor.since(from ?? monitor.lastSeq)) sendEvent('sample', s, s.seq);
        });
      }
    }
    return fail(res, 404, 'no such API');
  }

  function download(res: ServerResponse, j: JobState, format: string): void {
    const stacks = j.profile?.stacks ?? [];
    const base = `memscope-${j.kind}-${j.pid}-${j.id}`;
    if (format === 'folded') {
      const text = stacks.map((s) => `${s.frames.join(';')} ${s.value}`).join('\n') + '\n';
      return send(res, 200, 'text/plain; charset=utf-8', text, { 'Content-Disposition': `attachment; filename="${base}.folded"` });
    }
    if (format === 'svg') {
      const unit = j.kind === 'faults' ? 'page faults' : 'bytes';
      const svg = renderFlameGraph(
        stacks.map((s) => [s.frames, s.value]),
        { title: `${j.kind} of PID ${j.pid}`, unit, palette: 'mem' },
      );
      return send(res, 200, 'image/svg+xml', svg, {
        'Content-Disposition': `attachment; filename="${base}.svg"`,
        'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
      });
    }
    if (format === 'pprof') {
      const body = renderPprof({
        sampleTypes: j.kind === 'faults' ? [['faults', 'count']] : [['inuse_space', 'bytes']],
        periodType: j.kind === 'faults' ? undefined : ['space', 'bytes'],
        timeNs: (j.profile?.t ?? Date.now()) * 1e6,
        stacks: stacks.map((s) => ({ values: [s.value], user: s.frames.slice(1).reverse().map(toFrame), kernel: [], pid: j.pid, comm: s.frames[0] ?? '' })),
        comments: [`memscope dashboard: ${j.kind} of PID ${j.pid}`],
      });
      return send(res, 200, 'application/octet-stream', body, { 'Content-Disposition': `attachment; filename="${base}.pb.gz"` });
    }
    return fail(res, 400, 'format is folded, svg or pprof');
  }

  function post(req: IncomingMessage, res: ServerResponse, p: string): void {
    if (!guard.csrfOk(req)) return fail(res, 403, 'missing or wrong CSRF token');
    if (!/^application\/json\b/.test(String(req.headers['content-type'] ?? ''))) return fail(res, 415, 'send JSON');
    let body = '';
    let tooBig = false;
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
      if (body.length > MAX_BODY) {
        tooBig = true;
        req.destroy();
      }
    });
    req.on('end', () => {
      if (tooBig) return;
      let v: Record<string, unknown>;
      try {
        v = JSON.parse(body || '{}');
      } catch {
        return fail(res, 400, 'the body is not JSON');
      }
      if (typeof v !== 'object' || v === null) return fail(res, 400, 'the body is not a JSON object');
      const api = p.slice('/api/dash/'.length).split('/');
      if (api[0] === 'jobs' && api.length === 1) {
        const kind = v.kind as JobKind;
        const pid = Number(v.pid);
        const seconds = Number(v.seconds ?? (kind === 'memleak' ? 30 : 10));
        if (kind !== 'faults' && kind !== 'memleak') return fail(res, 400, 'kind is faults or memleak');
        if (!Number.isInteger(pid) || pid <= 0 || !fs.existsSync(`/proc/${pid}`)) return fail(res, 400, `no process ${String(v.pid).slice(0, 40)}`);
        if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_SECONDS) return fail(res, 400, `seconds is 1 to ${MAX_SECONDS}`);
        const j = jobs.start(kind, pid, seconds);
        return typeof j === 'string' ? fail(res, 429, j) : json(res, 202, j);
      }
      if (api[0] === 'jobs' && api[2] === 'stop')
        return jobs.stop(Number(api[1])) ? json(res, 200, { stopping: true }) : fail(res, 404, 'no such running trace');
      return fail(res, 404, 'no such API');
    });
  }

  return {
    handle,
    close: () => {
      monitor.stop();
      jobs.stopAll();
      hub.close();
    },
  };
}

export type { DashboardSources, OomRecord, Profile, StackValue, JobKind } from './types';
export { plainToken } from './security';
export type { TokenCheck } from './security';
