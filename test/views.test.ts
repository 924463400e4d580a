// SPDX-License-Identifier: Apache-2.0
// The views against the sources they read, on this machine: free vs /proc/meminfo, ps vs
// /proc/PID/status, pmap vs smaps_rollup, vmstat and paging vs /proc/vmstat deltas, swap vs
// /proc/swaps, and oomlog on an OOM kill provoked here.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { jsonLines, memscope, start, Running } from './lib/run';
import { MemoryCgroup, Swapfile, vmstat } from './lib/scenario';
import * as path from 'node:path';
import { ROOT, workload } from './lib/workloads';
import { assertNothingLoaded } from './lib/bpf';

function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of fs.readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\S+):\s+(\d+)/.exec(l);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** value lies between the readings taken before and after (memory moves a little meanwhile). */
function between(v: number, a: number, b: number, slackKb: number, what: string): void {
  assert.ok(v >= Math.min(a, b) - slackKb && v <= Math.max(a, b) + slackKb, `${what}: ${v} not within [${a}, ${b}] ± ${slackKb}`);
}

/** A child that is stopped, so its memory stays still while it is compared. */
async function stoppedChild(): Promise<Running> {
  const c = new Running(spawn(workload('triage_hog'), ['8', '0'], { env: { ...process.env, HOG_WAIT: '1' }, stdio: ['pipe', 'pipe', 'pipe'] }));
  await c.waitFor('ready');
  c.send('go');
  await c.waitFor('touched');
  c.child.kill('SIGSTOP');
  // stopped once /proc says so (state T), not after a guessed delay
  while (!/^\d+ \(.*\) T/s.test(fs.readFileSync(`/proc/${c.pid}/stat`, 'utf8'))) await new Promise((r) => setTimeout(r, 10));
  return c;
}

test('free --json equals /proc/meminfo read around it', () => {
  const a = meminfo();
  const r = memscope(['free', '--json']);
  const b = meminfo();
  assert.equal(r.code, 0, r.stderr);
  const [f] = jsonLines(r.stdout);
  assert.equal(f.totalKb, a.MemTotal);
  assert.equal(f.swapTotalKb, a.SwapTotal);
  const slack = 8192;
  between(f.freeKb, a.MemFree, b.MemFree, slack, 'free');
  between(f.availableKb, a.MemAvailable, b.MemAvailable, slack, 'available');
  between(f.usedKb, a.MemTotal - a.MemAvailable, b.MemTotal - b.MemAvailable, slack, 'used');
  between(f.buffCacheKb, a.Buffers + a.Cached + a.SReclaimable, b.Buffers + b.Cached + b.SReclaimable, slack, 'buff/cache');
  between(f.sharedKb, a.Shmem, b.Shmem, slack, 'shared');
  // the text table says the same in MiB
  const t = memscope(['free', '-m']);
  const mem = /^Mem:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/m.exec(t.stdout);
  assert.ok(mem, t.stdout);
  assert.equal(Number(mem![1]), Math.floor(a.MemTotal / 1024));
});

test('ps: the RSS, VSZ and swap of the test child equal its /proc/PID/status', async () => {
  const c = await stoppedChild();
  try {
    const status = fs.readFileSync(`/proc/${c.pid}/status`, 'utf8');
    const val = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
    const r = memscope(['ps', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const me = jsonLines(r.stdout).find((p) => p.pid === c.pid);
    assert.ok(me, 'child listed');
    assert.equal(me.comm, 'triage_hog');
    assert.equal(me.rssKb, val('VmRSS'));
    assert.equal(me.vszKb, val('VmSize'));
    assert.equal(me.swapKb, val('VmSwap'));
    // PSS moves when other processes sharing libc come and go: only its bounds are fixed
    assert.ok(me.pssKb >= 8192 && me.pssKb <= me.rssKb, String(me.pssKb));
    assert.ok(me.rssKb >= 8192);
    // sorted by RSS, largest first; -n limits
    const top = jsonLines(memscope(['ps', '--json', '-n', '3']).stdout);
    assert.equal(top.length, 3);
    assert.ok(top[0].rssKb >= top[1].rssKb && top[1].rssKb >= top[2].rssKb);
    const text = memscope(['ps', '-s', 'vsz']).stdout.split('\n');
    assert.match(text[0], /^\s*PID USER\s+%MEM\s+VSZ\s+RSS\s+PSS\s+SWAP CONTAINER COMMAND$/);
    // a host process: '-' in the CONTAINER column
    assert.ok(text.some((l) => new RegExp(`^\\s*${c.pid} root .* - +\\S*triage_hog 8 0$`).test(l)));
  } finally {
    c.kill();
  }
});

test('ps and pmap print control characters in command lines as procps does (newline: space, others: ?)', async () => {
  const arg = '3\na\tb\rc\x1bd\x7fe';
  const w = start(workload('probe_target'), [arg]);
  try {
    await w.waitFor('ready');
    const procps = spawnSync('ps', ['-o', 'args=', '-p', String(w.pid)], { encoding: 'utf8' }).stdout.trimEnd();
    assert.ok(procps.endsWith('probe_target 3 a?b?c?d?e'), procps);
    const ours = memscope(['ps']).stdout.split('\n').find((l) => l.trimStart().startsWith(`${w.pid} `))!; // PIDs are right-aligned
    assert.ok(ours.endsWith(` ${procps}`), `${ours}\n${procps}`);
    const pm = spawnSync('pmap', [String(w.pid)], { encoding: 'utf8' }).stdout.split('\n')[0];
    assert.equal(memscope(['pmap', String(w.pid)]).stdout.split('\n')[0], pm);
  } finally {
    w.kill();
  }
});

test('pmap: totals equal smaps_rollup of the same process', async () => {
  const c = await stoppedChild();
  try {
    const rollup: Record<string, number> = {};
    for (const l of fs.readFileSync(`/proc/${c.pid}/smaps_rollup`, 'utf8').split('\n')) {
      const m = /^(\w+):\s+(\d+) kB/.exec(l);
      if (m) rollup[m[1]] = Number(m[2]);
    }
    const r = memscope(['pmap', '--json', String(c.pid)]);
    assert.equal(r.code, 0, r.stderr);
    const recs = jsonLines(r.stdout);
    const { total } = recs[recs.length - 1];
    assert.equal(total.rss, rollup.Rss);
    assert.equal(total.dirty, rollup.Private_Dirty + rollup.Shared_Dirty);
    assert.equal(total.swap, rollup.Swap);
    assert.equal(total.anon, rollup.Anonymous);
    // the 8 MB mapping the workload made is one segment of 8192 kB
    assert.ok(recs.some((s) => s.kbytes === 8192 && s.mapping === '' && s.mode === 'rw---'), r.stdout);
    const x = memscope(['pmap', '-x', String(c.pid)]);
    assert.match(x.stdout, new RegExp(`^${c.pid}:   .*triage_hog 8 0\\nAddress           Kbytes     RSS   Dirty Mode  Mapping\\n`));
    assert.match(x.stdout, new RegExp(`\\ntotal kB\\s+${total.kb}\\s+${total.rss}\\s+${total.dirty}\\n$`));
    assert.match(x.stdout, /\n[0-9a-f]{16}\s+8192\s+\d+\s+\d+ rw---   \[ anon \]\n/);
  } finally {
    c.kill();
  }
});

test('paging over a 1-second interval agrees with the /proc/vmstat delta, and sees the faults of a known workload', async () => {
  const hog = new Running(spawn(workload('triage_hog'), ['16'], { env: { ...process.env, HOG_WAIT: '1' }, stdio: ['pipe', 'pipe', 'pipe'] }));
  try {
    await hog.waitFor('ready');
    const before = vmstat();
    const ms = start(process.execPath, [require.resolve('../src/cli.js'), 'paging', '--json', '1', '1']);
    await ms.waitFor('"sinceBoot":true');
    hog.send('go');
    await hog.waitFor('done');
    const r = await ms.exited;
    const after = vmstat();
    assert.equal(r.code, 0, r.stderr);
    const [boot, line] = jsonLines(r.stdout);
    assert.equal(boot.sinceBoot, true);
    // 16 MB written page by page inside the interval: at least 4096 faults, and never more than the kernel counted around it
    assert.ok(line.delta.fault >= 4096, `faults ${line.delta.fault}`);
    assert.ok(line.delta.fault <= after.pgfault - before.pgfault);
    assert.ok(line.delta.pgfree <= after.pgfree - before.pgfree);
    assert.ok(line.delta.majflt <= after.pgmajfault - before.pgmajfault);
    // the rate is the delta over the measured interval (both rounded for printing)
    const exact = line.delta.fault / line.seconds;
    assert.ok(Math.abs(line['fault/s'] - exact) <= 0.01 + exact * 1e-5, `${line['fault/s']} vs ${exact}`);
  } finally {
    hog.kill();
  }
});

test('vmstat: since-boot line, then a 1-second interval whose bo covers a known direct write and agrees with /proc/vmstat', async () => {
  const file = `/var/tmp/memscope-views-${process.pid}.dat`;
  try {
    const before = vmstat();
    const m0 = meminfo();
    // as procps: COUNT lines in all, the since-boot line first
    const ms = start(process.execPath, [require.resolve('../src/cli.js'), 'vmstat', '--json', '1', '2']);
    await ms.waitFor('"sinceBoot":true');
    const dd = spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=4', 'oflag=direct', 'status=none']);
    assert.equal(dd.status, 0);
    const r = await ms.exited;
    const after = vmstat();
    const m1 = meminfo();
    assert.equal(r.code, 0, r.stderr);
    const [boot, line] = jsonLines(r.stdout);
    assert.equal(boot.sinceBoot, true);
    const bo = line.bo * line.seconds; // kB written out during the interval
    assert.ok(bo >= 4096 - line.seconds, `bo ${line.bo}/s over ${line.seconds} s`);
    assert.ok(bo <= after.pgpgout - before.pgpgout + line.seconds, `bo ${bo} > vmstat delta ${after.pgpgout - before.pgpgout}`);
    assert.ok(line.si * line.seconds <= (after.pswpin - before.pswpin) * 4 + line.seconds);
    between(line.free, m0.MemFree, m1.MemFree, 65536, 'free');
    between(line.cache, m0.Cached + m0.SReclaimable, m1.Cached + m1.SReclaimable, 65536, 'cache');
    assert.equal(line.us + line.sy + line.id + line.wa + line.st >= 97, true);
    const text = memscope(['vmstat']).stdout.split('\n');
    assert.equal(text[1], ' r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st');
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('vmstat 1 3 prints 3 lines as procps does, and its since-boot line is computed as procps computes it', () => {
  const r = memscope(['vmstat', '1', '3']);
  assert.equal(r.code, 0, r.stderr);
  const data = r.stdout.split('\n').filter((l) => /^\s*\d/.test(l));
  assert.equal(data.length, 3, r.stdout);
  const one = memscope(['vmstat', '1', '1']);
  assert.equal(one.stdout.split('\n').filter((l) => /^\s*\d/.test(l)).length, 1, one.stdout);
  // the first line against procps's own, a moment apart: the since-boot rates move slowly
  const procps = spawnSync('vmstat', [], { encoding: 'utf8' });
  if (procps.error) assert.fail(`procps vmstat is needed for this comparison: ${procps.error.message}`);
  const ours = memscope(['vmstat']).stdout;
  const cols = (text: string) => text.trim().split('\n')[2].trim().split(/\s+/).map(Number);
  const [a, b] = [cols(ours), cols(procps.stdout)];
  // si so bi bo in cs: columns 6..11
  for (let i = 6; i <= 11; i++) assert.ok(Math.abs(a[i] - b[i]) <= Math.max(2, 0.02 * b[i]), `column ${i}: memscope ${a[i]}, procps ${b[i]}\n${ours}\n${procps.stdout}`);
});

test('swap lists a swapfile as /proc/swaps does, and says when there is none', () => {
  const none = fs.readFileSync('/proc/swaps', 'utf8').trim().split('\n').length === 1;
  if (none) assert.equal(memscope(['swap']).stdout, 'no swap configured\n');
  const s = new Swapfile(32, `/var/tmp/memscope-views-${process.pid}.swap`);
  try {
    const r = memscope(['swap', '--json']);
    const dev = jsonLines(r.stdout).find((d) => d.name === s.file);
    assert.ok(dev, r.stdout);
    const line = fs.readFileSync('/proc/swaps', 'utf8').split('\n').find((l) => l.startsWith(s.file))!;
    const f = line.split(/\s+/);
    assert.deepEqual([dev.type, dev.sizeKb, dev.usedKb, dev.priority], ['file', Number(f[2]), Number(f[3]), Number(f[4])]);
    assert.match(memscope(['swap']).stdout, new RegExp(`^NAME\\s+TYPE\\s+SIZE USED PRIO\\n${s.file} file\\s+32M\\s+0B\\s+-?\\d+\\n`, 'm'));
  } finally {
    s.dispose();
  }
});

test('oomlog finds an OOM kill provoked here in /dev/kmsg: victim, cgroup, constraint', () => {
  const cg = new MemoryCgroup('memscope-oomlog-test', 32 << 20);
  try {
    const argv = cg.wrap([workload('triage_hog'), '128']);
    const child = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
    assert.equal(child.signal, 'SIGKILL');
    const r = memscope(['oomlog', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const ev = jsonLines(r.stdout).filter((e) => e.cgroup === cg.name).pop();
    assert.ok(ev, r.stdout);
    assert.equal(ev.constraint, 'CONSTRAINT_MEMCG');
    assert.equal(ev.victim.comm, 'triage_hog');
    assert.equal(ev.invoker.comm, 'triage_hog');
    assert.equal(ev.victim.pid, ev.invoker.pid);
    assert.ok(ev.victim.anonRssKb > 16 * 1024 && ev.victim.anonRssKb <= 32 * 1024, String(ev.victim.anonRssKb));
    assert.equal(ev.memcg.limitKb, 32 * 1024);
    assert.ok(ev.ageSeconds >= 0 && ev.ageSeconds < 120);
    const text = memscope(['oomlog']).stdout;
    assert.match(text, new RegExp(`OOM kill \\(CONSTRAINT_MEMCG, cgroup ${cg.name}\\)\\n  invoked by:  triage_hog \\(PID ${ev.victim.pid}\\)`));
    // sizes in kB as the kernel's own line prints them (total-vm:NkB, anon-rss:NkB, ...)
    const kernel = execFileSync('dmesg', [], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`Killed process ${ev.victim.pid} (triage_hog)`)).pop()!;
    const kb = (f: string) => new RegExp(`${f}:(\\d+)kB`).exec(kernel)![1];
    assert.ok(text.includes(`killed:      triage_hog (PID ${ev.victim.pid}) total-vm ${kb('total-vm')}kB, anon-rss ${kb('anon-rss')}kB, file-rss ${kb('file-rss')}kB`), `${text}\n${kernel}`);
  } finally {
    cg.dispose();
  }
});

test('pmc: no PMU here is said in one line; the software page-fault counters see a known workload', async () => {
  const hog = new Running(spawn(workload('triage_hog'), ['16'], { env: { ...process.env, HOG_WAIT: '1' }, stdio: ['pipe', 'pipe', 'pipe'] }));
  try {
    await hog.waitFor('ready');
    const before = vmstat();
    const ms = start(process.execPath, [require.resolve('../src/cli.js'), 'pmc', '--json', '1', '1']);
    await ms.waitFor('"events":');
    hog.send('go');
    await hog.waitFor('done');
    const r = await ms.exited;
    const after = vmstat();
    assert.equal(r.code, 0, r.stderr);
    const [head, line] = jsonLines(r.stdout);
    // this VM has no hardware PMU (perf_event_open of a HW_CACHE event fails with ENOENT)
    assert.equal(head.pmu, false);
    assert.match(head.reason, /ENOENT/);
    assert.ok(line['page-faults'] >= 4096, JSON.stringify(line));
    assert.ok(line['page-faults'] <= (after.pgfault - before.pgfault) * 1.01 + 64, `${line['page-faults']} > ${after.pgfault - before.pgfault}`);
    assert.ok(line['minor-faults'] + line['major-faults'] <= line['page-faults'] + 64);
    const text = memscope(['pmc', '1', '1']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^No hardware PMU: LLC-loads and LLC-load-misses cannot be counted here \(.*ENOENT.*\)\. Software events:\n#\s+time\s+counts unit events\n\s+1\.\d+\s+[\d,]+\s+page-faults\n/);
  } finally {
    hog.kill();
  }
});

test("oomlog -f: a saved log from stdin or a file, in the chapter's format and this kernel's", () => {
  const fixtures = path.join(ROOT, 'test', 'fixtures');
  const chapter = memscope(['oomlog', '-f', '-', '--json'], { input: fs.readFileSync(path.join(fixtures, 'oom-chapter-7.2.1.txt'), 'utf8') });
  assert.equal(chapter.code, 0, chapter.stderr);
  const [e] = jsonLines(chapter.stdout);
  assert.deepEqual([e.victim.pid, e.victim.comm, e.victim.anonRssKb, e.invoker.comm], [23409, 'perl', 5224980, 'run']);
  const here = memscope(['oomlog', '-f', path.join(fixtures, 'oom-6.18-dmesg.txt')]);
  assert.equal(here.code, 0, here.stderr);
  assert.match(here.stdout, /^\[1023\.273551\] OOM kill \(CONSTRAINT_MEMCG, cgroup \/memscope-oomlog-capture\)\n/);
  assert.match(here.stdout, /\n1 OOM kill found\.\n$/);
  assert.equal(memscope(['oomlog', '-f', '-'], { input: 'nothing here\n' }).stdout, 'No OOM kills in the input.\n');
});

test('bad input: one line', () => {
  for (const [args, re] of [
    [['pmap', '999999999'], /^memscope: no process with PID 999999999/],
    [['ps', '-s', 'bogus'], /^memscope: ps: .*bogus/],
    [['oomlog', '-f', '/nonexistent'], /^memscope: cannot read \/nonexistent: ENOENT/],
    [['free', '-m', '-g'], /^memscope: free: option/],
    [['vmstat', '0'], /^memscope: vmstat: .*positive/],
  ] as [string[], RegExp][]) {
    const r = memscope(args);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
});

after(() => assertNothingLoaded());
