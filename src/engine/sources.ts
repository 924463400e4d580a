// SPDX-License-Identifier: Apache-2.0
// Event-source selection: a tool lists, for each thing it observes, the alternative ways the
// kernel may offer it in preference order; the first one this kernel supports is used.
import { btfTracepointExists, tracepointExists } from './features';

export type Requirement =
  | { tracepoint: string } // classic tracepoint "category/name"
  | { btf: string } // tp_btf / raw tracepoint name
  | { always: true }; // perf software events, uprobes: present on every kernel we run on

export interface Source {
  /** Short name shown under --verbose, e.g. "tracepoint syscalls/sys_enter_brk". */
  name: string;
  /** BPF programs that implement this source (autoloaded only if it is chosen). */
  programs: string[];
  requires: Requirement[];
  /** How to attach; default attaches each program by its section name. 'manual': the tool attaches
   * its programs itself in TraceSpec.attach (e.g. one generic program on run-time probes, with cookies). */
  attach?: 'auto' | 'manual' | { perfEvent: { type: number; config: number; period: number } };
}

export interface ProbeGroup {
  /** What the group observes, for messages: "brk() calls". */
  what: string;
  sources: Source[];
  /** Not wanted in this run (an option left off): its programs are not loaded. */
  off?: boolean;
}

/**
 * The common case: one tracepoint seen through tp_btf (preferred: its links detach in well under a
 * millisecond, a classic tracepoint's in ~70 ms here) or else the classic tracepoint.
 */
export function tracepointGroup(what: string, category: string, event: string, btfProg: string, tpProg: string): ProbeGroup {
  return {
    what,
    sources: [
      { name: `tp_btf ${event}`, programs: [btfProg], requires: [{ btf: event }] },
      { name: `tracepoint ${category}/${event}`, programs: [tpProg], requires: [{ tracepoint: `${category}/${event}` }] },
    ],
  };
}

export function requirementMet(r: Requirement): boolean {
  if ('tracepoint' in r) return tracepointExists(r.tracepoint);
  if ('btf' in r) return btfTracepointExists(r.btf);
  return true;
}

export function describeRequirement(r: Requirement): string {
  if ('tracepoint' in r) return `tracepoint ${r.tracepoint}`;
  if ('btf' in r) return `BTF tracepoint ${r.btf}`;
  return 'always';
}

/**
 * Picks the first usable source of a group, or explains what is missing. `prefer` (from --source)
 * moves sources whose name contains it to the front, so a user can compare sources or work around one.
 * `met` answers whether this kernel offers a requirement (a parameter so the choice is testable
 * without the kernel's tracefs and BTF).
 */
export function chooseSource(group: ProbeGroup, prefer?: string, met: (r: Requirement) => boolean = requirementMet): Source | string {
  const ordered = prefer
    ? [...group.sources.filter((s) => s.name.includes(prefer)), ...group.sources.filter((s) => !s.name.includes(prefer))]
    : group.sources;
  for (const s of ordered) if (s.requires.every(met)) return s;
  const missing = group.sources.flatMap((s) => s.requires.filter((r) => !met(r)).map(describeRequirement));
  return `this kernel offers no event source for ${group.what} (missing: ${[...new Set(missing)].join(', ')})`;
}

// perf_event_attr constants for software events
export const PERF_TYPE_SOFTWARE = 1;
export const PERF_COUNT_SW_PAGE_FAULTS = 2;
export const PERF_COUNT_SW_PAGE_FAULTS_MIN = 5;
export const PERF_COUNT_SW_PAGE_FAULTS_MAJ = 6;
