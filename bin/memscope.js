// SPDX-License-Identifier: Apache-2.0
// Started by bin/memscope (a shell wrapper: see there why).
// Runs the bundled CLI (dist/memscope.js, scripts/bundle-cli.mjs) with its V8 code cache, so
// Node neither resolves some fifty modules nor compiles them again; without a bundle, the files
// tsc wrote (dist/src/cli.js).
//
// The cache is trusted only as far as V8 checks it, so it is checked fully or not used:
//  - V8 checks its own version, its flags and the source's length, but not, by default, the bytes
//    of the cache: a cache corrupted past its header crashed Node (V8_Fatal, a native stack trace,
//    exit 133). bin/memscope starts Node with --verify-snapshot-checksum, which makes V8 write a
//    checksum into the caches it creates and reject one that does not match; started without it
//    (node bin/memscope.js), the cache is not read (V8 would reject it anyway: another flag set);
//  - a cache older than the bundle (a bundle rebuilt or edited since) is not read: V8 would take a
//    cache of a different bundle of the same length;
//  - a rejected cache costs the compile it would have saved, nothing else.
// A tool may have a cache of its own, made by a run of that tool alone (dist/memscope.js.TOOL.cache,
// count's: issue 16's launch -> attached): smaller than the one made with every tool loaded, so less to
// read and deserialize.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const vm = require('node:vm');

// the one answer that needs no tool: given here, without reading and compiling the bundle
const first = process.argv[2];
if (first === '--version' || first === '-V') {
  process.stdout.write(`${require('../package.json').version}\n`);
  process.exit(0);
}

const file = path.join(__dirname, '..', 'dist', 'memscope.js');
let source = null; // no bundle, or one older than what tsc wrote since: the module-per-file build
let bundleTime = 0;
try {
  bundleTime = fs.statSync(file).mtimeMs;
  // latin1, not utf8: the bundle is ASCII (esbuild escapes the rest; scripts/bundle-cli.mjs checks),
  // and decoding it as UTF-8 cost ~190 more page faults and ~10 ms of CPU at each start
  if (bundleTime >= fs.statSync(path.join(__dirname, '..', 'dist', 'src', 'cli.js')).mtimeMs) source = fs.readFileSync(file).toString('latin1');
} catch {
  source = null;
}
if (source === null) {
  require('../dist/src/cli.js');
} else {
  const cacheOut = process.env.MEMSCOPE_WRITE_CODE_CACHE; // set by the bundle step only
  delete process.env.MEMSCOPE_WRITE_CODE_CACHE;
  let cachedData;
  if (!cacheOut && process.execArgv.includes('--verify-snapshot-checksum')) {
    const tool = process.argv[2];
    for (const f of [...(/^[a-z0-9-]+$/.test(tool ?? '') ? [`${file}.${tool}.cache`] : []), `${file}.cache`]) {
      try {
        const fd = fs.openSync(f, 'r');
        try {
          if (fs.fstatSync(fd).mtimeMs >= bundleTime) cachedData = fs.readFileSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      } catch {
        // none: compiled as usual
      }
      if (cachedData) break;
    }
  }
  // the bundle is written already wrapped (scripts/bundle-cli.mjs): compiled as read
  const script = new vm.Script(source, { filename: file, cachedData });
  if (cacheOut) {
    // after the run, so the functions it compiled are in the cache too; unless the cache is one
    // tool's own (MEMSCOPE_CODE_CACHE_TOOL_ONLY), every tool's modules are loaded first, so the tools
    // this run did not choose find their top-level code compiled. Written as a new file (never
    // through a link, nor into a file someone holds open) renamed over the old one.
    const toolOnly = process.env.MEMSCOPE_CODE_CACHE_TOOL_ONLY === '1';
    delete process.env.MEMSCOPE_CODE_CACHE_TOOL_ONLY;
    process.on('exit', () => {
      if (!toolOnly) for (const load of Object.values(globalThis[Symbol.for('memscope.tools')] ?? {})) load();
      const tmp = `${cacheOut}.${process.pid}.tmp`;
      const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
      try {
        fs.writeSync(fd, script.createCachedData());
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, cacheOut);
    });
  }
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  script.runInThisContext().call(m.exports, m.exports, Module.createRequire(file), m, file, path.dirname(file));
}
