// SPDX-License-Identifier: Apache-2.0
// Stacks with counts: the stackcount-style text report, folded lines and JSON records.
import { CountedStack, Frame, formatFrame, frameName } from '../core/frames';
import type { StackRecord } from '../core/records';
import { escapeText } from '../core/escape';

/** Merges stacks whose symbolized frames, pid and comm are equal (the addresses may differ);
 * with `names`, frames that differ only in offset are equal too (a report without offsets). */
export function mergeStacks(stacks: CountedStack[], opts: { names?: boolean } = {}): CountedStack[] {
  const byKey = new Map<string, CountedStack>();
  const fmt = (f: Frame) => (opts.names ? frameName(f) : formatFrame(f));
  for (const s of stacks) {
    const key = [s.pid, s.comm, ...s.kernel.map(fmt), '|', ...s.user.map(fmt)].join('\n');
    const prev = byKey.get(key);
    if (prev) prev.count += s.count;
    else byKey.set(key, { ...s });
  }
  return [...byKey.values()];
}

/**
 * Stacks gathered over a run's reports for one profile, kept bounded: add() each report's stacks,
 * settle() after the report merges them (mergeStacks) and, past `limit` distinct stacks, sums the
 * least counted into one sample per process under a fixed "[stacks over the profile's limit]"
 * frame (a fixed text, so later reports' overflow merges into it). Counts always add up.
 */
export class ProfileStacks {
  private kept: CountedStack[] = [];
  private added: CountedStack[] = [];
  constructor(private readonly limit: number) {}

  add(s: CountedStack): void {
    this.added.push(s);
  }

  settle(): void {
    if (!this.added.length) return;
    const merged = mergeStacks([...this.kept, ...this.added]);
    this.added = [];
    if (merged.length <= this.limit) {
      this.kept = merged;
      return;
    }
    merged.sort((a, b) => b.count - a.count);
    const rest = merged.slice(this.limit);
    const frame: Frame = { addr: 0n, symbol: `[stacks over the profile's limit of ${this.limit.toLocaleString('en-US')}]`, offset: 0, module: null, note: true };
    const folded = rest.map((s) => ({ ...s, user: [frame], kernel: [] }));
    // the folded samples merge with each other and with earlier reports' (same frame text)
    this.kept = mergeStacks([...merged.slice(0, this.limit), ...folded]);
  }

  stacks(): CountedStack[] {
    this.settle();
    return this.kept;
  }
}

/** stackcount -P style: kernel frames, then user frames, then "comm [pid]" and the count; most frequent last.
 * `names`: frames as symbol names only, without +offset and [module] (BCC's default; its -s adds offsets). */
export function formatStackCounts(
  stacks: CountedStack[],
  opts: { countLabel?: (s: CountedStack) => string; names?: boolean; delimiter?: boolean } = {},
): string[] {
  const lines: string[] = [];
  const fmt = (f: Frame) => (opts.names ? frameName(f) : formatFrame(f));
  for (const s of [...stacks].sort((a, b) => a.count - b.count)) {
    lines.push('');
    // frame names come from other people's binaries and JIT maps, comm from exec -a: escaped
    for (const f of s.kernel) lines.push(`  ${escapeText(fmt(f))}`);
    if (s.kernel.length && s.user.length && opts.delimiter !== false) lines.push('  --');
    for (const f of s.user) lines.push(`  ${escapeText(fmt(f))}`);
    if (!s.kernel.length && !s.user.length) lines.push('  [unknown]');
    if (s.comm || s.pid) lines.push(`    ${escapeText(s.comm)} [${s.pid}]`); // stacks merged across processes have neither
    lines.push(`    ${opts.countLabel ? opts.countLabel(s) : s.count}`);
  }
  return lines;
}

/** flamegraph.pl input: "comm;root;...;leaf count", kernel frames suffixed _[k] above user frames;
 * `delimiter` puts a "-" frame between user and kernel frames (BCC's -d). */
export function toFolded(stacks: CountedStack[], opts: { delimiter?: boolean } = {}): string[] {
  const counts = new Map<string, number>();
  for (const s of stacks) {
    const frames = [
      ...(s.comm ? [s.comm] : []),
      ...[...s.user].reverse().map(frameName),
      ...(opts.delimiter && s.user.length && s.kernel.length ? ['-'] : []),
      ...[...s.kernel].reverse().map((f) => `${frameName(f)}_[k]`),
    ].map((n) => escapeText(n).replace(/;/g, ':').replace(/\s+/g, '_'));
    const key = frames.join(';');
    counts.set(key, (counts.get(key) ?? 0) + s.count);
  }
  return [...counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, c]) => `${k} ${c}`);
}

export function stackJson(s: CountedStack): StackRecord {
  return {
    ...(s.comm || s.pid ? { pid: s.pid, comm: s.comm } : {}),
    count: s.count,
    ...s.extra,
    ustack: s.user.map((f) => formatFrame(f)),
    ...(s.kernel.length ? { kstack: s.kernel.map((f) => formatFrame(f)) } : {}),
  };
}
