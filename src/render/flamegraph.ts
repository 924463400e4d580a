// SPDX-License-Identifier: Apache-2.0
// Flame graphs rendered by memscope itself: an SVG that works on its own in a browser, with
// hover details, click to zoom, and search. Input is folded stacks ("a;b;c count").
import { escapeControls, xmlEntities } from '../core/escape';

export interface FlameOptions {
  title?: string;
  /** What a count means, for the hover text: "page faults", "bytes". */
  unit?: string;
  width?: number;
  /** Colour scheme: "hot" (CPU-style), "mem" (greens, as flamegraph.pl --colors=mem). */
  palette?: 'hot' | 'mem';
  /** Overrides the palette per frame, e.g. for differential graphs. */
  colorOf?: (node: FlameNode) => string;
  /** Called with the built tree before rendering, e.g. to fill FlameNode.other from a second profile. */
  annotate?: (root: FlameNode) => void;
  /** Extra hover text per frame, e.g. the change in a differential graph. */
  detailOf?: (node: FlameNode) => string;
}

export interface FlameNode {
  name: string;
  value: number;
  children: Map<string, FlameNode>;
  /** Free slot for callers, e.g. the count in a second profile. */
  other?: number;
}

export function parseFolded(text: string): [string[], number][] {
  const out: [string[], number][] = [];
  for (const line of text.split('\n')) {
    const m = /^(.*)\s+(\d+(?:\.\d+)?)$/.exec(line.trim());
    if (m && m[1]) out.push([m[1].split(';'), Number(m[2])]);
  }
  return out;
}

export function buildTree(stacks: [string[], number][]): FlameNode {
  const root: FlameNode = { name: 'all', value: 0, children: new Map() };
  for (const [frames, count] of stacks) {
    root.value += count;
    let node = root;
    for (const f of frames) {
      let child = node.children.get(f);
      if (!child) {
        child = { name: f, value: 0, children: new Map() };
        node.children.set(f, child);
      }
      child.value += count;
      node = child;
    }
  }
  return root;
}

// Trees are walked with explicit stacks, not recursion: a stack thousands of frames deep (deep
// recursion in the traced program) would exhaust Node's call stack.
function depthOf(root: FlameNode, minValue: number): number {
  let max = 0;
  const todo: [FlameNode, number][] = [[root, 0]];
  while (todo.length) {
    const [node, d] = todo.pop()!;
    max = Math.max(max, d);
    for (const c of node.children.values()) if (c.value >= minValue) todo.push([c, d + 1]);
  }
  return max;
}

function hash(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return (h >>> 0) / 4294967296;
}

function paletteColor(name: string, palette: 'hot' | 'mem'): string {
  const v = hash(name);
  if (name.endsWith('_[k]')) return `rgb(${Math.round(200 + 55 * v)},${Math.round(80 + 60 * v)},${Math.round(60 + 40 * v)})`;
  if (palette === 'mem') return `rgb(${Math.round(40 * v)},${Math.round(160 + 60 * v)},${Math.round(40 * v)})`;
  return `rgb(${Math.round(205 + 50 * v)},${Math.round(230 * v)},${Math.round(55 * v)})`;
}

// names come from folded files and other people's binaries: control characters are shown escaped
// (a raw one makes the SVG invalid XML, which browsers refuse), then <>&" as XML requires
// frame names arrive as folded text, already escaped once (a backslash in one is not doubled again)
const esc = (s: string): string => xmlEntities(escapeControls(s));

const FRAME_H = 16;
const PAD_TOP = 40;
const PAD_BOTTOM = 30;
const PAD_X = 10;

export function renderFlameGraph(stacks: [string[], number][], opts: FlameOptions = {}): string {
  const width = opts.width ?? 1200;
  const unit = opts.unit ?? 'samples';
  const root = buildTree(stacks);
  opts.annotate?.(root);
  const inner = width - 2 * PAD_X;
  const minValue = root.value / inner / 10; // frames under 0.1 px are dropped
  const rects: string[] = [];
  let maxDepth = 0;
  const maxDepthHint = depthOf(root, minValue);

  /** Frames in depth-first order, children by name (the order the recursive walk had). */
  function walk(top: FlameNode, x0: number, d0: number): void {
    const todo: [FlameNode, number, number][] = [[top, x0, d0]];
    while (todo.length) {
      const [node, x, depth] = todo.pop()!;
      maxDepth = Math.max(maxDepth, depth);
      rects.push(frameSvg(node, x, depth));
      let cx = x;
      const next: [FlameNode, number, number][] = [];
      const children = [...node.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const c of children) {
        if (c.value >= minValue) next.push([c, cx, depth + 1]);
        cx += c.value;
      }
      for (let i = next.length - 1; i >= 0; i--) todo.push(next[i]);
    }
  }

  function frameSvg(node: FlameNode, x: number, depth: number): string {
    const pct = root.value ? ((100 * node.value) / root.value).toFixed(2) : '0';
    const info = `${node.name} (${node.value.toLocaleString('en-US')} ${unit}, ${pct}%${opts.detailOf ? opts.detailOf(node) : ''})`;
    const fill = opts.colorOf ? opts.colorOf(node) : node === root ? 'rgb(250,250,250)' : paletteColor(node.name, opts.palette ?? 'hot');
    // static geometry, so the graph also reads where scripts do not run; the script re-lays it out on zoom
    const px = PAD_X + (root.value ? (x / root.value) * inner : 0);
    const pw = root.value ? (node.value / root.value) * inner : inner;
    const y = PAD_TOP + (maxDepthHint - depth) * FRAME_H;
    const fit = Math.floor((pw - 6) / 7);
    const name = escapeControls(node.name);
    const text = fit < 3 ? '' : name.length <= fit ? name : name.slice(0, fit - 2) + '..';
    return (
      `<g class="f" data-x="${x}" data-w="${node.value}" data-d="${depth}">` +
      `<title>${esc(info)}</title><rect x="${px.toFixed(1)}" y="${y}" width="${pw.toFixed(1)}" height="${FRAME_H - 1}" rx="2" fill="${fill}"/>` +
      `<text x="${(px + 3).toFixed(1)}" y="${y + FRAME_H - 4}">${esc(text)}</text></g>`
    );
  }

  walk(root, 0, 0);
  const height = PAD_TOP + (maxDepth + 1) * FRAME_H + PAD_BOTTOM;
  const title = esc(opts.title ?? 'Flame Graph');
  return `<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg" data-total="${root.value}" data-maxdepth="${maxDepth}">
<style>
 text { font-family: Verdana, sans-serif; font-size: 12px; fill: #000; pointer-events: none; }
 .f { cursor: pointer; } .f:hover rect { stroke: #000; stroke-width: 0.5; }
 #title { font-size: 17px; text-anchor: middle; } #details, #matched { font-size: 12px; }
 .hidden { display: none; } .match rect { fill: rgb(230,0,230) !important; }
</style>
<rect x="0" y="0" width="${width}" height="${height}" fill="rgb(245,245,238)"/>
<text id="title" x="${width / 2}" y="24">${title}</text>
<text id="reset" x="${PAD_X}" y="24" class="hidden" style="cursor:pointer;pointer-events:all">Reset Zoom</text>
<text id="search" x="${width - PAD_X - 60}" y="24" style="cursor:pointer;pointer-events:all">Search</text>
<text id="details" x="${PAD_X}" y="${height - 10}"> </text>
<text id="matched" x="${width - PAD_X - 150}" y="${height - 10}"> </text>
<g id="frames">
${rects.join('\n')}
</g>
<script type="text/ecmascript"><![CDATA[
(function () {
  var W = ${inner}, X0 = ${PAD_X}, H = ${FRAME_H}, TOP = ${PAD_TOP}, MAXD = ${maxDepth};
  // the graph may stand alone or sit inline in an HTML page: look things up within this <svg>
  var svg = (document.currentScript && document.currentScript.closest('svg')) || document.documentElement;
  var total = +svg.getAttribute('data-total');
  var byId = function (id) { return svg.querySelector('#' + id); };
  var frames = Array.prototype.slice.call(svg.querySelectorAll('.f'));
  var details = byId('details'), reset = byId('reset');
  function label(g, w) {
    var t = g.querySelector('text'), name = g.querySelector('title').textContent.replace(/ \\(.*$/, '');
    var fit = Math.floor((w - 6) / 7);
    t.textContent = fit < 3 ? '' : name.length <= fit ? name : name.slice(0, fit - 2) + '..';
  }
  function layout(zx, zw, zd) {
    frames.forEach(function (g) {
      var x = +g.dataset.x, w = +g.dataset.w, d = +g.dataset.d;
      var inside = x >= zx && x + w <= zx + zw, above = x <= zx && x + w >= zx + zw && d < zd;
      if (!(inside && d >= zd) && !above) { g.classList.add('hidden'); return; }
      g.classList.remove('hidden');
      var px = above ? X0 : X0 + (x - zx) / zw * W, pw = above ? W : w / zw * W;
      var y = TOP + (MAXD - d) * H, r = g.querySelector('rect'), t = g.querySelector('text');
      r.setAttribute('x', px); r.setAttribute('y', y); r.setAttribute('width', Math.max(pw, 0.1));
      t.setAttribute('x', px + 3); t.setAttribute('y', y + H - 4);
      label(g, pw);
    });
  }
  frames.forEach(function (g) {
    g.addEventListener('click', function () {
      var d = +g.dataset.d;
      layout(+g.dataset.x, +g.dataset.w, d);
      if (d > 0) reset.classList.remove('hidden'); else reset.classList.add('hidden');
    });
    g.addEventListener('mouseover', function () { details.textContent = g.querySelector('title').textContent; });
    g.addEventListener('mouseout', function () { details.textContent = ' '; });
  });
  reset.addEventListener('click', function () { layout(0, total, 0); reset.classList.add('hidden'); });
  byId('search').addEventListener('click', function () {
    var term = prompt('Search frames (regular expression):');
    var re = term ? new RegExp(term) : null, hit = 0, seen = [];
    frames.forEach(function (g) {
      var name = g.querySelector('title').textContent.replace(/ \\(.*$/, '');
      var on = re && re.test(name);
      g.classList.toggle('match', !!on);
      if (on) {
        var x = +g.dataset.x, w = +g.dataset.w;
        if (!seen.some(function (s) { return x >= s[0] && x + w <= s[0] + s[1]; })) { seen.push([x, w]); hit += w; }
      }
    });
    byId('matched').textContent = re ? 'Matched: ' + (100 * hit / total).toFixed(1) + '%' : ' ';
  });
  layout(0, total, 0);
})();
]]></script>
</svg>
`;
}
