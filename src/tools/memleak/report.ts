// SPDX-License-Identifier: Apache-2.0
// memleak's reports: every interval and at the end, as text (the chapter's layout), JSON lines,
// folded stacks or a flame graph, with the growth of each stack across reports and the overflow
// warnings said once.
import * as fs from 'node:fs';
import type { BpfObject } from '../../engine/bpf-object';
import { parseFolded, renderFlameGraph } from '../../render/flamegraph';
import { escapeText } from '../../core/escape';
import { writeOutputFile } from '../../core/output-file';
import { printJson } from '../../render/json';
import { HEAP_SAMPLE_TYPES, renderPprof } from '../../render/pprof';
import { toFolded } from '../../render/stacks';
import { clock } from '../../render/table';
import { CountedStack, formatFrame } from '../../core/frames';
import type { Symbolizer } from '../../symbols/symbolizer';
import type { Collector, Row } from './collect';
import { writeProfileFile } from '../_stack-report';
import type { ContainerColumn } from '../_container-column';
import { Growth } from './growth';
import type { Settings } from './options';

const OVERFLOWS: [string, string][] = [
  ['allocs_full', 'the table of outstanding allocations is full: new allocations are not recorded (totals are low)'],
  ['combined_full', 'the table of stacks is full: allocations from new stacks are not recorded'],
  ['stacks_lost', 'some stacks could not be captured (stack table full, or two stacks hashed alike): they show as [unknown]'],
  ['pending_full', 'too many threads in allocator calls at once: some allocations were missed'],
  ['sampled_unrecorded', "the process's sampler could not keep a record of some sampled blocks (its malloc failed: the process is out of memory?): they are not in the report (totals are low)"],
];

export class Reporter {
  private growth = new Growth();
  private reports = 0;
  private warned = new Set<string>();

  constructor(
    private readonly s: Settings,
    private readonly collector: Collector,
    private readonly symbolizer: Symbolizer,
    /** with --json/--pprof: each per-process row's container */
    private readonly containers?: ContainerColumn,
  ) {}

  /** One report; with --folded/--svg only the final one prints. */
  report(obj: BpfObject, final: boolean, targetExited = false): void {
    const { opts } = this.s;
    this.checkOverflow(obj);
    if (opts.pid !== undefined && fs.existsSync(`/proc/${opts.pid}`)) this.symbolizer.observe(opts.pid);
    const now = Date.now();
    const older = final && targetExited && this.s.olderDefault ? undefined : opts.older;
    const rows = this.collector.rows(obj, older);
    this.reports++;
    for (const r of rows) this.growth.add(r.id, now, r.bytes);
    this.growth.endReport(now);
    const sorted = rows
      .filter((r) => r.count > 0)
      .sort((a, b) => (opts.sort === 'count' ? b.count - a.count || b.bytes - a.bytes : b.bytes - a.bytes || b.count - a.count))
      .slice(0, opts.top);
    if (final && opts.pprof) this.writePprof(rows);
    if (opts.folded || opts.svg) {
      if (!final) return;
      this.writeFolded(sorted);
      if (!opts.json && !opts.folded) this.printText(sorted, rows, older);
      return;
    }
    if (opts.json) this.printJson(sorted, now);
    else this.printText(sorted, rows, older);
  }

  private checkOverflow(obj: BpfObject): void {
    for (const [name, text] of OVERFLOWS) {
      if (!this.warned.has(name) && obj.readGlobalU64(name) > 0n) {
        this.warned.add(name);
        process.stderr.write(`memscope: memleak: ${text}; continuing\n`);
      }
    }
  }

  /** --pprof: a Go heap profile: alloc_* every allocation while traced, inuse_* the outstanding ones. */
  private writePprof(rows: Row[]): void {
    const { opts } = this.s;
    const live = rows.filter((r) => r.count > 0 || r.allocCount > 0);
    const data = renderPprof({
      sampleTypes: HEAP_SAMPLE_TYPES,
      periodType: ['space', 'bytes'],
      period: 1,
      defaultSampleType: 'inuse_space',
      stacks: live.map((r) => {
        return {
          values: [Math.round(r.allocCount), Math.round(r.allocBytes), Math.round(r.count), Math.round(r.bytes)],
          user: r.user,
          kernel: r.kernel,
          pid: r.pid,
          comm: r.comm,
          labels: this.containerLabel(r.pid),
        };
      }),
      moduleOf: (pid, f) => this.symbolizer.moduleOf(pid, f),
      comments: this.s.estimateNote ? [this.s.estimateNote.trim()] : [],
    });
    writeProfileFile(opts.pprof!, data, `${live.length} stacks`);
  }

  /** pprof's container label of a per-process row (none for the host or without per-process rows) */
  private containerLabel(pid: number): Record<string, string> | undefined {
    const c = this.containers && this.s.perProcess && pid ? this.containers.json(pid) : null;
    return c ? { container: c } : undefined;
  }

  private writeFolded(sorted: Row[]): void {
    const { opts } = this.s;
    const counted: CountedStack[] = sorted.map((r) => ({ pid: r.pid, comm: r.comm, count: r.bytes, user: r.user, kernel: r.kernel }));
    const folded = toFolded(counted);
    if (opts.svg) {
      const title = `Outstanding allocations${this.s.estimateNote}`;
      const svg = renderFlameGraph(parseFolded(folded.join('\n')), { title, unit: 'bytes', palette: 'mem' });
      writeOutputFile(opts.svg, svg, `${counted.length} stacks`);
    }
    if (opts.folded) for (const l of folded) process.stdout.write(l + '\n');
  }

  private printJson(sorted: Row[], now: number): void {
    const time = clock(new Date(now));
    for (const r of sorted) {
      const g = this.growth.of(r.id);
      printJson({
        report: this.reports,
        time,
        // the report's read time to the millisecond: the growth slope's x (a reader can check it)
        time_ms: now,
        ...(this.s.perProcess ? { pid: r.pid, comm: r.comm, ...(this.containers ? { container: this.containers.json(r.pid) } : {}) } : {}),
        bytes: Math.round(r.bytes),
        allocations: Math.round(r.count),
        estimated: this.s.estimate,
        ...(g ? { growth: g.verdict, growth_bytes_per_sec: Math.round(g.slope), growth_reports: g.points } : {}),
        ustack: r.user.map((f) => formatFrame(f)),
        ...(r.kernel.length ? { kstack: r.kernel.map((f) => formatFrame(f)) } : {}),
        ...(r.allocs ? { allocs: r.allocs.map((a) => ({ addr: a.addr, size: a.size, age_ms: a.ageMs })) } : {}),
      });
    }
  }

  /** The grand total over every stack (not only the top ones), as valgrind and heaptrack end with. */
  private totalLine(rows: Row[], older: number | undefined): string {
    const { user } = this.s;
    const opts = this.s.opts;
    const live = rows.filter((r) => r.count > 0);
    const bytes = Math.round(live.reduce((t, r) => t + r.bytes, 0));
    const count = Math.round(live.reduce((t, r) => t + r.count, 0));
    const notes = [`${live.length} stack${live.length === 1 ? '' : 's'}`];
    if (older !== undefined) notes.push(`older than ${older} ms${this.s.olderDefault ? ': -o 0 shows all' : ''}`);
    if (user && !this.s.sampler) notes.push(opts.mmap === false ? "mmap'd regions left out" : "mmap'd regions included: --no-mmap leaves them out");
    // the sampler wraps the malloc family only: as --no-mmap, whatever the sampling rate
    if (user && this.s.sampler) notes.push("mmap'd regions not seen by the sampler");
    return `${bytes} bytes in ${count} allocations outstanding${this.s.estimate ? ' (estimated)' : ''} (${notes.join('; ')})`;
  }

  private printText(sorted: Row[], rows: Row[], older: number | undefined): void {
    const { opts } = this.s;
    const lines = [`[${clock()}] Top ${opts.top} stacks with outstanding allocations${this.s.estimateNote}:`];
    // BCC's order: the largest last, nearest the prompt
    for (const r of [...sorted].reverse()) {
      if (r.allocs) {
        for (const a of r.allocs.sort((x, y) => (x.addr < y.addr ? -1 : 1))) {
          lines.push(`\taddr = ${a.addr.toString(16)} size = ${a.size} age = ${a.ageMs} ms`);
        }
      }
      const g = this.growth.of(r.id);
      const trend = g ? `  [growth ${formatRate(g.slope)} over ${g.points} reports: ${g.verdict}]` : '';
      lines.push(`\t${Math.round(r.bytes)} bytes in ${Math.round(r.count)} allocations from stack${trend}`);
      const frames = [...r.kernel, ...r.user];
      if (!frames.length) lines.push('\t\t[unknown]');
      for (const f of frames) lines.push(`\t\t${escapeText(formatFrame(f))}`);
    }
    lines.push(this.totalLine(rows, older));
    process.stdout.write(lines.join('\n') + '\n');
  }
}

function formatRate(bytesPerSec: number): string {
  const sign = bytesPerSec > 0 ? '+' : bytesPerSec < 0 ? '-' : '';
  const v = Math.abs(bytesPerSec);
  const s = v >= 1 << 20 ? `${(v / (1 << 20)).toFixed(1)} MiB/s` : v >= 1024 ? `${(v / 1024).toFixed(1)} KiB/s` : `${Math.round(v)} B/s`;
  return sign + s;
}
