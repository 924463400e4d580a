// SPDX-License-Identifier: Apache-2.0
// triage's report as one self-contained HTML page: findings, checklist, the page-fault flame graph
// and the tables.
import type { TriageReport } from '../../core/records';
import { parseFolded, renderFlameGraph } from '../../render/flamegraph';
import { escapeHtml, htmlPage, htmlTable, inlineSvg } from '../../render/html';
import { humanKb } from '../../render/units';
import { formatOomEvent } from '../../render/oom-report';
import { n0 } from './rules';

export function triageHtml(r: TriageReport): string {
  const sections = [];
  const findingHtml = r.findings.length
    ? r.findings
        .map(
          (f) =>
            `<div class="finding ${f.severity}" data-severity="${f.severity}" data-step="${f.step}"><span class="sev">${f.severity}</span><strong>${escapeHtml(f.title)}</strong>` +
            (f.details.length ? `<ul>${f.details.map((x) => `<li>${escapeHtml(x)}</li>`).join('')}</ul>` : '') +
            (f.dig.length ? `<div>dig deeper: ${f.dig.map((c) => `<code>${escapeHtml(c)}</code>`).join(' ')}</div>` : '') +
            '</div>',
        )
        .join('\n')
    : '<div class="finding ok" data-severity="ok"><span class="sev">ok</span><strong>No problem found.</strong></div>';
  sections.push({ id: 'findings', title: 'Findings', html: findingHtml });
  sections.push({
    id: 'checklist',
    title: 'Checklist (BPF Performance Tools 7.1.3)',
    html: htmlTable(['#', 'step', 'result', 'summary'], r.steps.map((s, i) => [i + 1, s.name, s.status === 'clean' ? 'nothing wrong found' : s.status, s.summary])),
  });
  const folded = (r.faultsFolded ?? []).join('\n');
  sections.push({
    id: 'flamegraph',
    title: `Page-fault flame graph${r.faultTargets.length ? ` of ${r.faultTargets.map((t) => `${t.comm} (PID ${t.pid})`).join(' and ')}` : ''}, ${(r.tools.faults?.traced ?? r.windowSeconds).toFixed(1)} s`,
    html: folded
      ? `<div class="flame" id="flame">${inlineSvg(renderFlameGraph(parseFolded(folded), { title: 'Page Fault Flame Graph', unit: 'page faults', palette: 'mem' }))}</div>`
      : `<p>No page-fault stacks (${escapeHtml(/\(no stacks: (.*)\)$/.exec(r.steps.find((s) => s.id === 'faults')?.summary ?? '')?.[1] ?? 'no faults traced')}).</p>`,
  });
  sections.push({
    id: 'processes',
    title: 'Largest processes by RSS',
    html: htmlTable(
      ['PID', 'COMM', 'RSS', 'RSS growth', 'swap', 'faults/s'],
      r.tables.processes.map((p) => [p.pid, p.comm, humanKb(p.rssKb), humanKb(p.rssGrowthKb), humanKb(p.swapKb), n0(p.faultsPerS)]),
      [true, false, true, true, true, true],
    ),
  });
  if (r.tables.faultStacks.length) {
    sections.push({
      id: 'faultstacks',
      title: 'Page faults by stack',
      html: htmlTable(['PID', 'COMM', 'faults', 'stack (innermost first)'], r.tables.faultStacks.map((s) => [s.pid, s.comm, n0(s.count), s.ustack.slice(0, 8).join(' ← ') || '[no user stack]']), [true, false, true, false]),
    });
  }
  if (r.tables.files.length) sections.push({ id: 'files', title: 'Files backing page faults', html: htmlTable(['file', 'faults'], r.tables.files.map((f) => [f.file, n0(f.count)]), [false, true]) });
  if (r.tables.growth.length) {
    sections.push({
      id: 'growth',
      title: 'brk() and mmap() growth',
      html: htmlTable(['PID', 'COMM', 'net', 'brk', 'mmap'], r.tables.growth.map((g) => [g.pid, g.comm, humanKb(g.netBytes / 1024), g.brkBytes !== undefined ? humanKb(g.brkBytes / 1024) : '', g.mmapBytes !== undefined ? humanKb(g.mmapBytes / 1024) : '']), [true, false, true, true, true]),
    });
  }
  const m = r.tables.memory;
  sections.push({
    id: 'memory',
    title: 'Memory (free)',
    html:
      htmlTable(['total', 'used', 'free', 'shared', 'buff/cache', 'available'], [[m.total, m.used, m.free, m.shared, m.buffCache, m.available].map(humanKb)], [true, true, true, true, true, true]) +
      (r.tables.swaps.length ? htmlTable(['swap device', 'type', 'size', 'used', 'prio'], r.tables.swaps.map((s) => [s.name, s.type, humanKb(s.sizeKb), humanKb(s.usedKb), s.priority]), [false, false, true, true, true]) : '<p>No swap configured.</p>') +
      (r.tables.cgroups.length ? htmlTable(['memory cgroup', 'usage', 'limit'], r.tables.cgroups.map((c) => [c.path, humanKb(c.usageKb), humanKb(c.limitKb)]), [false, true, true]) : ''),
  });
  sections.push({ id: 'reclaim', title: 'Reclaim', html: htmlTable(Object.keys(r.tables.reclaim), [Object.values(r.tables.reclaim).map((v) => (Number.isInteger(v) ? n0(v) : v.toFixed(2)))], Object.keys(r.tables.reclaim).map(() => true)) });
  if (r.tables.oomKills.length) sections.push({ id: 'oomkills', title: 'OOM kills in the kernel log', html: `<pre>${escapeHtml(r.tables.oomKills.map((e) => formatOomEvent(e).join('\n')).join('\n\n'))}</pre>` });
  sections.push({
    id: 'tools',
    title: 'Tools run',
    html: htmlTable(['tool', 'result'], Object.entries(r.tools).map(([t, x]) => [`memscope ${t}`, !x.available ? 'not available' : x.error ? `failed: ${x.error}` : 'ok'])),
  });
  return htmlPage(`memscope triage: ${r.host}`, `${r.startedAt}, ${r.durationSeconds} s, kernel ${r.kernel}, ${r.cpus} CPUs, ${humanKb(r.memTotalKb)}`, sections);
}
