// SPDX-License-Identifier: Apache-2.0
// Which processes' mappings the symbolizer forgets past MAX_PROCESSES (no root, no BPF): ended
// ones first, then maps read from /proc (read again while the process lives), and a process whose
// mappings the sample ring sends only once its exit note is read, or past twice the cap. BPF sends
// each mapping once per process image: forgetting a live ring process lost the names of its stacks
// noted later (a fork storm's children, with the ring read in batches).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Mapping } from '../../src/procfs/maps';

process.env.MEMSCOPE_MAX_PROCESSES = '4'; // read when cache-caps loads: before the import below

/** pids no process can have (above the kernel's largest pid_max): never read from /proc. */
const FAKE = 4_194_400;
const code = (i: number): Mapping => ({
  start: 0x1000n * BigInt(i + 1),
  end: 0x1000n * BigInt(i + 2),
  perms: 'r-xp',
  offset: 0n,
  dev: '',
  inode: 0,
  path: '[vdso]',
});

test('past the cap: ended processes go first, then /proc-read ones, and live ring processes only past twice the cap', async () => {
  const { Symbolizer } = await import('../../src/symbols/symbolizer');
  const { evictions } = await import('../../src/symbols/cache-caps');
  const s = new Symbolizer();
  const known = () => new Set(s.knownPids());
  const ring = (i: number) => s.recordMapping(FAKE + i, code(i));
  s.note(process.pid); // maps read from /proc: the least recently seen
  for (let i = 0; i < 4; i++) ring(i);
  // 5 processes for 4: the /proc-read one goes, not the least recently seen ring process
  assert.deepEqual(
    [...known()].sort(),
    [0, 1, 2, 3].map((i) => FAKE + i),
  );
  assert.equal(evictions.processes, 1);
  // a fifth ring process: none has ended, all are kept (their stack notes may still be on the ring)
  ring(4);
  assert.equal(known().size, 5);
  assert.equal(evictions.processes, 1);
  // its exit note read, the oldest ring process is the one forgotten next
  s.ended(FAKE + 2);
  ring(5);
  assert.ok(!known().has(FAKE + 2));
  assert.equal(known().size, 5);
  assert.equal(evictions.processes, 2);
  // the hard bound: past twice the cap, the least recently seen go whatever they are (counted)
  for (let i = 6; i < 12; i++) ring(i);
  assert.equal(known().size, 8);
  assert.ok(!known().has(FAKE) && !known().has(FAKE + 1) && known().has(FAKE + 11));
  assert.equal(evictions.processes, 5);
});
