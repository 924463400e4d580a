// SPDX-License-Identifier: Apache-2.0
// The page's side of the wire: JSON GETs, POSTs carrying the session's CSRF token, and the live
// stream (Server-Sent Events). What the stream brings is kept in bounded arrays, so a page left open
// for hours holds at most an hour of samples, the last OOM kills and the last traces. EventSource
// reconnects by itself and sends Last-Event-ID: the server replays what was missed, or says
// "hello" with a new instance after an agent restart, and the page starts over (and fetches a new
// CSRF token: the restarted agent has a new secret).
import type { JobState, OomRecord, Sample } from '../../src/dashboard/types';

export const MAX_SAMPLES = 3600;
export const MAX_OOMS = 200;
export const MAX_JOBS = 32;

export interface Session {
  csrf: string;
  instance: string;
  oomSource: string;
  faultsKept: boolean;
  pprof: boolean;
  maxRunning: number;
}

let session: Session | null = null;

export async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
  const body = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
  if (!r.ok) throw new Error(body.error ?? `${r.status}`);
  return body as T;
}

export async function getSession(fresh = false): Promise<Session> {
  if (!session || fresh) session = await getJson<Session>('/api/dash/session');
  return session;
}

export async function post<T>(url: string, body: unknown): Promise<T> {
  const send = async () =>
    fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': (await getSession()).csrf },
      body: JSON.stringify(body),
    });
  let r = await send();
  if (r.status === 403) {
    await getSession(true); // the agent restarted: a new secret, so a new token
    r = await send();
  }
  const v = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
  if (!r.ok) throw new Error(v.error ?? `${r.status}`);
  return v as T;
}

type Listener = () => void;

/** The slots between two samples the page holds that it has no sample for. */
export function missedBefore(s: Sample, prev: Sample): number {
  return Math.max(0, s.seq - prev.seq - 1);
}

/** The live state, fed by the stream. */
export class Live {
  samples: Sample[] = [];
  /** samples received since the page opened (the ring above keeps the last MAX_SAMPLES) */
  received = 0;
  /** slots the page has no sample for: a seq that jumps (the agent's gap, or a stream that lost
   * some) is counted here and drawn as a break in the lines, never closed over silently */
  gaps = 0;
  /** the first slot the page got since it (re)started following this agent */
  firstSeq = 0;
  ooms: OomRecord[] = [];
  jobs = new Map<number, JobState>();
  instance = '';
  connected = false;
  private listeners = new Map<string, Set<Listener>>();
  private es: EventSource | null = null;

  on(kind: 'sample' | 'oom' | 'job' | 'conn' | 'reset', fn: Listener): () => void {
    if (!this.listeners.has(kind)) this.listeners.set(kind, new Set());
    this.listeners.get(kind)!.add(fn);
    return () => this.listeners.get(kind)!.delete(fn);
  }

  private emit(kind: string): void {
    this.listeners.get(kind)?.forEach((f) => f());
  }

  connect(): void {
    const es = new EventSource('/api/dash/stream');
    this.es = es;
    es.addEventListener('open', () => {
      this.connected = true;
      this.emit('conn');
    });
    es.addEventListener('error', () => {
      this.connected = false;
      this.emit('conn');
    });
    es.addEventListener('hello', (e) => {
      const d = JSON.parse((e as MessageEvent).data);
      const restarted = this.instance !== '' && this.instance !== d.instance;
      this.instance = d.instance;
      this.samples = d.samples.slice(-MAX_SAMPLES);
      this.received = this.samples.length;
      this.firstSeq = this.samples[0]?.seq ?? 0;
      this.gaps = 0;
      for (let i = 1; i < this.samples.length; i++) this.gaps += missedBefore(this.samples[i], this.samples[i - 1]);
      this.ooms = d.ooms.slice(-MAX_OOMS);
      this.jobs = new Map((d.jobs as JobState[]).map((j) => [j.id, j]));
      if (restarted) void getSession(true);
      this.emit('reset');
    });
    es.addEventListener('sample', (e) => {
      const s: Sample = JSON.parse((e as MessageEvent).data);
      const last = this.samples[this.samples.length - 1];
      if (last && s.seq <= last.seq) return; // replayed twice
      if (last) this.gaps += missedBefore(s, last);
      else if (!this.firstSeq) this.firstSeq = s.seq;
      this.received++;
      this.samples.push(s);
      if (this.samples.length > MAX_SAMPLES) this.samples.splice(0, this.samples.length - MAX_SAMPLES);
      this.emit('sample');
    });
    es.addEventListener('oom', (e) => {
      const r: OomRecord = JSON.parse((e as MessageEvent).data);
      if (this.ooms.some((o) => o.id === r.id)) return;
      this.ooms.push(r);
      if (this.ooms.length > MAX_OOMS) this.ooms.shift();
      this.emit('oom');
    });
    es.addEventListener('job', (e) => {
      const j: JobState = JSON.parse((e as MessageEvent).data);
      this.jobs.set(j.id, j);
      while (this.jobs.size > MAX_JOBS) this.jobs.delete(this.jobs.keys().next().value!);
      this.emit('job');
    });
  }

  close(): void {
    this.es?.close();
  }
}
