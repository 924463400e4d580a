// SPDX-License-Identifier: Apache-2.0
// triage's report as text: the findings ranked, the checklist, the largest processes.
import type { Severity, TriageReport } from '../../core/records';
import { formatTable } from '../../render/table';
import { humanKb } from '../../render/units';
import { n0, RANK } from './rules';

const SEV_LABEL: Record<Severity, string> = { critical: 'CRITICAL', warning: 'WARNING', info: 'INFO', ok: 'OK' };

export function formatTriage(r: TriageReport): string[] {
  const out = [`memscope triage: ${r.durationSeconds} s on ${r.host} (kernel ${r.kernel}, ${r.cpus} CPUs, ${humanKb(r.memTotalKb)})`, ''];
  const problems = r.findings.filter((f) => RANK[f.severity] >= RANK.warning);
  if (problems.length === 0) out.push('No problem found.', '');
  else out.push(`Findings, most severe first:`);
  r.findings.forEach((f, i) => {
    const lead = `${String(i + 1).padStart(2)}. ${SEV_LABEL[f.severity].padEnd(9)} `;
    out.push(lead + f.title);
    for (const dline of f.details) out.push(' '.repeat(lead.length) + dline);
    if (f.dig.length) out.push(' '.repeat(lead.length) + 'dig deeper: ' + f.dig.join('; '));
  });
  if (r.findings.length) out.push('');
  out.push('Checklist (BPF Performance Tools 7.1.3):');
  const w = Math.max(...r.steps.map((s) => s.name.length));
  r.steps.forEach((s, i) => {
    const status = s.status === 'clean' ? `nothing wrong found in ${s.id}` : s.status;
    out.push(`  ${i + 1}. ${s.name.padEnd(w)}  ${status}: ${s.summary}`);
  });
  out.push('', 'Largest processes by RSS:');
  out.push(
    ...formatTable(
      ['PID', 'COMM', 'RSS', 'GROWTH', 'SWAP', 'FAULTS/s'],
      r.tables.processes.slice(0, 5).map((p) => [p.pid, p.comm, humanKb(p.rssKb), humanKb(p.rssGrowthKb), humanKb(p.swapKb), n0(p.faultsPerS)]),
      [true, false, true, true, true, true],
    ).map((l) => '  ' + l),
  );
  return out;
}
