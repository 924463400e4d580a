// SPDX-License-Identifier: Apache-2.0
// Two of the dashboard's sources that the agent serves from what it already runs, with no tool
// started anew: page faults traced "on demand" come from the agent's own faults object, counted in
// maps kept for traced processes (Collectors.traceFaults), and each process's swap-ins are read from the swapin object's
// per-process counts (the swapin tool's map).
import { eachEntry } from '../engine/struct';
import { readProc } from '../procfs/common';
import type { Frame } from '../core/frames';
import type { Profile, StackValue, TraceCallbacks, TraceHandle } from '../dashboard/types';
import { SWAPIN_KEY } from '../tools/swapin';
import { Collectors, isAlive } from './collectors';
import { rawKey, RawStack } from './stack-store';

/** the window's distinct stacks (as the fault tool's own map would hold them) */
const MAX_WINDOW_STACKS = 5000;
/** a running trace collects this often, so the page's flame graph updates while it runs */
const REPORT_MS = 1000;

/**
 * The page faults of one process from now for `seconds`: from the start its faults are counted in
 * the fault trace maps (what faulted before belongs to no trace), read every REPORT_MS (each read
 * sends the profile so far) and once more at the end. Only those small maps are read meanwhile,
 * never the host's whole count map. It ends early when the process exits or the page stops it.
 */
export function keptFaultTrace(
  c: Collectors,
  toProfile: (comm: string, pid: number, stacks: { frames: Frame[]; count: number }[]) => StackValue[],
  pid: number,
  seconds: number,
  cb: TraceCallbacks,
): TraceHandle {
  // faults of traced processes the kernel dropped from here on (the trace maps full: 64 processes'
  // 16,384 stacks). A storm of new processes elsewhere no longer counts here: it fills the shared
  // map, which the trace does not use (a fork storm beside the test lost 577,881 faults in 30 s
  // there, and the trace showed 2,255 of 3,000 when it was a window on that map).
  const lostAtStart = c.faultTraceLost();
  const stacks = new Map<string, RawStack>();
  let comm = readProc(`/proc/${pid}/comm`)?.trim() ?? ''; // the root frame until a fault names it
  let changed = false;
  const close = c.traceFaults(pid, (batch) => {
    for (const s of batch) {
      if (s.pid !== pid) continue;
      comm = s.comm;
      changed = true;
      const k = rawKey(s);
      const prev = stacks.get(k);
      if (prev) prev.count += s.count;
      else if (stacks.size < MAX_WINDOW_STACKS) stacks.set(k, { user: s.user, missed: s.missed, count: s.count, kind: s.kind, comm: s.comm, image: s.image });
    }
  });
  const report = () => {
    changed = false;
    const p: Profile = {
      unit: 'faults',
      stacks: toProfile(
        comm,
        pid,
        [...stacks.values()].map((s) => ({ frames: c.symbolize(pid, s), count: s.count })),
      ),
      t: Date.now(),
    };
    const lost = c.faultTraceLost() - lostAtStart;
    if (lost > 0) p.lost = lost;
    cb.onProfile(p);
  };
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(tick);
    clearTimeout(timer);
    close(); // reads the last faults first
    report();
    cb.onEnd();
  };
  const tick = setInterval(() => {
    if (!isAlive(pid)) return end();
    c.collectTraced();
    if (changed) report();
  }, REPORT_MS);
  const timer = setTimeout(end, seconds * 1000);
  cb.onStart();
  return { stop: end };
}

/**
 * Pages swapped in per process (from a swap device or zswap) since the agent started, from the
 * swapin object's map. Entries of processes that have exited are deleted as they are read, so the
 * map (10,240 entries) holds the live ones only.
 */
export function swapinsByPid(c: Collectors): Map<number, number> {
  const out = new Map<number, number>();
  const obj = c.source('swapin');
  if (!obj) return out;
  const e = obj.entries('swapins');
  const gone: Buffer[] = [];
  const alive = new Map<number, boolean>();
  let i = 0;
  for (const [k, v] of eachEntry(e, SWAPIN_KEY)) {
    let live = alive.get(k.pid);
    if (live === undefined) alive.set(k.pid, (live = isAlive(k.pid)));
    if (live) out.set(k.pid, (out.get(k.pid) ?? 0) + Number(v.readBigUInt64LE(0)));
    else gone.push(Buffer.from(e.keys.subarray(i * e.keySize, (i + 1) * e.keySize)));
    i++;
  }
  for (const key of gone) obj.delete('swapins', key);
  return out;
}
