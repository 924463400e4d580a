// SPDX-License-Identifier: Apache-2.0
// The HTTP side: a route table (exact paths), bearer-token check, JSON errors, and a place for
// static assets (GET / and /static/… are reserved for the dashboard: served from a directory
// when one is configured, else a JSON index of the endpoints).
import * as http from 'node:http';
import type { Authenticator } from './auth';
import { logEvent } from './log';

export interface Reply {
  status?: number;
  type: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

export type Handler = (query: URLSearchParams, req: http.IncomingMessage) => Promise<Reply> | Reply;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const json = (v: unknown, status = 200): Reply => ({ status, type: 'application/json', body: JSON.stringify(v, null, 1) + '\n' });

export class AgentServer {
  private readonly routes = new Map<string, { handler: Handler; help: string }>();
  private server: http.Server | null = null;

  /** the dashboard (src/dashboard): it answers GET /, /assets/* and /api/dash/* (with its own token and CSRF checks) */
  private dashboard: { handle(req: http.IncomingMessage, res: http.ServerResponse): boolean } | null = null;

  constructor(private readonly auth: Authenticator) {}

  mountDashboard(d: { handle(req: http.IncomingMessage, res: http.ServerResponse): boolean }): void {
    this.dashboard = d;
  }

  route(path: string, help: string, handler: Handler): void {
    this.routes.set(path, { handler, help });
  }

  /** The endpoints, for GET /api (and GET / when no dashboard is mounted). */
  index(): Reply {
    return json({ name: 'memscope agent', endpoints: Object.fromEntries([...this.routes].map(([p, r]) => [p, r.help])) });
  }

  listen(host: string, port: number): Promise<void> {
    this.server = http.createServer((req, res) => void this.serve(req, res));
    // a profile holds its request for `seconds`: no socket timeout shorter than the longest one
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 10_000;
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => {
        this.server!.off('error', reject);
        resolve();
      });
    });
  }

  address(): { host: string; port: number } | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : null;
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return Promise.resolve();
    s.closeAllConnections();
    return new Promise((r) => s.close(() => r()));
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.dashboard?.handle(req, res)) return;
    let reply: Reply;
    try {
      const url = new URL(req.url ?? '/', 'http://agent');
      if (!this.auth.allows(req)) {
        reply = { ...json({ error: 'unauthorized' }, 401), headers: { 'WWW-Authenticate': 'Bearer' } };
      } else if (req.method !== 'GET' && req.method !== 'HEAD') {
        reply = { ...json({ error: 'method not allowed' }, 405), headers: { Allow: 'GET, HEAD' } };
      } else if (url.pathname === '/' || url.pathname === '/api') {
        // the dashboard answers GET / when it is mounted: the list of endpoints stays at /api
        reply = this.index();
      } else {
        const r = this.routes.get(url.pathname);
        reply = r ? await r.handler(url.searchParams, req) : json({ error: `no such endpoint: ${url.pathname}` }, 404);
      }
    } catch (e) {
      if (e instanceof HttpError) reply = json({ error: e.message }, e.status);
      else {
        logEvent('http_error', { path: req.url, error: (e as Error).message });
        reply = json({ error: 'internal error' }, 500);
      }
    }
    if (res.destroyed) return;
    res.writeHead(reply.status ?? 200, { 'Content-Type': reply.type, 'Content-Length': Buffer.byteLength(reply.body), ...reply.headers });
    res.end(req.method === 'HEAD' ? undefined : reply.body);
  }
}

/** An integer query parameter within bounds, or the default when absent. */
export function intParam(q: URLSearchParams, name: string, def: number | undefined, min: number, max: number): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return def;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new HttpError(400, `${name}: expected an integer from ${min} to ${max}`);
  return Number(v);
}
