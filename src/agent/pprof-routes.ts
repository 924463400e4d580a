// SPDX-License-Identifier: Apache-2.0
// /debug/pprof/*: profiles as Go's net/http/pprof serves them (gzipped profile.proto), so
// `go tool pprof http://HOST:9477/debug/pprof/faults` and Parca read them.
//  faults  ?seconds=N  page-fault stacks taken during the next N seconds; without seconds, with
//          pid=P: every fault stack of P since the agent first saw it (while P lives, and a minute
//          after); &pid=P, &container=C filter.
//  growth  the same for brk/mmap growth, in bytes.
//  heap    ?pid=P&seconds=N: memleak on P for N seconds (the memleak tool itself, as a child);
//          &sample_bytes=B: its in-process sampler loaded into P (memleak -p --sample-bytes B), a
//          production process's cost, instead of a uprobe on every malloc and free.
//  oom     ?id=N: the fault stacks of an OOM kill's victim.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withLifeline } from '../engine/lifeline';
import { renderPprof, PprofStack } from '../render/pprof';
import type { AgentConfig } from './config';
import { isAlive, type Collectors } from './collectors';
import { AgentServer, HttpError, intParam, Reply } from './server';
import { logEvent } from './log';
import { copySample, rawKey, RawSample, StackStore } from './stack-store';

const PPROF = 'application/octet-stream';
const PAGE = 4096;

function reply(body: Buffer, name: string): Reply {
  return { type: PPROF, body, headers: { 'Content-Disposition': `attachment; filename="${name}"` } };
}

/** Samples of the next `seconds` seconds: collected at the start (so earlier counts are out) and at the end. */
async function windowOf(c: Collectors, store: StackStore, seconds: number): Promise<RawSample[]> {
  c.collect();
  const got: RawSample[] = [];
  const close = store.openWindow((b) => got.push(...b));
  try {
    await new Promise((r) => setTimeout(r, seconds * 1000));
    c.collect();
  } finally {
    close();
  }
  return got;
}

/** The faults of one process over the next `seconds` seconds, or until it exits, from the maps
 * kept for traced processes (Collectors.traceFaults): exact on a host whose shared count map is
 * full. */
async function tracedFaults(c: Collectors, pid: number, seconds: number): Promise<RawSample[]> {
  const got: RawSample[] = [];
  const close = c.traceFaults(pid, (b) => got.push(...b));
  let tick: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, seconds * 1000);
      tick = setInterval(() => {
        if (isAlive(pid)) return;
        clearTimeout(timer);
        resolve();
      }, 1000);
    });
  } finally {
    clearInterval(tick);
    close();
  }
  return got;
}

/** Everything kept for one process. */
function kept(c: Collectors, store: StackStore, pid: number): RawSample[] {
  c.collect();
  const p = store.get(pid);
  // named fields: a kept stack's frames are a getter, which a spread would not copy
  return p ? [...p.stacks.values()].map((s) => ({ user: s.user, missed: s.missed, count: s.count, kind: s.kind, comm: s.comm, image: s.image, pid })) : [];
}

function cgroupOf(c: Collectors, store: StackStore, pid: number): string | null {
  return store.get(pid)?.cgroup ?? c.containers.ofPid(pid)?.cgroup ?? null;
}

/** Samples with equal pid, kind and frames merged, then named (each distinct stack once). */
function toPprof(c: Collectors, store: StackStore, samples: RawSample[], values: (n: number) => number[]): PprofStack[] {
  const merged = new Map<string, RawSample>();
  for (const s of samples) {
    const key = `${s.pid}/${rawKey(s)}`;
    const m = merged.get(key);
    if (m) m.count += s.count;
    else merged.set(key, copySample(s));
  }
  return [...merged.values()].map((s) => {
    const cgroup = cgroupOf(c, store, s.pid);
    const cont = cgroup ? c.containers.ofCgroupPath(cgroup) : null;
    const labels: Record<string, string> = {};
    if (cgroup) labels.cgroup = cgroup;
    if (cont?.id) labels.container = cont.name ?? cont.id.slice(0, 12);
    if (s.kind) labels.kind = s.kind;
    return { values: values(s.count), user: c.symbolize(s.pid, s), kernel: [], pid: s.pid, comm: s.comm, labels };
  });
}

function filter(c: Collectors, store: StackStore, samples: RawSample[], pid: number | undefined, container: string | null): RawSample[] {
  return samples.filter((s) => {
    if (pid !== undefined && s.pid !== pid) return false;
    if (container === null) return true;
    const cgroup = cgroupOf(c, store, s.pid);
    return cgroup ? c.containers.matches(c.containers.ofCgroupPath(cgroup), container) : false;
  });
}

export function addPprofRoutes(server: AgentServer, c: Collectors, config: () => AgentConfig, memscopeBin: string): void {
  const moduleOf = (pid: number, f: Parameters<typeof c.symbolizer.moduleOf>[1]) => c.symbolizer.moduleOf(pid, f);

  const stacksFor = async (store: StackStore, q: URLSearchParams): Promise<{ stacks: RawSample[]; seconds: number }> => {
    const pid = intParam(q, 'pid', undefined, 1, 1 << 30);
    const container = q.get('container');
    const seconds = intParam(q, 'seconds', pid === undefined ? 30 : undefined, 1, config().maxProfileSeconds);
    const stacks =
      seconds === undefined
        ? kept(c, store, pid!)
        : pid !== undefined && store === c.faults
          ? await tracedFaults(c, pid, seconds)
          : await windowOf(c, store, seconds);
    return { stacks: filter(c, store, stacks, pid, container), seconds: seconds ?? 0 };
  };

  server.route('/debug/pprof/faults', 'page-fault stacks: ?seconds=N (default 30) or ?pid=P (kept since first seen); &pid=P &container=C', async (q) => {
    const { stacks, seconds } = await stacksFor(c.faults, q);
    const body = renderPprof({
      sampleTypes: [
        ['faults', 'count'],
        ['bytes', 'bytes'],
      ],
      defaultSampleType: 'faults',
      durationNs: seconds * 1e9,
      stacks: toPprof(c, c.faults, stacks, (n) => [n, n * PAGE]),
      moduleOf,
      comments: ['bytes: one page per fault'],
    });
    return reply(body, 'faults.pb.gz');
  });

  server.route('/debug/pprof/growth', 'brk/mmap growth stacks in bytes: ?seconds=N (default 30) or ?pid=P; &container=C', async (q) => {
    const { stacks, seconds } = await stacksFor(c.growth, q);
    const body = renderPprof({
      sampleTypes: [['space', 'bytes']],
      durationNs: seconds * 1e9,
      stacks: toPprof(c, c.growth, stacks, (n) => [n]),
      moduleOf,
    });
    return reply(body, 'growth.pb.gz');
  });

  server.route('/debug/pprof/oom', "an OOM kill's victim fault stacks: ?id=N (see /api/oom)", (q) => {
    const id = intParam(q, 'id', undefined, 1, 1 << 30);
    const k = id === undefined ? undefined : c.ooms.get(id);
    if (!k) throw new HttpError(404, `no OOM kill with id ${q.get('id') ?? '(missing)'}: see /api/oom`);
    const labels: Record<string, string> = { oom_id: String(k.id) };
    if (k.cgroup) labels.cgroup = k.cgroup;
    if (k.container) labels.container = k.container.name ?? k.container.id?.slice(0, 12) ?? '';
    const body = renderPprof({
      sampleTypes: [
        ['faults', 'count'],
        ['bytes', 'bytes'],
      ],
      stacks: k.victim_fault_stacks.map((s) => ({
        values: [s.count, s.count * PAGE],
        user: s.user,
        kernel: [],
        pid: k.victim.pid,
        comm: k.victim.comm,
        labels,
      })),
      moduleOf,
    });
    return reply(body, `oom-${k.id}.pb.gz`);
  });

  server.route('/debug/pprof/heap', 'memleak of one process: ?pid=P&seconds=N (default 30)[&sample_bytes=B: the sampler, not uprobes]; Go heap profile layout', async (q) => {
    const pid = intParam(q, 'pid', undefined, 1, 1 << 30);
    if (pid === undefined) throw new HttpError(400, 'pid: required (a heap profile is of one process)');
    if (!fs.existsSync(`/proc/${pid}`)) throw new HttpError(404, `no process ${pid}`);
    const seconds = intParam(q, 'seconds', 30, 1, config().maxProfileSeconds)!;
    // 1 GiB: memleak's own bound is any positive size, but a period beyond that samples nothing useful
    const sampleBytes = intParam(q, 'sample_bytes', undefined, 1, 1 << 30);
    const sampling = sampleBytes === undefined ? [] : ['--sample-bytes', String(sampleBytes)];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-heap-'));
    const file = path.join(dir, 'heap.pb.gz');
    try {
      await new Promise<void>((resolve, reject) => {
        // stdout is a pipe that is drained, not 'ignore': Node's /dev/null for an ignored stdout
        // looks like the one it opens for a closed stdout, which memscope refuses (core/stdio.ts).
        // The lifeline ends memleak (and detaches its uprobes) if the agent dies mid-profile; with
        // sample_bytes, memleak puts the process's allocator slots back as it ends, and if it is
        // killed outright the sampler finds it gone at its next sample and stops (memscope_sampler.c).
        const child = spawn(memscopeBin, ['memleak', '-p', String(pid), ...sampling, '--pprof', file, '--combined-only', String(seconds), '1'], withLifeline(['ignore', 'pipe', 'pipe']));
        child.stdout!.resume();
        let attached = false;
        let partial = ''; // stderr after its last newline
        let lastLine = ''; // what memleak said last: the reason it gives when it fails
        const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 60) * 1000);
        child.stderr!.setEncoding('utf8').on('data', (d: string) => {
          const lines = (partial + d).split('\n');
          partial = lines.pop()!.slice(-4096);
          for (const line of lines) {
            if (line.trim()) lastLine = line;
            // memleak's banner: the uprobes are attached, allocations from now on are seen
            if (!attached && line.includes('Hit Ctrl-C')) {
              attached = true;
              logEvent('heap_profile_attached', sampleBytes === undefined ? { pid, seconds } : { pid, seconds, sample_bytes: sampleBytes });
            }
            // memleak's warnings (a full table, samples it could not keep): the profile is short of
            // something, and whoever reads it must be able to learn that from the agent's log
            const m = /^memscope: memleak: (.*); continuing$/.exec(line);
            if (m) logEvent('heap_profile_warning', { pid, message: m[1] });
          }
        });
        child.on('close', () => {
          clearTimeout(timer);
          if (fs.existsSync(file)) resolve();
          else reject(new HttpError(500, `memleak: ${(partial.trim() || lastLine.trim()) || 'failed'}`));
        });
      });
      return reply(fs.readFileSync(file), 'heap.pb.gz');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
