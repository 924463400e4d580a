// SPDX-License-Identifier: Apache-2.0
// triage: the chapter's checklist (7.1.3) as one command. Reads /proc and the kernel log, runs
// the BPF tools for one window as subprocesses (`memscope TOOL --json`, concurrently), and ranks
// what it finds, each finding with its numbers and the command to dig deeper. The parts:
// triage/plan.ts (steps, tools, thresholds), triage/collect.ts (running and reading),
// triage/rules*.ts and judge.ts (pure rules), triage/render-*.ts (text, HTML).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { addCommonOptions, CommonOptions, parseOutputPath, parsePositive } from './options';
import { UsageError } from '../core/errors';
import { requireRoot } from '../engine/session';
import { freeFigures } from '../procfs/meminfo';
import { pageSizeKb } from '../procfs/pid';
import { printJson } from '../render/json';
import type { TriageReport } from '../core/records';
import { collect } from './triage/collect';
import { judge } from './triage/judge';
import { FAULTS_PER_S_WARN, STEPS } from './triage/plan';
import { triageHtml } from './triage/render-html';
import { formatTriage } from './triage/render-text';
import { checkOutputPath, writeOutputFile } from '../core/output-file';
import { examples, Tool } from './tool';
import { escapeText } from '../core/escape';

interface TriageOptions extends CommonOptions {
  duration: number;
  html?: string;
  since: number;
  faultRate: number;
}

function progress(msg: string): void {
  process.stderr.write(`memscope triage: ${escapeText(msg)}\n`);
}

export async function triage(opts: TriageOptions): Promise<TriageReport> {
  const startedAt = new Date();
  const o = await collect({ duration: opts.duration, faultRate: opts.faultRate, verbose: !!opts.verbose, progress });
  const j = judge(o, opts.since, pageSizeKb(), opts.faultRate);
  j.steps.forEach((s, i) => progress(`${i + 1}/${STEPS.length} ${s.name}: ${s.status === 'clean' ? 'nothing wrong found' : s.status}${s.summary ? ` (${s.summary})` : ''}`));
  const memTotal = o.meminfo.MemTotal || 1;
  const tools: TriageReport['tools'] = {};
  for (const r of Object.values(o.runs)) {
    const round = (s?: number) => (s !== undefined ? Math.round(s * 10) / 10 : undefined);
    tools[r.tool] = { available: r.available, args: r.args, exit: r.code, seconds: round(r.seconds), traced: round(r.traced), error: r.error };
  }
  return {
    host: os.hostname(),
    kernel: os.release(),
    cpus: os.cpus().length,
    memTotalKb: memTotal,
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round(o.elapsed * 10) / 10,
    windowSeconds: Math.round(o.window * 10) / 10,
    findings: j.findings,
    steps: j.steps,
    tools,
    tables: {
      ...j.tables,
      memory: { ...freeFigures(o.meminfo), memTotalKb: memTotal } as unknown as Record<string, number>,
      swaps: o.swaps,
      cgroups: [...o.cg1.values()],
    },
    faultTargets: o.faultTargets.map((t) => ({ ...t, rate: Math.round(t.rate) })),
    faultsFolded: j.faultsFolded,
  };
}

export const tool: Tool<TriageOptions> = {
  name: 'triage',
  summary: "the chapter's checklist in one command: OOM kills, swap, free memory, processes, faults, reclaim; ranked findings",
  configure(cmd) {
    cmd.option('-d, --duration <S>', 'seconds in all, BPF tools tracing for most of them', parsePositive, 10);
    cmd.option('--html <FILE>', 'also write one self-contained HTML page with findings, tables and the page-fault flame graph', parseOutputPath);
    cmd.option('--since <S>', 'OOM kills in the last S seconds are problems; earlier ones are listed as history', parsePositive, 3600);
    cmd.option('--fault-rate <N>', 'page faults per second of one process that count as a high rate', parsePositive, FAULTS_PER_S_WARN);
    addCommonOptions(cmd, ['json']);
    cmd.addHelpText(
      'after',
      '\nWalks BPF Performance Tools 7.1.3 in order: OOM kills in the kernel log; swap configured, used\n' +
        'and active; free vs available memory and memory cgroups at their limit; the largest processes;\n' +
        'the page-fault rate and the stacks behind faults; the files backing faults; brk/mmap growth;\n' +
        'reclaim time; hardware cache misses. BPF tools (faults, ffaults, vmgrowth, vmscan, drsnoop,\n' +
        'swapin, oomkill) run concurrently as `memscope TOOL --json` for the window; a tool that is\n' +
        'missing or fails makes its step "not available". Progress goes to stderr; findings are ranked\n' +
        'by severity, each with its numbers and the command to dig deeper. Exit status 0 when triage ran,\n' +
        'whatever it found.\n' +
        examples([
          ['memscope triage', 'ten seconds, then the findings'],
          ['memscope triage -d 30 --html triage.html', '30 seconds, and a page to open in a browser'],
          ['memscope triage --json', 'one JSON object with findings, steps and tables'],
        ]),
    );
  },
  async run(opts: TriageOptions) {
    requireRoot();
    if (opts.duration < 2) throw new UsageError('triage needs --duration of at least 2 seconds');
    checkOutputPath(opts.html, '--html');
    const report = await triage(opts);
    if (opts.html) {
      writeOutputFile(opts.html, triageHtml(report));
    }
    if (opts.json) {
      const { faultsFolded: _f, ...rest } = report;
      printJson(rest);
    } else {
      process.stdout.write(formatTriage(report).map(escapeText).join('\n') + '\n');
    }
  },
};


