// SPDX-License-Identifier: Apache-2.0
// Golden tests: the /proc readers and the views' formatting on samples captured on this kernel
// (test/fixtures), and the OOM parser on a real OOM report and on the chapter's example (7.2.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../lib/workloads';
import { FREE_FIELDS, freeFigures, parseMeminfo } from '../../src/procfs/meminfo';
import { parseStat, parseVmstat, sumPrefix } from '../../src/procfs/vmstat';
import { pickValues } from '../../src/procfs/common';
import { parseSwaps } from '../../src/procfs/swaps';
import { pageSizeKb, parseAuxvPageSize, parsePidStat, parseStatus } from '../../src/procfs/pid';
import { execFileSync } from 'node:child_process';
import { parseSmaps, parseSmapsRollup } from '../../src/procfs/smaps';
import { parseKernelLog } from '../../src/procfs/kmsg';
import { parseMountinfo } from '../../src/procfs/mountinfo';
import { formatFree } from '../../src/tools/free';
import { formatSwaps } from '../../src/tools/swap';
import { formatPmap, pmapTotals } from '../../src/tools/pmap';
import { formatVmstatLine, VMSTAT_HEADER, vmstatLine } from '../../src/tools/vmstat';
import { formatPagingLine, pagingCounters, pagingHeader, pagingRates } from '../../src/tools/paging';
import { parseOomEvents } from '../../src/procfs/oom-report';
import { formatOomEvent } from '../../src/render/oom-report';
import { freeHuman, humanKb, utilLinuxHuman } from '../../src/render/units';

const FIX = path.join(ROOT, 'test', 'fixtures');
const fixture = (name: string) => fs.readFileSync(path.join(FIX, name), 'utf8');
/** Compares with test/fixtures/golden/NAME; MEMSCOPE_GOLDEN=update rewrites it. */
function golden(name: string, lines: string[]): void {
  const file = path.join(FIX, 'golden', name);
  const text = lines.join('\n') + '\n';
  if (process.env.MEMSCOPE_GOLDEN === 'update') fs.writeFileSync(file, text);
  assert.equal(text, fs.readFileSync(file, 'utf8'), `golden ${name}`);
}

test('meminfo: every field in kB, and free(1) figures as procps 4 computes them', () => {
  const m = parseMeminfo(fixture('meminfo.txt'));
  assert.equal(m.MemTotal, 24683652);
  assert.equal(Object.keys(m).length, 54);
  assert.equal(m.HugePages_Total, 0); // counts without "kB" parse too
  const f = freeFigures(m);
  assert.equal(f.used, m.MemTotal - m.MemAvailable);
  assert.equal(f.buffCache, m.Buffers + m.Cached + m.SReclaimable);
  golden('free.txt', formatFree(f));
  golden('free-w-h.txt', formatFree(f, { wide: true, unit: 'h' }));
  golden('free-m.txt', formatFree(f, { unit: 'm' }));
});

test('free -h and swapon size styles', () => {
  assert.deepEqual([0, 1, 8976, 533288, 1033632, 24683652].map(freeHuman), ['0B', '1.0Ki', '8.8Mi', '520Mi', '1.0Gi', '23Gi']);
  assert.deepEqual([512, 65280, 5370580, -35212].map(humanKb), ['512 kB', '63.8 MiB', '5.1 GiB', '-34.4 MiB']);
  assert.deepEqual([0, 16380 * 1024, 980 * 1048576, 1.5 * 1073741824, 4096].map(utilLinuxHuman), ['0B', '16M', '980M', '1.5G', '4K']);
});

test('vmstat and stat counters; a vmstat line since boot', () => {
  const v = parseVmstat(fixture('vmstat.txt'));
  assert.equal(v.pgfault, 4254415);
  assert.equal(v.pgmajfault, 1697);
  const st = parseStat(fixture('stat.txt'));
  assert.ok(st.cpu.user > 0 && st.ctxt > 0 && st.intr > 0 && st.btime > 1.7e9);
  const sample = { stat: st, vm: v, meminfo: parseMeminfo(fixture('meminfo.txt')) };
  const line = vmstatLine(null, sample, 1000);
  assert.equal(line.bi, Math.round(v.pgpgin / 1000));
  assert.equal(line.free, sample.meminfo.MemFree);
  golden('vmstat.txt', [...VMSTAT_HEADER, formatVmstatLine(line)]);
  const later = { ...v, pgfault: v.pgfault + 5000, pgmajfault: v.pgmajfault + 10, pgscan_kswapd: 400, pgsteal_kswapd: 300, pgscan_anon: 999 };
  const { rates, delta } = pagingRates(pagingCounters(v), pagingCounters(later), 2);
  assert.equal(delta.fault, 5000);
  assert.equal(rates['fault/s'], 2500);
  assert.equal(rates['%vmeff'], 75); // anon/file split is not counted twice
  golden('paging.txt', [pagingHeader('10:00:00'), formatPagingLine('10:00:02', rates)]);
});

test('picked lines: the same values as the whole parse (what the dashboard samples every second)', () => {
  const vt = fixture('vmstat.txt');
  const v = parseVmstat(vt);
  const names = ['nr_free_pages', 'pgfault', 'pgmajfault', 'pswpin', 'pswpout', 'compact_stall', 'allocstall*', 'pgscan*'];
  const p = pickValues(vt, names);
  for (const n of names.filter((n) => !n.endsWith('*'))) assert.equal(p[n], v[n], n);
  assert.equal(p['allocstall*'], sumPrefix(v, 'allocstall'));
  assert.equal(p['pgscan*'], sumPrefix(v, 'pgscan'));
  assert.ok(p['pgscan*'] > 0 && vt.startsWith('nr_free_pages')); // the first line and a real sum
  const mt = fixture('meminfo.txt');
  const m = parseMeminfo(mt);
  assert.deepEqual(freeFigures(pickValues(mt, FREE_FIELDS)), freeFigures(m));
  assert.equal(pickValues(mt, ['HugePages_Total']).HugePages_Total, 0); // no "kB"
  // a name is not a prefix of a longer one; absent stays absent; negative values
  assert.deepEqual(pickValues('pgfault_x 7\npgfault 5\nnr_x -3\n', ['pgfault', 'nr_x', 'nope', 'nope*']), { pgfault: 5, nr_x: -3 });
  assert.deepEqual(pickValues('Cached:  10 kB\nSwapCached: 4 kB\n', ['Cached', 'SwapCached']), { Cached: 10, SwapCached: 4 });
});

test('swaps: devices, and "no swap configured"', () => {
  const devs = parseSwaps(fixture('swaps.txt'));
  assert.deepEqual(devs, [{ name: '/var/tmp/memscope-fixture.swap', type: 'file', sizeKb: 16380, usedKb: 0, priority: -2 }]);
  golden('swap.txt', formatSwaps(devs));
  assert.deepEqual(formatSwaps(parseSwaps('Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n')), ['no swap configured']);
  assert.equal(parseSwaps('Filename Type Size Used Priority\n/var/tmp/a\\040b file 10 2 -3\n')[0].name, '/var/tmp/a b');
});

test('pid status and stat', () => {
  const s = parseStatus(fixture('pid-status.txt'));
  assert.equal(s.name, 'sleep');
  assert.equal(s.state, 'S');
  assert.equal(s.values.VmRSS, 1748);
  assert.equal(s.values.VmSize, 2920);
  assert.equal(s.values.VmSwap, 0);
  const st = parsePidStat(fixture('pid-stat.txt'))!;
  assert.equal(st.comm, 'sleep');
  assert.equal(st.vsize, 2920 * 1024);
  assert.equal(st.rss, 410); // pages (the kernel's split RSS counters lag status a little)
  assert.equal(st.minflt, 130);
  assert.equal(parsePidStat('77 (a b) c)) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22')!.comm, 'a b) c)');
});

test('smaps: per-mapping sizes sum to smaps_rollup; pmap -x golden', () => {
  const entries = parseSmaps(fixture('pid-smaps.txt'));
  const rollup = parseSmapsRollup(fixture('pid-smaps_rollup.txt'));
  const t = pmapTotals(entries);
  assert.equal(t.rss, rollup.Rss);
  // PSS is truncated to kB per mapping, the rollup sums before truncating
  assert.ok(t.pss <= rollup.Pss && t.pss >= rollup.Pss - entries.length, `${t.pss} vs ${rollup.Pss}`);
  assert.equal(t.dirty, rollup.Private_Dirty + rollup.Shared_Dirty);
  assert.equal(t.kb, 2920 + 4); // VmSize, and the [vsyscall] page that smaps lists but VmSize leaves out
  assert.deepEqual(entries[0].flags, ['rd', 'mr', 'mw', 'me']);
  golden('pmap-x.txt', formatPmap(10891, 'sleep 30', entries, true));
  golden('pmap.txt', formatPmap(10891, 'sleep 30', entries, false));
});

test('kernel log: kmsg records, dmesg lines, book-wrapped lines', () => {
  const k = parseKernelLog(fixture('oom-6.18-kmsg.txt'));
  const d = parseKernelLog(fixture('oom-6.18-dmesg.txt'));
  assert.equal(k.length, d.length);
  assert.deepEqual(k[0], { time: 1023.273551, text: 'triage_hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0' });
  assert.deepEqual(d[0], k[0]);
  const c = parseKernelLog(fixture('oom-chapter-7.2.1.txt'));
  assert.equal(c[c.length - 1].text, 'Killed process 23409 (perl) total-vm:5370580kB, anon-rss:5224980kB, file-rss:4kB');
});

test('OOM report of this kernel (memcg OOM, captured here)', () => {
  for (const f of ['oom-6.18-kmsg.txt', 'oom-6.18-dmesg.txt']) {
    const [e, ...rest] = parseOomEvents(parseKernelLog(fixture(f)));
    assert.equal(rest.length, 0);
    assert.deepEqual(e.invoker, { comm: 'triage_hog', pid: 10604, gfpMask: '0xcc0(GFP_KERNEL)', order: 0, oomScoreAdj: 0 });
    assert.equal(e.constraint, 'CONSTRAINT_MEMCG');
    assert.equal(e.cgroup, '/memscope-oomlog-capture');
    assert.deepEqual(e.victim, { pid: 10604, comm: 'triage_hog', totalVmKb: 207144, anonRssKb: 65280, fileRssKb: 1200, shmemRssKb: 0, oomScoreAdj: 0 });
    assert.deepEqual(e.memcg, { usageKb: 65536, limitKb: 65536, failcnt: 79 });
    assert.equal(e.tasks, 1);
    golden('oomlog-6.18.txt', formatOomEvent(e));
  }
});

test("OOM report in the chapter's (4.x) format", () => {
  const [e, ...rest] = parseOomEvents(parseKernelLog(fixture('oom-chapter-7.2.1.txt')));
  assert.equal(rest.length, 0);
  assert.equal(e.invoker.comm, 'run');
  assert.equal(e.invoker.gfpMask, '0x24201ca');
  assert.deepEqual(e.victim, { pid: 23409, comm: 'perl', score: 329, totalVmKb: 5370580, anonRssKb: 5224980, fileRssKb: 4, shmemRssKb: undefined });
  assert.equal(e.memInfo!.active_anon, 3773117);
  assert.equal(e.memInfo!.free, 18748);
  assert.equal(e.memInfo!.pagetables, 10620);
  assert.equal(e.tasks, 2);
  assert.deepEqual(e.topTasks![0], { pid: 524, comm: 'systemd-udevd', rssPages: 237, totalVmPages: 12944 });
  golden('oomlog-chapter.txt', formatOomEvent(e));
});

test('page size from the auxiliary vector: AT_PAGESZ, wherever it sits before AT_NULL', () => {
  const auxv = (pairs: [number, number][]) => {
    const b = Buffer.alloc(16 * pairs.length);
    pairs.forEach(([t, v], i) => {
      b.writeBigUInt64LE(BigInt(t), 16 * i);
      b.writeBigUInt64LE(BigInt(v), 16 * i + 8);
    });
    return b;
  };
  assert.equal(parseAuxvPageSize(auxv([[33, 0x7fff0000], [6, 16384], [0, 0]])), 16384);
  assert.throws(() => parseAuxvPageSize(auxv([[33, 1], [0, 0], [6, 4096]])), /no AT_PAGESZ/);
  assert.equal(pageSizeKb() * 1024, Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()));
});

test('mountinfo: device, the directory of the filesystem shown, and the mount point, escapes decoded', () => {
  const text =
    '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n' +
    '90 22 254:0 /srv/a\\040b /mnt/x\\134y rw - ext4 /dev/vda rw\n' +
    '91 22 0:52 / /run/user/0 rw,nosuid shared:5 - tmpfs tmpfs rw\n';
  assert.deepEqual(parseMountinfo(text), [
    { major: 254, minor: 0, root: '/', mountPoint: '/' },
    { major: 254, minor: 0, root: '/srv/a b', mountPoint: '/mnt/x\\y' },
    { major: 0, minor: 52, root: '/', mountPoint: '/run/user/0' },
  ]);
});
