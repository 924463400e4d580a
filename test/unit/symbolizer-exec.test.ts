// SPDX-License-Identifier: Apache-2.0
// After an exec, a process's /proc maps are of its new program: a stack of the old one must never
// be named there. Which mappings the symbolizer trusts when, against a live child (no root, no BPF):
// its /proc maps stand for "the program it runs now".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Symbolizer } from '../../src/symbols/symbolizer';
import { findMapping, type Mapping } from '../../src/procfs/maps';
import { formatFrame } from '../../src/core/frames';
import { execChild } from '../lib/exec-child';

/** The old program's one mapping, as the sample ring would have recorded it: elsewhere than ip. */
const OLD: Mapping = { start: 0x1000n, end: 0x2000n, perms: 'r-xp', offset: 0n, dev: '', inode: 1, path: '/nonexistent/old-program' };

test("a frame in none of the mappings recorded when its stack was noted is a marker, not a name from the process's maps now", async () => {
  const { c, pid, ip } = await execChild();
  try {
    // mappings the sample ring sent (complete up to the note): the program exec'd since is not asked
    const s = new Symbolizer();
    s.recordMapping(pid, OLD);
    const pinned = s.pin(pid, [{ ip }], s.mapsNow(pid));
    assert.ok(pinned);
    assert.deepEqual(s.name(pid, pinned).map((f) => formatFrame(f)), ['[unknown]']);
    // without mappings of the noting's time (trace, a lost note), /proc is read as before
    const now = s.pin(pid, [{ ip }]);
    assert.ok(now);
    assert.match(formatFrame(s.name(pid, now)[0]), /\+0x[0-9a-f]+ \[node\]$/);
    // mappings of the noting's time read from /proc (no ring sends them) may be older than the
    // stack (a -c child noted before its exec, a library loaded since): looked up now, as before
    const older = new Symbolizer();
    const stale = older.pin(pid, [{ ip }], [OLD]);
    assert.ok(stale);
    assert.match(formatFrame(older.name(pid, stale)[0]), /\+0x[0-9a-f]+ \[node\]$/);
  } finally {
    c.kill();
  }
});

test('a process note replaces no mappings the sample ring sent (an exec: the new program\'s follow there); without ring mappings it reads /proc', async () => {
  const { c, pid, ip } = await execChild();
  try {
    const ring = new Symbolizer();
    ring.recordMapping(pid, OLD);
    ring.observe(pid); // the note of an exec, read after it
    assert.deepEqual(ring.mapsNow(pid), [OLD]);
    // trace's symbolizer: no mapping ever came on a ring, the note's /proc read is all there is
    const plain = new Symbolizer();
    plain.observe(pid);
    assert.ok(plain.mapsNow(pid)!.some((m) => m.start <= ip && ip < m.end));
    // a process under the pid of one whose end the ring said: read from /proc
    ring.ended(pid);
    ring.observe(pid);
    assert.ok(ring.mapsNow(pid)!.some((m) => m.start <= ip && ip < m.end));
  } finally {
    c.kill();
  }
});

/** A start_stack no live process has: the sample's program image, one its process exec'd away from. */
const OLD_IMAGE = 0x7ffc00001000n;

test("ring records of the old program on top of /proc maps of the new one: a sample of the old is pinned in its records only, never in the new program's code", async () => {
  const { c, pid, ip } = await execChild();
  try {
    // the process note came after the exec: /proc was read at the new program (node)...
    const s = new Symbolizer();
    s.observe(pid);
    assert.ok(findMapping(s.mapsNow(pid)!, ip), 'the /proc read maps the new program');
    // ...then the old program's records came on the sample ring, with a sample of the old image
    s.recordMapping(pid, OLD);
    s.sampledImage(pid, OLD_IMAGE);
    const maps = s.mapsForImage(pid, OLD_IMAGE);
    assert.equal(s.imageOf(maps), OLD_IMAGE);
    // the old program's mappings only: an address of its (the caller of fork) where the new one has
    // code is in none of them (it was named in the new program, the flaky faults-conditions test)
    assert.deepEqual(maps, [OLD]);
    assert.equal(findMapping(maps!, ip), undefined);
    // records on top of maps of the same image are kept with them (a library loaded)
    const lib: Mapping = { ...OLD, start: 0x3000n, end: 0x4000n, path: '/nonexistent/lib' };
    s.recordMapping(pid, lib);
    s.sampledImage(pid, OLD_IMAGE);
    assert.deepEqual(s.mapsForImage(pid, OLD_IMAGE), [OLD, lib]);
  } finally {
    c.kill();
  }
});

test("an address of one program image outside the maps known is looked up again only in maps of that image, never in another's", async () => {
  const { c, pid, ip } = await execChild();
  try {
    const s = new Symbolizer();
    s.recordMapping(pid, OLD);
    s.sampledImage(pid, OLD_IMAGE);
    // /proc is read again (a library loaded since?), but it is of the program exec'd since
    assert.equal(s.mappingAt(pid, ip, OLD_IMAGE), undefined);
    const pinned = s.pin(pid, [{ ip }], undefined, OLD_IMAGE);
    assert.ok(pinned);
    assert.deepEqual(s.name(pid, pinned).map((f) => formatFrame(f)), ['[unknown]']);
    // without an image (a caller that cannot tell), the maps now, as before
    assert.ok(s.mappingAt(pid, ip));
  } finally {
    c.kill();
  }
});
