// SPDX-License-Identifier: Apache-2.0
// The dashboard's server side without a browser: what the agent's HTTP server gets from
// createDashboard(). The live stream resumes after a reconnect (Last-Event-ID) and starts over
// after a restart; POSTs need the session's CSRF token; the token guard; asset names cannot reach
// other files; streams and traces are bounded; other paths are left to the host.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { createDashboard, Dashboard, plainToken } from '../../src/dashboard/index';
import { MAX_RUNNING } from '../../src/dashboard/jobs';
import { MAX_CLIENTS } from '../../src/dashboard/stream';
import { DashboardSources, OomRecord, TraceCallbacks } from '../../src/dashboard/types';

const traces: { kind: string; pid: number; seconds: number; cb: TraceCallbacks; stopped: boolean }[] = [];
const ooms: OomRecord[] = [];
// stand-ins for the agent's collectors: the tests drive them
const sources: DashboardSources = {
  oomRecords: () => ooms,
  trace(kind, pid, seconds, cb) {
    const t = { kind, pid, seconds, cb, stopped: false };
    traces.push(t);
    return { stop: () => ((t.stopped = true), cb.onEnd()) };
  },
};

let dash: Dashboard;
let server: http.Server;
let base = '';

async function serve(d: Dashboard): Promise<{ server: http.Server; base: string }> {
  const s = http.createServer((req, res) => {
    if (!d.handle(req, res)) res.writeHead(404, { 'X-Host': 'yes' }).end('host');
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { server: s, base: `http://127.0.0.1:${(s.address() as AddressInfo).port}` };
}

before(async () => {
  dash = createDashboard({ sources });
  ({ server, base } = await serve(dash));
});

after(() => {
  dash.close();
  server.closeAllConnections();
  server.close();
});

interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

/** Opens the stream and collects events until `until` says enough; then closes it. */
function stream(headers: Record<string, string>, until: (evs: SseEvent[]) => boolean): Promise<SseEvent[]> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/api/dash/stream`, { headers }, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
      const evs: SseEvent[] = [];
      let buf = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f: Record<string, string> = {};
          for (const line of block.split('\n')) {
            const m = /^(\w+): ?(.*)$/.exec(line);
            if (m) f[m[1]] = m[2];
          }
          if (f.event) evs.push({ id: f.id, event: f.event, data: JSON.parse(f.data) });
        }
        if (until(evs)) {
          req.destroy();
          resolve(evs);
        }
      });
    });
    req.on('error', (e) => (e.message === 'socket hang up' ? undefined : reject(e)));
  });
}

test('the stream: a hello with the history, then samples with ids; a reconnect with Last-Event-ID gets only what it missed', async () => {
  const first = await stream({}, (evs) => evs.filter((e) => e.event === 'sample').length >= 2);
  assert.equal(first[0].event, 'hello');
  const instance = first[0].data.instance;
  assert.match(instance, /^[0-9a-f]{12}$/);
  const samples = first.filter((e) => e.event === 'sample');
  for (const s of samples) assert.equal(s.id, `${instance}.${s.data.seq}`);
  assert.ok(samples[0].data.total > 0 && samples[0].data.available > 0, 'meminfo figures');
  const seen = samples[1].data.seq;
  // wait until at least two more samples exist, then resume from `seen`
  await stream({}, (evs) => evs.some((e) => e.event === 'sample' && e.data.seq >= seen + 2));
  const resumed = await stream({ 'Last-Event-ID': `${instance}.${seen}` }, (evs) => evs.length >= 2);
  assert.ok(!resumed.some((e) => e.event === 'hello'), 'a resume gets no hello');
  assert.deepEqual(
    resumed.slice(0, 2).map((e) => e.data.seq),
    [seen + 1, seen + 2],
  );
  // an id from another instance (the agent restarted): start over
  const other = await stream({ 'Last-Event-ID': `000000000000.${seen}` }, (evs) => evs.length >= 1);
  assert.equal(other[0].event, 'hello');
});

test('an OOM record from the host goes to the stream and to /api/dash/oom', async () => {
  const got = stream({}, (evs) => evs.some((e) => e.event === 'oom'));
  await new Promise((r) => setTimeout(r, 100));
  ooms.push({ id: 7, t: Date.now(), trigger: { comm: 'hog', pid: 42 }, victim: { pid: 42, comm: '<b>hog</b>' }, cgroup: '/x', limitKb: 32768 });
  const evs = await got;
  assert.equal(evs.find((e) => e.event === 'oom')!.data.victim.comm, '<b>hog</b>');
  const list = (await (await fetch(`${base}/api/dash/oom`)).json()) as OomRecord[];
  assert.deepEqual(
    list.map((r) => r.id),
    [7],
  );
});

async function session(): Promise<{ cookie: string; csrf: string }> {
  const r = await fetch(`${base}/api/dash/session`);
  const cookie = r.headers.get('set-cookie')!;
  assert.match(cookie, /^memscope_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict$/);
  const { csrf } = (await r.json()) as { csrf: string };
  return { cookie: cookie.split(';')[0], csrf };
}

function postJob(headers: Record<string, string>, body: unknown): Promise<Response> {
  return fetch(`${base}/api/dash/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

test('POSTs need the session cookie and its CSRF token; traces are bounded; reports reach the stream', async () => {
  const s = await session();
  const job = { kind: 'memleak', pid: process.pid, seconds: 30 };
  assert.equal((await postJob({}, job)).status, 403);
  assert.equal((await postJob({ Cookie: s.cookie }, job)).status, 403);
  assert.equal((await postJob({ 'X-CSRF-Token': s.csrf }, job)).status, 403);
  const other = await session();
  assert.equal((await postJob({ Cookie: s.cookie, 'X-CSRF-Token': other.csrf }, job)).status, 403, "another session's token");
  assert.equal((await postJob({ Cookie: s.cookie, 'X-CSRF-Token': s.csrf, Origin: 'http://evil.example' }, job)).status, 403);
  const form = await fetch(`${base}/api/dash/jobs`, {
    method: 'POST',
    headers: { Cookie: s.cookie, 'X-CSRF-Token': s.csrf, 'Content-Type': 'text/plain' },
    body: '{}',
  });
  assert.equal(form.status, 415);
  const ok = { Cookie: s.cookie, 'X-CSRF-Token': s.csrf };
  assert.deepEqual(await (await postJob(ok, { ...job, seconds: 0 })).json(), { error: 'seconds is 1 to 600' });
  assert.deepEqual(await (await postJob(ok, { ...job, kind: 'cpu' })).json(), { error: 'kind is faults or memleak' });

  const started = await postJob(ok, job);
  assert.equal(started.status, 202);
  const j = (await started.json()) as { id: number; state: string };
  assert.equal(j.state, 'starting');
  const t = traces[traces.length - 1];
  assert.deepEqual([t.kind, t.pid, t.seconds], ['memleak', process.pid, 30]);
  // the trace reports: the stream carries it, cut to its largest stacks
  const got = stream({}, (evs) => evs.some((e) => e.event === 'job' && e.data.reports === 1));
  await new Promise((r) => setTimeout(r, 100));
  t.cb.onStart();
  const stacks = Array.from({ length: 600 }, (_, i) => ({ frames: ['p', `f${i}`], value: 1000 - i }));
  t.cb.onProfile({ unit: 'bytes', stacks, t: Date.now() });
  const ev = (await got).find((e) => e.event === 'job' && e.data.reports === 1)!;
  assert.equal(ev.data.state, 'running');
  assert.equal(ev.data.profile.stacks.length, 500);
  // the API has them all, and the folded download
  const full = (await (await fetch(`${base}/api/dash/jobs/${j.id}`)).json()) as any;
  assert.equal(full.profile.stacks.length, 600);
  const folded = await (await fetch(`${base}/api/dash/jobs/${j.id}/download?format=folded`)).text();
  assert.equal(folded.split('\n')[0], 'p;f0 1000');
  // at most MAX_RUNNING at once
  for (let i = 1; i < MAX_RUNNING; i++) assert.equal((await postJob(ok, job)).status, 202);
  assert.equal((await postJob(ok, job)).status, 429);
  const stop = await fetch(`${base}/api/dash/jobs/${j.id}/stop`, { method: 'POST', headers: { ...ok, 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(stop.status, 200);
  assert.ok(t.stopped);
  assert.equal((await postJob(ok, job)).status, 202, 'a slot is free again');
  for (const x of traces) if (!x.stopped) x.cb.onEnd();
});

test('assets: only the bundle, with the CSP; GET / sets the session cookie; other paths are left to the host', async () => {
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  const csp = page.headers.get('content-security-policy')!;
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(page.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
  const html = await page.text();
  assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]|\son[a-z]+=/, 'no inline script or handler in the page');
  assert.equal((await fetch(`${base}/assets/app.js`)).status, 200);
  for (const p of ['/assets/../package.json', '/assets/%2e%2e%2fpackage.json', '/assets/index.html/..', '/assets/']) {
    assert.equal((await fetch(`${base}${p}`)).status, 404, p);
  }
  const metrics = await fetch(`${base}/metrics`);
  assert.equal(metrics.headers.get('x-host'), 'yes');
  assert.equal((await fetch(`${base}/api/oom`)).headers.get('x-host'), 'yes', "the agent's own /api/* stays the agent's");
});

test(`at most ${MAX_CLIENTS} live streams; the next is told to retry`, async () => {
  const reqs: http.ClientRequest[] = [];
  const statuses = await Promise.all(
    Array.from(
      { length: MAX_CLIENTS + 1 },
      (_, i) =>
        new Promise<number>((resolve) => {
          setTimeout(() => {
            const r = http.get(`${base}/api/dash/stream`, (res) => resolve(res.statusCode ?? 0));
            r.on('error', () => undefined);
            reqs.push(r);
          }, i * 5);
        }),
    ),
  );
  reqs.forEach((r) => r.destroy());
  assert.equal(statuses.filter((s) => s === 200).length, MAX_CLIENTS);
  assert.equal(statuses[MAX_CLIENTS], 503);
});

test('a bearer token guards every dashboard path; /?token= sets it as a cookie for the browser', async () => {
  let token = 'first-token';
  const d = createDashboard({ sources: { oomRecords: () => [] }, token: plainToken(() => token) });
  const s = await serve(d);
  try {
    assert.equal((await fetch(`${s.base}/api/dash/processes`)).status, 401);
    assert.equal((await fetch(`${s.base}/api/dash/processes`, { headers: { Authorization: 'Bearer nope' } })).status, 401);
    assert.equal((await fetch(`${s.base}/api/dash/session`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
    const r = await fetch(`${s.base}/?token=${token}`, { redirect: 'manual' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/');
    const cookie = r.headers.get('set-cookie')!.split(';')[0];
    assert.equal((await fetch(`${s.base}/`, { headers: { Cookie: cookie } })).status, 200);
    token = 'reloaded'; // SIGHUP gave the agent a new token: the old cookie no longer opens anything
    assert.equal((await fetch(`${s.base}/`, { headers: { Cookie: cookie } })).status, 401);
  } finally {
    d.close();
    s.server.closeAllConnections();
    s.server.close();
  }
});
