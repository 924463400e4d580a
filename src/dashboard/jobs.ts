// SPDX-License-Identifier: Apache-2.0
// Traces started from the page (a fault flame graph, memleak for N seconds): at most MAX_RUNNING at
// once, the last MAX_KEPT kept with their latest profile; each new report goes to the live stream.
import { subprocessTrace } from './fallback';
import { DashboardSources, JobKind, JobState, TraceHandle } from './types';

export const MAX_RUNNING = 2;
const MAX_KEPT = 16;
/** stacks sent per live update (the API gives them all) */
export const STREAM_STACKS = 500;

export class Jobs {
  private readonly jobs = new Map<number, JobState>();
  private readonly handles = new Map<number, TraceHandle>();
  private nextId = 1;

  constructor(
    private readonly sources: DashboardSources,
    private readonly onUpdate: (j: JobState) => void,
  ) {}

  get running(): number {
    return this.handles.size;
  }

  start(kind: JobKind, pid: number, seconds: number): JobState | string {
    if (this.handles.size >= MAX_RUNNING) return `${MAX_RUNNING} traces are running already; wait for one to end`;
    const job: JobState = { id: this.nextId++, kind, pid, seconds, state: 'starting', reports: 0 };
    this.jobs.set(job.id, job);
    for (const id of this.jobs.keys()) {
      if (this.jobs.size <= MAX_KEPT) break;
      if (!this.handles.has(id)) this.jobs.delete(id); // the oldest finished ones go first
    }
    const trace = this.sources.trace ?? subprocessTrace;
    const handle = trace(kind, pid, seconds, {
      onStart: () => {
        job.state = 'running';
        this.onUpdate(job);
      },
      onProfile: (p) => {
        job.profile = p;
        job.reports++;
        this.onUpdate(job);
      },
      onEnd: (error) => {
        this.handles.delete(job.id);
        job.state = error ? 'failed' : 'done';
        if (error) job.error = error;
        this.onUpdate(job);
      },
    });
    if (job.state === 'starting' || job.state === 'running') this.handles.set(job.id, handle);
    return job;
  }

  get(id: number): JobState | undefined {
    return this.jobs.get(id);
  }

  list(): JobState[] {
    return [...this.jobs.values()];
  }

  stop(id: number): boolean {
    const h = this.handles.get(id);
    h?.stop();
    return !!h;
  }

  stopAll(): void {
    for (const h of this.handles.values()) h.stop();
  }
}

/** A job as the stream sends it: its profile cut to the largest stacks. */
export function streamView(j: JobState): JobState {
  if (!j.profile || j.profile.stacks.length <= STREAM_STACKS) return j;
  return { ...j, profile: { ...j.profile, stacks: j.profile.stacks.slice(0, STREAM_STACKS) } };
}
