// SPDX-License-Identifier: Apache-2.0
// npm run bench: every benchmark under bench/ (dist/bench/*.js), one after another.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const benches = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith('.js') && f !== 'run.js')
  .sort();
let failed = 0;
for (const b of benches) {
  process.stdout.write(`\n=== ${b.replace(/\.js$/, '')}\n`);
  const r = spawnSync(process.execPath, [path.join(__dirname, b)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
