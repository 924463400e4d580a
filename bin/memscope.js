// SPDX-License-Identifier: Apache-2.0
// Started by bin/memscope (a shell wrapper: see there why).
// Runs the bundled CLI (dist/memscope.js, scripts/bundle-cli.mjs) with its V8 code cache, so
// Node neither resolves some fifty modules nor compiles them again; without a bundle, the files
// tsc wrote (dist/src/cli.js).
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
try {
  if (fs.statSync(file).mtimeMs >= fs.statSync(path.join(__dirname, '..', 'dist', 'src', 'cli.js')).mtimeMs) source = fs.readFileSync(file, 'utf8');
} catch {
  source = null;
}
if (source === null) {
  require('../dist/src/cli.js');
} else {
  const cacheOut = process.env.MEMSCOPE_WRITE_CODE_CACHE; // set by the bundle step only
  delete process.env.MEMSCOPE_WRITE_CODE_CACHE;
  let cachedData;
  if (!cacheOut) {
    try {
      cachedData = fs.readFileSync(`${file}.cache`);
    } catch {
      cachedData = undefined; // none yet: compiled as usual
    }
  }
  // the bundle is written already wrapped (scripts/bundle-cli.mjs): compiled as read
  const script = new vm.Script(source, { filename: file, cachedData });
  if (cacheOut) {
    // after the run, so the functions it compiled are in the cache too; every tool's modules are
    // loaded first, so the tools this run did not choose find their top-level code compiled
    process.on('exit', () => {
      for (const load of Object.values(globalThis[Symbol.for('memscope.tools')] ?? {})) load();
      const fd = fs.openSync(cacheOut, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o644);
      fs.writeSync(fd, script.createCachedData());
      fs.closeSync(fd);
    });
  }
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  script.runInThisContext().call(m.exports, m.exports, Module.createRequire(file), m, file, path.dirname(file));
}
