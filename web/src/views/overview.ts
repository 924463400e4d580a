// SPDX-License-Identifier: Apache-2.0
// Overview: the chapter's checklist (7.1.3) live. Memory (available, free, cache, swap used) over
// the last hour, the fault rate, swap-ins and -outs, reclaim and compaction (stalls, and time when
// the agent measures it), with OOM kills as markers on every chart and in a strip under them; the
// findings of the last minute, each with the commands that dig deeper.
import uPlot from 'uplot';
import type { Finding, OomRecord, Sample } from '../../../src/dashboard/types';
import { getJson, Live, missedBefore } from '../api';
import { clear, h, View } from '../dom';
import { int, kb, time } from '../format';

type Pick = (s: Sample) => number | null;
interface ChartDef {
  title: string;
  series: [string, string, Pick][];
  fmt: (v: number) => string;
}

const CHARTS: ChartDef[] = [
  {
    title: 'Memory',
    series: [
      ['available', '#2a7', (s) => s.available],
      ['free', '#27c', (s) => s.free],
      ['cache', '#a7c', (s) => s.cache],
      ['swap used', '#d52', (s) => s.swapUsed],
    ],
    fmt: (v) => kb(v),
  },
  {
    title: 'Page faults /s',
    series: [
      ['faults', '#c62', (s) => s.faults],
      ['major', '#922', (s) => s.majfaults],
    ],
    fmt: (v) => int(v),
  },
  {
    title: 'Swap pages /s',
    series: [
      ['swap-ins', '#d52', (s) => s.swapins],
      ['swap-outs', '#888', (s) => s.swapouts],
    ],
    fmt: (v) => int(v),
  },
  {
    title: 'Reclaim and compaction',
    series: [
      ['direct reclaim stalls/s', '#b80', (s) => s.reclaimStalls],
      ['compaction stalls/s', '#08b', (s) => s.compactStalls],
      ['reclaim ms/s', '#850', (s) => (s.reclaimSeconds === undefined ? null : s.reclaimSeconds * 1000)],
      ['compaction ms/s', '#058', (s) => (s.compactionSeconds === undefined ? null : s.compactionSeconds * 1000)],
    ],
    fmt: (v) => (v < 10 ? v.toFixed(1) : int(v)),
  },
];

/** uPlot plugin: a red line at each OOM kill's time. */
function oomLines(ooms: () => OomRecord[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = '#d00';
        ctx.lineWidth = 2 * devicePixelRatio;
        for (const r of ooms()) {
          const x = u.valToPos(r.t / 1000, 'x', true);
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      },
    },
  };
}

export function overviewView(live: Live): View {
  const findingsEl = h('ul', { class: 'findings', 'aria-live': 'polite' });
  const charts = h('div', { class: 'charts' });
  const strip = h('div', { class: 'oom-strip', 'aria-label': 'OOM kills on the timeline' });
  const gapNote = h('p', { class: 'sample-gaps muted' });
  const el = h(
    'div',
    { class: 'view overview' },
    h('h1', {}, 'Overview'),
    h('h2', {}, 'Findings (last minute)'),
    findingsEl,
    h('h2', {}, 'Timeline'),
    strip,
    gapNote,
    charts,
  );

  const plots: uPlot[] = [];
  const build = () => {
    plots.splice(0).forEach((p) => p.destroy());
    clear(charts);
    const width = Math.max(200, charts.clientWidth || el.clientWidth || 600);
    for (const def of CHARTS) {
      const box = h('div', { class: 'chart' }, h('h3', {}, def.title));
      charts.appendChild(box);
      const opts: uPlot.Options = {
        // two a row on wide screens: half the row minus the gap (24) and the box's padding (12)
        width: width < 700 ? width - 12 : Math.floor((width - 24) / 2) - 12,
        height: 180,
        series: [
          {},
          ...def.series.map(([label, stroke]) => ({ label, stroke, width: 1.5, value: (_u: uPlot, v: number | null) => (v === null ? '–' : def.fmt(v)) })),
        ],
        axes: [{}, { values: (_u: uPlot, vals: number[]) => vals.map((v) => def.fmt(v)), size: 70 }],
        scales: { x: { time: true } },
        plugins: [oomLines(() => live.ooms)],
        legend: { live: false },
      };
      plots.push(new uPlot(opts, data(def), box));
    }
  };
  // a missing slot is a null point between its neighbours: uPlot breaks the line there
  const data = (def: ChartDef): uPlot.AlignedData => {
    const xs: number[] = [];
    const ys: (number | null)[][] = def.series.map(() => []);
    live.samples.forEach((s, i) => {
      const prev = live.samples[i - 1];
      if (prev && missedBefore(s, prev) > 0) {
        xs.push((prev.t + s.t) / 2000);
        ys.forEach((y) => y.push(null));
      }
      xs.push(s.t / 1000);
      def.series.forEach(([, , pick], k) => ys[k].push(pick(s)));
    });
    return [xs, ...ys] as uPlot.AlignedData;
  };
  const drawGaps = () => {
    gapNote.dataset.gaps = String(live.gaps);
    gapNote.textContent = live.gaps
      ? `${live.gaps.toLocaleString('en-US')} sample${live.gaps > 1 ? 's' : ''} missing (the agent was busy or the stream was cut): breaks in the lines`
      : '';
  };
  const update = () => {
    if (plots.length !== CHARTS.length) return build();
    CHARTS.forEach((def, i) => plots[i].setData(data(def)));
  };
  const drawStrip = () => {
    clear(strip);
    const s = live.samples;
    const from = s.length ? s[0].t : Date.now() - 3600_000;
    const to = s.length ? s[s.length - 1].t : Date.now();
    const shown = live.ooms.filter((r) => r.t >= from - 1000);
    if (!shown.length) strip.appendChild(h('span', { class: 'muted' }, 'no OOM kills in this window'));
    for (const r of shown) {
      const m = h(
        'a',
        { class: 'oom-marker', href: `#/oom/${r.id}`, 'data-oom-id': r.id, title: `OOM kill at ${time(r.t)}` },
        `OOM ${time(r.t)}: ${r.victim?.comm ?? '?'} (${r.victim?.pid ?? '?'})`,
      );
      m.style.left = `${Math.min(100, Math.max(0, (100 * (r.t - from)) / Math.max(1, to - from)))}%`;
      strip.appendChild(m);
    }
  };
  const renderFindings = (fs: Finding[]) => {
    clear(findingsEl);
    for (const f of fs) {
      findingsEl.appendChild(
        h(
          'li',
          { class: `finding ${f.severity}`, 'data-step': f.step },
          h('span', { class: 'sev' }, f.severity),
          h('strong', {}, f.title),
          h('span', { class: 'detail' }, f.detail),
          h('span', { class: 'dig' }, ...f.dig.map((c) => h('code', {}, c))),
        ),
      );
    }
  };
  const refreshFindings = () => getJson<Finding[]>('/api/dash/findings').then(renderFindings, () => undefined);
  // one redraw per frame however fast samples come (a reconnect replays many at once), and the
  // findings every 5 s
  let drawing = 0;
  let findingsAt = Date.now();
  const offs = [
    live.on('sample', () => {
      if (!drawing)
        drawing = requestAnimationFrame(() => {
          drawing = 0;
          update();
          drawStrip();
          drawGaps();
        });
      if (Date.now() - findingsAt >= 5000) {
        findingsAt = Date.now();
        void refreshFindings();
      }
    }),
    live.on('reset', () => {
      build();
      drawStrip();
      drawGaps();
    }),
    live.on('oom', () => {
      plots.forEach((p) => p.redraw());
      drawStrip();
      void refreshFindings();
    }),
  ];
  let lastWidth = -1;
  const ro = new ResizeObserver(() => {
    if (charts.clientWidth !== lastWidth) build();
    lastWidth = charts.clientWidth;
  });
  requestAnimationFrame(() => {
    build();
    drawStrip();
    ro.observe(charts);
  });
  void refreshFindings();
  return {
    el,
    dispose: () => {
      cancelAnimationFrame(drawing);
      offs.forEach((f) => f());
      ro.disconnect();
      plots.forEach((p) => p.destroy());
    },
  };
}
