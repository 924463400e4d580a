// SPDX-License-Identifier: Apache-2.0
// The shared ending of every "count by stack" tool: text report, folded, JSON or SVG.
import type { CommonOptions } from './options';
import { renderFlameGraph, parseFolded } from '../render/flamegraph';
import { printJson } from '../render/json';
import { writeOutputFile } from '../core/output-file';
import type { CountedStack } from '../core/frames';
import { formatStackCounts, mergeStacks, stackJson, toFolded } from '../render/stacks';
import { renderPprof } from '../render/pprof';
import type { Symbolizer } from '../symbols/symbolizer';
import type { ContainerColumn } from './_container-column';
import type { BpfObject } from '../engine/bpf-object';
import { stacksLost, type StacksLost } from '../engine/stacks';

/** Writes a profile as every output file is written (core/output-file.ts: never through a link,
 * a new file renamed into place) and says so on stderr. */
export function writeProfileFile(file: string, data: Buffer, note?: string): void {
  writeOutputFile(file, data, note);
}

/** --pprof FILE: the stacks as a profile with one sample type [type, unit] (e.g. faults/count). */
export function writeStacksPprof(
  file: string,
  stacks: CountedStack[],
  sampleType: [string, string],
  symbolizer?: Symbolizer,
  labelsOf?: (s: CountedStack) => Record<string, string>,
): void {
  const data = renderPprof({
    sampleTypes: [sampleType],
    stacks: stacks.map((s) => ({ values: [s.count], user: s.user, kernel: s.kernel, pid: s.pid, comm: s.comm, labels: labelsOf?.(s) })),
    moduleOf: symbolizer ? (pid, f) => symbolizer.moduleOf(pid, f) : undefined,
  });
  writeProfileFile(file, data, `${stacks.length} stacks`);
}

export function reportStacks(
  stacks: CountedStack[],
  opts: CommonOptions,
  graph: {
    title: string;
    unit: string;
    palette?: 'hot' | 'mem';
    delimiter?: boolean;
    names?: boolean;
    pprofType?: [string, string];
    symbolizer?: Symbolizer;
    /** the container of each per-process stack: `container` in --json, a pprof label (see containerOutputs) */
    containers?: ContainerColumn;
  },
): void {
  const merged = mergeStacks(stacks, { names: graph.names && !opts.json });
  const cont = graph.containers;
  if (opts.pprof) writeStacksPprof(opts.pprof, merged, graph.pprofType ?? ['events', 'count'], graph.symbolizer, cont && ((s) => containerLabels(cont, s)));
  if (opts.svg) {
    const folded = toFolded(merged).join('\n');
    const svg = renderFlameGraph(parseFolded(folded), { title: graph.title, unit: graph.unit, palette: graph.palette });
    writeOutputFile(opts.svg, svg, `${merged.length} stacks`);
  }
  if (opts.folded) {
    for (const line of toFolded(merged, { delimiter: graph.delimiter })) process.stdout.write(line + '\n');
  } else if (opts.json) {
    for (const s of merged.sort((a, b) => b.count - a.count)) printJson(cont && s.pid ? { ...stackJson(s), container: cont.json(s.pid) } : stackJson(s));
  } else if (!opts.svg && !opts.pprof) {
    process.stdout.write(formatStackCounts(merged, { names: graph.names, delimiter: graph.delimiter }).join('\n') + '\n');
  }
}

/** Whether a stack tool's output shows containers: --json and --pprof rows name the process's
 * container; the text, folded and SVG outputs do not, so BPF need not note cgroups for them. */
export function containerOutputs(opts: CommonOptions): boolean {
  return Boolean(opts.json || opts.pprof);
}

/** pprof labels of a per-process stack: container (its name, else id), left out for the host. */
export function containerLabels(containers: ContainerColumn, s: CountedStack): Record<string, string> {
  const c = s.pid ? containers.json(s.pid) : null;
  return c ? { container: c } : {};
}

/**
 * Says, at the end of a run, the events whose user or kernel stack the kernel side could not store
 * (engine/stacks.ts stacksLost): one line on stderr, or a {"stacks_lost": {...}} line there with
 * --json (stdout keeping only records). Nothing when none was lost. Every stack tool ends with it,
 * so a loss is said the same way whichever tool met it; the events themselves are in the report,
 * under [missed user stack: ...] or [missed kernel stack: ...].
 * counted: losses the kernel keeps no count of, counted by the tool from the errors it was handed
 * (build-id stacks: bpf_get_stackid's -EEXIST, trace -U), added to the kernel's.
 */
export function reportStacksLost(obj: BpfObject, opts: { json?: boolean }, counted: Partial<StacksLost> = {}): void {
  const l = stacksLost(obj);
  for (const k of Object.keys(l) as (keyof StacksLost)[]) l[k] += counted[k] ?? 0;
  const user = l.user_full + l.user_collided;
  const kernel = l.kernel_full + l.kernel_collided;
  if (!user && !kernel) return;
  if (opts.json) {
    process.stderr.write(JSON.stringify({ stacks_lost: l }) + '\n');
    return;
  }
  const n = (v: number) => v.toLocaleString('en-US');
  const part = (kind: string, total: number, full: number, collided: number) =>
    `${n(total)} events' ${kind} stacks not stored (${n(full)} stack storage full, ${n(collided)} ids taken by other stacks)`;
  const parts = [];
  if (user) parts.push(part('user', user, l.user_full, l.user_collided));
  if (kernel) parts.push(part('kernel', kernel, l.kernel_full, l.kernel_collided));
  process.stderr.write(`memscope: ${parts.join('; ')}: counted under [missed ... stack]\n`);
}

/** Stacks an interval report names at most, from each source (a count map; DWARF stacks): the
 * most counted, the rest summed under an [N other stacks: ...] line per process (one without -P).
 * An interval's report is built while tracing goes on, so its memory adds to the tracing phase's
 * (ARCHITECTURE.md, "Memory bound": 2 x 2,048 stacks of up to 127 frames, ≈ 64 MiB named). */
export const INTERVAL_STACKS = 2048;

/** Distinct stacks an interval run's --pprof keeps of each kind over the whole run (ProfileStacks):
 * 4 x an interval report's, the least counted past it summed per process. */
export const PPROF_STACKS = 4 * INTERVAL_STACKS;

/**
 * Says after each interval's report what that interval lost: stacks left out of the report by
 * INTERVAL_STACKS (their events counted under one line), and events whose stacks the kernel side
 * could not store since the last report (stacksLost's growth). One line on stderr, or an
 * {"interval_lost": {...}} line there with --json; nothing when nothing was lost. Returns the
 * kernel's counts now, for the next interval's difference.
 */
export function reportIntervalLost(
  obj: BpfObject,
  opts: { json?: boolean },
  omitted: { stacks: number; events: number },
  before: StacksLost = { user_full: 0, user_collided: 0, kernel_full: 0, kernel_collided: 0 },
): StacksLost {
  const now = stacksLost(obj);
  const d = {} as StacksLost;
  for (const k of Object.keys(now) as (keyof StacksLost)[]) d[k] = now[k] - before[k];
  const user = d.user_full + d.user_collided;
  const kernel = d.kernel_full + d.kernel_collided;
  if (!omitted.stacks && !user && !kernel) return now;
  if (opts.json) {
    process.stderr.write(JSON.stringify({ interval_lost: { stacks_over_limit: omitted.stacks, events_over_limit: omitted.events, ...d } }) + '\n');
    return now;
  }
  const n = (v: number) => v.toLocaleString('en-US');
  const parts = [];
  if (omitted.stacks) parts.push(`${n(omitted.stacks)} stacks (${n(omitted.events)} events) over the report's limit of ${n(INTERVAL_STACKS)}, counted under [N other stacks: ...]`);
  if (user) parts.push(`${n(user)} events' user stacks not stored (${n(d.user_full)} stack storage full, ${n(d.user_collided)} ids taken)`);
  if (kernel) parts.push(`${n(kernel)} events' kernel stacks not stored (${n(d.kernel_full)} stack storage full, ${n(d.kernel_collided)} ids taken)`);
  process.stderr.write(`memscope: this interval: ${parts.join('; ')}\n`);
  return now;
}
