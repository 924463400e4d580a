// SPDX-License-Identifier: Apache-2.0
// Bundles the CLI (src/cli.ts, every tool, commander, pprof-format) into one file, dist/memscope.js,
// which bin/memscope runs with a V8 code cache (dist/memscope.js.cache, made here by one run of
// the CLI: see the end). Why: Node spent about a third of memscope's start-up resolving, reading and
// compiling some fifty modules one by one; one file whose code is already compiled skips that.
// The bundle is minified (whitespace and syntax; names kept) and written wrapped in Node's CommonJS
// function, so it is not a module require() can load: only bin/memscope.js runs it.
// The files tsc wrote under dist/src stay as they are (tests, triage and the agent use them).
//
// Two things of the module-per-file layout are kept in the bundle:
//  - each module's __dirname is the directory of its compiled file under dist/src, so paths found
//    from it (the project root, the dashboard's assets) are the same as without the bundle;
//  - a tool's modules run only when that tool is chosen: the tools are registered as functions that
//    require them (esbuild keeps a required module's body unrun until then), in a registry that
//    src/cli.ts reads instead of listing dist/src/tools.
/* global process */
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const out = path.join(root, 'dist', 'memscope.js');

// the same commands src/cli.ts finds without the bundle: every tools/*.ts but tool, options and _*
const tools = fs
  .readdirSync(path.join(src, 'tools'))
  .filter((f) => f.endsWith('.ts') && f !== 'tool.ts' && f !== 'options.ts' && !f.startsWith('_'))
  .map((f) => [f.slice(0, -3), `./src/tools/${f}`]);
tools.push(['agent', './src/agent/command.ts']);
const entry =
  'globalThis[Symbol.for("memscope.tools")] = {\n' +
  tools.map(([name, file]) => `  ${JSON.stringify(name)}: () => require(${JSON.stringify(file)}),\n`).join('') +
  '};\nrequire("./src/cli.ts");\n';

const dirnames = {
  name: 'dist-dirname',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const rel = path.relative(root, path.dirname(args.path)).split(path.sep).join('/');
      const text = fs.readFileSync(args.path, 'utf8');
      // the bundle lies in dist/, so dist/<rel> is its __dirname joined with <rel>
      const contents = text
        .replace(/\b__dirname\b/g, `require("node:path").join(__dirname, ${JSON.stringify(rel)})`)
        // a namespace import of a Node built-in is the module itself: esbuild would copy each of
        // its ~100 properties into a fresh object per importing module (__toESM), some 20 ms of
        // start-up for fs, path and os in every tool
        .replace(/^import \* as (\w+) from '(node:[\w/]+)';$/gm, 'const $1 = require("$2");');
      return { contents, loader: 'ts' };
    });
    // src/cli.ts reads the version as dist/src/cli.js does, two levels up
    build.onResolve({ filter: /^\.\.\/\.\.\/package\.json$/ }, () => ({ path: path.join(root, 'package.json') }));
  },
};

// Built-ins that a run seldom uses but that cost start-up to load: child_process brings net, dgram,
// streams and their bindings along (commander requires it at its top for executable subcommands,
// which memscope has none of; the engine only for -c and the tracefs mount). Every import of one,
// in our code or commander's, gets a module of functions that require the built-in on first call.
// Only its lowercase functions are offered: an import of anything else (the ChildProcess class as
// a value) is a bundling error rather than a silent undefined (a type-only import is erased first).
const LAZY_BUILTINS = /^node:child_process$/;
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    build.onResolve({ filter: LAZY_BUILTINS }, (args) =>
      args.namespace === 'lazy-builtin' ? { path: args.path, external: true } : { path: args.path, namespace: 'lazy-builtin' },
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const m = require(args.path);
      const fns = Object.keys(m).filter((k) => typeof m[k] === 'function' && /^[a-z]\w*$/.test(k));
      const id = JSON.stringify(args.path);
      return { contents: fns.map((k) => `export const ${k} = (...a) => require(${id}).${k}(...a);`).join('\n'), loader: 'js' };
    });
  },
};

const result = await esbuild.build({
  stdin: { contents: entry, resolveDir: root, sourcefile: 'memscope-entry.js', loader: 'js' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: out,
  plugins: [dirnames, lazyBuiltins],
  legalComments: 'eof',
  logLevel: 'error',
  // Fewer bytes for Node to read, copy into a string and hash against the cache at every start
  // (745 -> 500 KB); names are kept, so stack traces (MEMSCOPE_DEBUG) still name functions.
  // Minifying also drops the comments whose non-ASCII characters (→, ×) made V8 hold the whole
  // source as a two-byte string (1.5 MB instead of 0.5).
  minifyWhitespace: true,
  minifySyntax: true,
  // written already wrapped as Node wraps a CommonJS module, so bin/memscope.js compiles the file's
  // text as read, not a concatenated copy of it
  banner: { js: '(function (exports, require, module, __filename, __dirname) {' },
  footer: { js: '\n})' },
  // the addon (a .node file found at run time) is the one require esbuild cannot follow
  logOverride: { 'unsupported-require-call': 'silent' },
});
if (result.errors.length) process.exit(1);
// bin/memscope.js reads the bundle as latin1 (cheaper than UTF-8): it must stay ASCII, which
// esbuild's default charset gives (anything else written as an escape)
// eslint-disable-next-line no-control-regex -- the check is for bytes above ASCII
if (/[^\x00-\x7f]/.test(fs.readFileSync(out, 'latin1'))) {
  process.stderr.write(`bundle-cli: ${out} is not ASCII; bin/memscope.js reads it as latin1\n`);
  process.exit(1);
}

// The code cache: compiled by one run of the CLI, then written with every tool loaded
// (bin/memscope.js). A traced run compiles what every tracing run goes through (options, probes,
// the object's BTF and layout checks, load and attach, the report): `count 't:vmscan:*'` for a
// hundredth of a second, which needs root and BPF; where it cannot run, `--help`. count also gets
// a cache of its own, written after the same run without the other tools loaded (memscope.js.count.cache:
// 290 against 380 KB to read and deserialize at each start; issue 16's launch -> attached). Both
// are made under --verify-snapshot-checksum, as bin/memscope runs Node: the flags must match, and
// V8 then writes the checksum it checks (bin/memscope.js). A cache V8 later rejects (another Node,
// other flags, corrupted) only costs the compile it would have saved.
for (const f of fs.readdirSync(path.dirname(out))) {
  if (f.startsWith(`${path.basename(out)}.`) && f.endsWith('.cache')) fs.rmSync(path.join(path.dirname(out), f), { force: true });
}
const cacheRun = (file, args, toolOnly = false) =>
  spawnSync(process.execPath, ['--verify-snapshot-checksum', path.join(root, 'bin', 'memscope.js'), ...args], {
    env: { ...process.env, MEMSCOPE_WRITE_CODE_CACHE: file, MEMSCOPE_CODE_CACHE_TOOL_ONLY: toolOnly ? '1' : '0', MEMSCOPE_FD1: 'open' },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: 60_000,
  });
const traced = ['count', '-d', '0.01', 't:vmscan:*'];
let r = process.getuid?.() === 0 ? cacheRun(`${out}.cache`, traced) : undefined;
if (r?.status === 0) cacheRun(`${out}.count.cache`, traced, true); // without it, count uses the one above
else r = cacheRun(`${out}.cache`, ['--help']);
if (r.status !== 0) {
  process.stderr.write(`bundle-cli: the bundled CLI failed to run --help: ${r.stderr}\n`);
  process.exit(1);
}
