// SPDX-License-Identifier: Apache-2.0
// One self-contained HTML page (no external files): a title, sections of text and tables, and
// inline SVG such as flame graphs. Used by `memscope triage --html`.
import { escapeXml } from '../core/escape';

/** Text for HTML: <>&" escaped, and control characters shown escaped (core/escape.ts); line
 * breaks and tabs stay, for the multi-line blocks memscope composes itself. */
export function escapeHtml(s: string): string {
  return escapeXml(s, true);
}

export function htmlTable(headers: string[], rows: (string | number)[][], rightAligned: boolean[] = [], cls = ''): string {
  const th = headers.map((h, i) => `<th${rightAligned[i] ? ' class="r"' : ''}>${escapeHtml(h)}</th>`).join('');
  const trs = rows
    .map((r) => '<tr>' + r.map((v, i) => `<td${rightAligned[i] ? ' class="r"' : ''}>${escapeXml(String(v))}</td>`).join('') + '</tr>')
    .join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

/** An SVG document (as renderFlameGraph writes it) made fit to sit inside HTML. */
export function inlineSvg(svg: string): string {
  return svg.replace(/^<\?xml[^>]*>\s*/, '');
}

export interface HtmlSection {
  id: string;
  title: string;
  /** Trusted HTML (build it with escapeHtml / htmlTable). */
  html: string;
}

export function htmlPage(title: string, subtitle: string, sections: HtmlSection[]): string {
  const nav = sections.map((s) => `<a href="#${s.id}">${escapeHtml(s.title)}</a>`).join(' · ');
  const body = sections.map((s) => `<section id="${s.id}"><h2>${escapeHtml(s.title)}</h2>\n${s.html}\n</section>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1240px; color: #222; padding: 0 1em; }
 h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
 .sub { color: #666; } nav { margin: 0.8em 0; font-size: 0.9em; } nav a { color: #2060a0; }
 table { border-collapse: collapse; font-size: 0.88em; margin: 0.5em 0; } th, td { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
 th { background: #f4f4f4; } td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
 .finding { border-left: 6px solid #999; padding: 0.4em 0.8em; margin: 0.6em 0; background: #fafafa; }
 .finding.critical { border-color: #c0392b; } .finding.warning { border-color: #e67e22; } .finding.info { border-color: #2980b9; } .finding.ok { border-color: #27ae60; }
 .sev { font-weight: bold; text-transform: uppercase; font-size: 0.8em; margin-right: 0.6em; }
 .critical .sev { color: #c0392b; } .warning .sev { color: #d35400; } .info .sev { color: #2980b9; } .ok .sev { color: #27ae60; }
 .finding ul { margin: 0.3em 0; } code { background: #f0f0f0; padding: 0 3px; border-radius: 3px; }
 .flame { max-height: 640px; overflow: auto; border: 1px solid #ddd; } .flame svg { max-width: 100%; height: auto; display: block; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<div class="sub">${escapeHtml(subtitle)}</div>
<nav>${nav}</nav>
<div id="overview" class="sub"></div>
${body}
<script>
(function () {
  // a one-line overview from the findings on the page
  var counts = {};
  document.querySelectorAll('.finding').forEach(function (f) {
    var s = f.getAttribute('data-severity'); counts[s] = (counts[s] || 0) + 1;
  });
  var parts = ['critical', 'warning', 'info'].filter(function (s) { return counts[s]; }).map(function (s) { return counts[s] + ' ' + s; });
  document.getElementById('overview').textContent = parts.length ? 'Findings: ' + parts.join(', ') : 'No problems found.';
  // flame graphs grow upwards from their root: show the root end of tall ones
  document.querySelectorAll('.flame').forEach(function (f) { f.scrollTop = f.scrollHeight; });
  document.body.setAttribute('data-rendered', 'yes');
})();
</script>
</body>
</html>
`;
}
