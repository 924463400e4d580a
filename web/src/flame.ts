// SPDX-License-Identifier: Apache-2.0
// A flame graph panel over d3-flame-graph: search (plain text, highlighted), click to zoom, reset,
// an inverted (icicle) view, and a diff of two windows (frames coloured by their change from the
// first window to the second). Frame names reach the page as text only: d3-flame-graph sets labels
// and titles with .text(), and this panel writes details with textContent.
import { select } from 'd3-selection';
import flamegraph, { FlameChart, FrameNode } from 'd3-flame-graph';
// the package exports no CSS path, so it is imported by file
import '../../node_modules/d3-flame-graph/dist/d3-flamegraph.css';
import type { StackValue } from '../../src/dashboard/types';
import { h, on } from './dom';
import { bytes, int } from './format';

export interface FlameNode {
  name: string;
  value: number;
  /** change from the base window (diff view) */
  delta?: number;
  /** bytes per second (memleak) summed over the stacks through this frame */
  growth?: number;
  children: FlameNode[];
}

/** Root-first stacks → the tree d3-flame-graph draws; `base` gives each node its delta. */
export function buildTree(stacks: StackValue[], base?: StackValue[]): FlameNode {
  const root: FlameNode = { name: 'all', value: 0, children: [] };
  const index = new Map<FlameNode, Map<string, FlameNode>>();
  const child = (n: FlameNode, name: string) => {
    let m = index.get(n);
    if (!m) index.set(n, (m = new Map()));
    let c = m.get(name);
    if (!c) {
      c = { name, value: 0, children: [] };
      m.set(name, c);
      n.children.push(c);
    }
    return c;
  };
  const add = (s: StackValue, sign: 1 | -1) => {
    let n = root;
    const touch = (x: FlameNode) => {
      if (sign > 0) {
        x.value += s.value;
        if (s.growth !== undefined) x.growth = (x.growth ?? 0) + s.growth;
      }
      if (base) x.delta = (x.delta ?? 0) + sign * s.value;
    };
    touch(n);
    for (const f of s.frames) {
      if (sign < 0 && !index.get(n)?.has(f)) return; // only in the base: not drawn in the second window
      n = child(n, f);
      touch(n);
    }
  };
  for (const s of stacks) add(s, 1);
  for (const s of base ?? []) add(s, -1);
  return root;
}

/** The value of every frame with this name (self + children, once per stack) */
export function totalOf(stacks: StackValue[], name: string): number {
  return stacks.reduce((a, s) => a + (s.frames.includes(name) ? s.value : 0), 0);
}

export class FlamePanel {
  readonly el: HTMLElement;
  private readonly chartEl: HTMLElement;
  private readonly details: HTMLElement;
  private readonly search: HTMLInputElement;
  private readonly invert: HTMLInputElement;
  private chart: FlameChart<FlameNode> | null = null;
  private data: FlameNode | null = null;
  private term = '';
  private width = 0;

  constructor(
    private readonly unit: 'faults' | 'bytes',
    caption: string,
  ) {
    this.search = h('input', { type: 'search', placeholder: 'search functions', 'aria-label': 'search functions', class: 'flame-search' });
    this.invert = h('input', { type: 'checkbox', class: 'flame-invert' });
    const reset = h('button', { type: 'button', class: 'flame-reset' }, 'reset zoom');
    this.details = h('div', { class: 'flame-details' });
    this.chartEl = h('div', { class: 'flame-chart' }, h('p', { class: 'muted' }, 'no profile yet'));
    this.el = h(
      'section',
      { class: 'flame' },
      h('div', { class: 'flame-bar' }, h('span', { class: 'flame-caption' }, caption), this.search, h('label', {}, this.invert, ' inverted (icicle)'), reset),
      this.chartEl,
      this.details,
    );
    on(this.search, 'input', () => {
      this.term = this.search.value;
      this.applySearch();
    });
    on(this.invert, 'change', () => this.redraw(true));
    on(reset, 'click', () => this.chart?.resetZoom());
    new ResizeObserver(() => {
      if (this.chartEl.clientWidth !== this.width) this.redraw(true);
    }).observe(this.chartEl);
  }

  label(d: FrameNode<FlameNode>): string {
    const v = this.unit === 'faults' ? `${int(d.data.value)} faults` : bytes(d.data.value);
    const g = d.data.growth !== undefined ? `, ${d.data.growth >= 0 ? '+' : ''}${bytes(d.data.growth)}/s` : '';
    const delta =
      d.data.delta !== undefined ? `, change ${d.data.delta >= 0 ? '+' : ''}${this.unit === 'faults' ? int(d.data.delta) : bytes(d.data.delta)}` : '';
    return `${d.data.name} (${v}${g}${delta})`;
  }

  set(stacks: StackValue[], base?: StackValue[]): void {
    this.data = buildTree(stacks, base);
    this.el.dataset.total = String(this.data.value);
    this.el.classList.toggle('diff', !!base);
    this.redraw(!this.chart);
  }

  private redraw(rebuild: boolean): void {
    if (!this.data) return;
    this.width = this.chartEl.clientWidth;
    if (this.width <= 0) return;
    if (rebuild || !this.chart) {
      this.chart?.destroy();
      this.chartEl.replaceChildren();
      this.chart = flamegraph<FlameNode>()
        .width(this.width)
        .cellHeight(18)
        .transitionDuration(0)
        .minFrameSize(2)
        .inverted(this.invert.checked)
        .selfValue(false)
        .sort(true)
        .setDetailsElement(this.details)
        .setLabelHandler((d) => this.label(d))
        .setSearchMatch((d, term) => !!term && d.data.name.toLowerCase().includes(term.toLowerCase()))
        .setColorMapper((d, original) => this.color(d, original));
      select(this.chartEl).datum(this.data).call(this.chart);
    } else {
      this.chart.update(this.data);
    }
    this.applySearch();
  }

  private color(d: FrameNode<FlameNode>, original: string): string {
    if (d.highlight) return '#e600e6';
    const delta = d.data.delta;
    if (delta === undefined) return original;
    if (delta === 0) return 'rgb(220,220,220)';
    const share = Math.min(1, Math.abs(delta) / Math.max(1, d.data.value));
    const c = Math.round(235 * (1 - share));
    return delta > 0 ? `rgb(255,${c},${c})` : `rgb(${c},${c},255)`;
  }

  private applySearch(): void {
    if (!this.chart) return;
    if (this.term) this.chart.search(this.term);
    else this.chart.clear();
  }
}
