// SPDX-License-Identifier: Apache-2.0
// Bundles the dashboard (web/src, uPlot, d3-flame-graph) into build/dashboard: app.js, app.css and
// index.html, served by the agent from the package. No CDN: the page loads nothing from elsewhere.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', 'build', 'dashboard');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: { app: path.join(here, 'src', 'main.ts') },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  outdir: out,
  legalComments: 'eof',
  logLevel: 'warning',
});
fs.copyFileSync(path.join(here, 'index.html'), path.join(out, 'index.html'));
