// SPDX-License-Identifier: Apache-2.0
// Every one-liner of the chapter's section 7.4 (BCC and bpftrace), as its memscope equivalent
// (README, "One-liners"), run against a workload that makes its event happen.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { workload } from './lib/workloads';
import { memscope, start, startMemscope, jsonLines, Running, Result } from './lib/run';
import { MemoryCgroup } from './lib/scenario';
import { assertNothingLoaded } from './lib/bpf';

/** Starts a vm_ops workload, traces it with -p once it is ready, lets it run, returns memscope's result. */
async function traceWorkload(args: string[], msArgs: string[]): Promise<{ r: Result; pid: number }> {
  const w: Running = start(workload('vm_ops'), args);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope([...msArgs.slice(0, 1), '-p', String(w.pid), ...msArgs.slice(1)]);
    w.send('go');
    await w.waitFor('done');
    const r = await ms.exited; // the target exits: memscope reports and exits by itself
    assert.equal(r.code, 0, r.stderr);
    return { r, pid: w.pid };
  } finally {
    w.kill();
  }
}

const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

test('stackcount -U t:syscalls:sys_enter_brk (BCC) and -P (bpftrace @[ustack, comm]): brk() by user stack', async () => {
  const N = 23;
  const bin = workload('brk_grow');
  for (const perPid of [false, true]) {
    const w = start(bin, [String(N)]);
    try {
      await w.waitFor('ready');
      const ms = await startMemscope(['stackcount', '-p', String(w.pid), '-U', ...(perPid ? ['-P'] : []), '--json', 't:syscalls:sys_enter_brk']);
      w.send('go');
      await w.waitFor('done');
      const r = await ms.exited;
      assert.equal(r.code, 0, r.stderr);
      const recs = jsonLines(r.stdout);
      const grow = recs.filter((x) => x.ustack.some((f: string) => f.startsWith('grow_heap+')));
      assert.equal(grow.reduce((s, x) => s + x.count, 0), N, r.stdout);
      assert.match(grow[0].ustack[0], /^grow_heap\+0x[0-9a-f]+ \[brk_grow\]$/);
      assert.match(grow[0].ustack[1], /^main\+0x[0-9a-f]+ \[brk_grow\]$/);
      assert.equal(grow[0].kstack, undefined, '-U shows no kernel stack');
      if (perPid) assert.deepEqual([grow[0].pid, grow[0].comm], [w.pid, 'brk_grow']);
      else assert.equal(grow[0].pid, undefined, 'without -P stacks are merged across processes');
    } finally {
      w.kill();
    }
  }
});

test('stackcount -U [-P] t:exceptions:page_fault_user: user page faults by stack', async () => {
  const N = 57;
  const { r, pid } = await traceWorkload(['faults', String(N)], ['stackcount', '-U', '-P', '--json', 't:exceptions:page_fault_user']);
  const touch = jsonLines(r.stdout).filter((x) => x.ustack[0]?.startsWith('touch_pages+'));
  assert.equal(touch.reduce((s, x) => s + x.count, 0), N, r.stdout);
  assert.equal(touch[0].pid, pid);
  assert.equal(touch[0].comm, 'vm_ops');
  assert.match(touch[0].ustack[1], /^main\+0x[0-9a-f]+ \[vm_ops\]$/);
});

test("count -P software:page-fault:1 (bpftrace @[comm, pid] = count()): page faults by process", async () => {
  const N = 64;
  const { r, pid } = await traceWorkload(['faults', String(N)], ['count', '-P', '--json', 'software:page-fault:1']);
  const recs = jsonLines(r.stdout);
  assert.equal(recs.length, 1, r.stdout);
  assert.equal(recs[0].probe, 'software:page-fault:1');
  assert.deepEqual([recs[0].pid, recs[0].comm], [pid, 'vm_ops']);
  // the N first touches, and at most a few faults of the workload's own (printf, exit)
  assert.ok(recs[0].count >= N && recs[0].count <= N + 16, r.stdout);
});

test("count 't:vmscan:*' (funccount, bpftrace @[probe]): reclaim in a memory cgroup, per tracepoint", async () => {
  const file = `/var/tmp/memscope-oneliners-${process.pid}.dat`;
  // written around the page cache, so reading it charges new pages to the cgroup
  execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=48', 'oflag=direct', 'status=none']);
  const cg = new MemoryCgroup('memscope_oneliners', 16 << 20);
  try {
    const cmd = cg.wrap(['/bin/cat', file]).map(quote).join(' ');
    const r = memscope(['count', '--json', '-c', `${cmd} > /dev/null`, 't:vmscan:*']);
    assert.equal(r.code, 0, r.stderr);
    const by = Object.fromEntries(jsonLines(r.stdout).map((x) => [x.probe, x.count]));
    assert.ok(by['vmscan:mm_vmscan_memcg_reclaim_begin'] > 0, r.stdout);
    assert.equal(by['vmscan:mm_vmscan_memcg_reclaim_end'], by['vmscan:mm_vmscan_memcg_reclaim_begin'], r.stdout);
    assert.ok(by['vmscan:mm_vmscan_lru_shrink_inactive'] > 0, r.stdout);
    assert.ok(Object.keys(by).every((k) => k.startsWith('vmscan:')), r.stdout);
  } finally {
    cg.dispose();
    fs.rmSync(file, { force: true });
  }
});

test("trace t:syscalls:sys_enter_madvise 'behavior == 14' (for kprobe hugepage_madvise): MADV_HUGEPAGE calls by process", async () => {
  const N = 7;
  const { r, pid } = await traceWorkload(['madvise', String(N)], ['trace', '--json', 't:syscalls:sys_enter_madvise', 'behavior == 14']);
  const recs = jsonLines(r.stdout);
  assert.equal(recs.length, N, r.stdout);
  for (const e of recs) {
    assert.deepEqual([e.pid, e.comm, e.probe], [pid, 'vm_ops', 'syscalls:sys_enter_madvise']);
    assert.equal(e.fields.behavior, 14);
    assert.equal(e.fields.len_in, 2 << 20);
  }
  // the text form: one line per call, fields by name
  const { r: t } = await traceWorkload(['madvise', '3'], ['trace', 't:syscalls:sys_enter_madvise', 'behavior == 14 || behavior == 15']);
  const lines = t.stdout.split('\n').filter((l) => l.includes('syscalls:sys_enter_madvise'));
  assert.equal(lines.length, 3, t.stdout);
  // in hex where the tracepoint's own print format uses hex
  assert.match(lines[0], /^\d+\s+\d+\s+vm_ops\s+-\s+syscalls:sys_enter_madvise\s+__syscall_nr=28 start=0x[0-9a-f]+ len_in=0x200000 behavior=0xe$/);
});

test('trace filters of numeric comparisons run in the kernel: non-matching events never reach userspace', async () => {
  const { r } = await traceWorkload(['madvise', '9'], ['trace', '-v', '--json', 't:syscalls:sys_enter_madvise', 'behavior == 15 && len_in > 0']);
  assert.equal(jsonLines(r.stdout).length, 0, r.stdout);
  assert.match(r.stderr, /memscope: the filter runs in the kernel for 1 of 1 probes/);
  assert.match(r.stderr, /\nmemscope: 9 events filtered out in the kernel\n/);
  // a filter that is not an AND of numeric comparisons runs in userspace only, with the same result
  const { r: u } = await traceWorkload(['madvise', '4'], ['trace', '-v', '--json', 't:syscalls:sys_enter_madvise', 'behavior == 14 || comm == "nosuch"']);
  assert.equal(jsonLines(u.stdout).length, 4, u.stdout);
  assert.match(u.stderr, /in the kernel for 0 of 1 probes/);
  assert.match(u.stderr, /\nmemscope: 0 events filtered out in the kernel\n/);
});

test('count t:migrate:mm_migrate_pages and trace [-T] t:compaction:mm_compaction_begin: compaction of fragmented memory', async () => {
  const { r } = await traceWorkload(['fragment', '128'], ['count', '--json', 't:migrate:mm_migrate_pages', 't:compaction:mm_compaction_begin']);
  const by = Object.fromEntries(jsonLines(r.stdout).map((x) => [x.probe, x.count]));
  assert.ok(by['migrate:mm_migrate_pages'] > 0, r.stdout);
  const compactions = by['compaction:mm_compaction_begin'];
  assert.ok(compactions > 0, r.stdout);

  const { r: t, pid } = await traceWorkload(['fragment', '32'], ['trace', '-T', 't:compaction:mm_compaction_begin']);
  const lines = t.stdout.split('\n').filter((l) => l.includes('compaction:mm_compaction_begin'));
  assert.ok(lines.length > 0, t.stdout);
  for (const l of lines) {
    assert.match(l, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${pid}\\s+${pid}\\s+vm_ops\\s+-\\s+compaction:mm_compaction_begin\\s+zone_start=0x[0-9a-f]+ migrate_pfn=0x[0-9a-f]+ free_pfn=0x[0-9a-f]+ zone_end=0x[0-9a-f]+ sync=1$`));
  }
});

test('stackcount --folded and --svg; count per interval (-i) with -T', async () => {
  const bin = workload('brk_grow');
  const svg = `/tmp/memscope-oneliners-${process.pid}.svg`;
  try {
    const r = memscope(['stackcount', '-U', '-P', '--folded', '--svg', svg, '--command', `${bin} 11`, 't:syscalls:sys_enter_brk'], { input: 'go\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.split('\n').some((l) => /^brk_grow;.*;main;grow_heap 11$/.test(l)), r.stdout);
    assert.match(fs.readFileSync(svg, 'utf8'), /<title>grow_heap \(11 events, /);
  } finally {
    fs.rmSync(svg, { force: true });
  }
  const w = start(bin, ['5']);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['count', '-T', '-i', '0.5', '-p', String(w.pid), 't:syscalls:sys_enter_brk']);
    w.send('go');
    await w.waitFor('done');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    // one table per interval, headed by the time; the 5 calls are counted once
    assert.match(r.stdout, /\n\[\d\d:\d\d:\d\d\]\nPROBE\s+COUNT\n/);
    const counts = [...r.stdout.matchAll(/^syscalls:sys_enter_brk\s+(\d+)$/gm)].map((m) => Number(m[1]));
    assert.equal(counts.reduce((a, b) => a + b, 0), 5, r.stdout);
  } finally {
    w.kill();
  }
});

test("stackcount -f -PU t:exceptions:page_fault_user: the chapter's flame-graph recipe, BCC's spelling", async () => {
  const N = 41;
  const { r, pid } = await traceWorkload(['faults', String(N)], ['stackcount', '-f', '-PU', 't:exceptions:page_fault_user']);
  const lines = r.stdout.split('\n').filter((l) => /^vm_ops;.*;main;touch_pages \d+$/.test(l));
  assert.equal(lines.length, 1, r.stdout);
  assert.equal(Number(lines[0].split(' ').pop()), N, r.stdout);
  assert.ok(r.stdout.split('\n').every((l) => !l.includes('_[k]')), '-U: user frames only');
  assert.ok(pid > 0);
});

/** brk_grow N under stackcount with extra arguments, started by memscope (--command). */
function brkStackcount(n: number, args: string[], wrap = ''): Result {
  const r = memscope(['stackcount', ...args, '--command', `${wrap}${workload('brk_grow')} ${n}`, 't:syscalls:sys_enter_brk'], { input: 'go\n' });
  assert.equal(r.code, 0, r.stderr);
  return r;
}

test('stackcount, BCC options: -s offsets, -d delimiter, -r regex, -c CPU, -i interval with -T, -D duration', async () => {
  const N = 13;
  // without -s: names only, as BCC; with -s: offsets and modules
  const plain = brkStackcount(N, ['-U']);
  assert.match(plain.stdout, new RegExp(`\\n  grow_heap\\n  main\\n(  .*\\n)*    ${N}\\n`), plain.stdout);
  const s = brkStackcount(N, ['-U', '-s']);
  assert.match(s.stdout, new RegExp(`\\n  grow_heap\\+0x[0-9a-f]+ \\[brk_grow\\]\\n  main\\+0x[0-9a-f]+ \\[brk_grow\\]\\n(  .*\\n)*    ${N}\\n`), s.stdout);
  // -d: a "--" line between kernel and user frames (none without it); "-" in folded output
  const both = brkStackcount(N, []);
  assert.match(both.stdout, /\n  do_syscall_64\n  entry_SYSCALL_64_after_hwframe\n  grow_heap\n/, both.stdout);
  const d = brkStackcount(N, ['-d']);
  assert.match(d.stdout, /\n  entry_SYSCALL_64_after_hwframe\n  --\n  grow_heap\n/, d.stdout);
  const df = brkStackcount(N, ['-d', '-f']);
  assert.ok(df.stdout.split('\n').some((l) => new RegExp(`;main;grow_heap;-;entry_SYSCALL_64_after_hwframe_\\[k\\];.*syscall_trace_enter_\\[k\\] ${N}$`).test(l)), df.stdout);
  // -r: tracepoint names as regular expressions; entry and exit of each brk() by the same stack
  const re = memscope(['stackcount', '-U', '-r', '-f', '--command', `${workload('brk_grow')} ${N}`, 't:syscalls:sys_(enter|exit)_brk'], { input: 'go\n' });
  assert.equal(re.code, 0, re.stderr);
  assert.match(re.stderr, /Tracing 2 probes/);
  assert.ok(re.stdout.split('\n').some((l) => l.endsWith(`;main;grow_heap ${2 * N}`)), re.stdout);
  // -c CPU: the workload pinned to the last CPU is seen on that CPU only
  const cpus = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  const last = Number(cpus.split(/[-,]/).pop());
  if (last > 0) {
    const on = brkStackcount(N, ['-U', '-f', '-c', String(last)], `taskset -c ${last} `);
    assert.ok(on.stdout.split('\n').some((l) => l.endsWith(`;main;grow_heap ${N}`)), on.stdout);
    const off = brkStackcount(N, ['-U', '-f', '-c', '0'], `taskset -c ${last} `);
    assert.ok(!off.stdout.includes('grow_heap'), off.stdout);
  } else assert.fail(`-c needs two CPUs to be tested; this machine has ${cpus}`);

  // -i with -T: one report per interval headed by the time; the N calls are counted once
  const w = start(workload('brk_grow'), [String(N)]);
  try {
    await w.waitFor('ready');
    const ms = await startMemscope(['stackcount', '-U', '-f', '-i', '0.3', '-T', '-p', String(w.pid), 't:syscalls:sys_enter_brk']);
    await new Promise((res) => setTimeout(res, 700));
    w.send('go');
    await w.waitFor('done');
    const r = await ms.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.ok((r.stdout.match(/^\d\d:\d\d:\d\d$/gm) ?? []).length >= 2, r.stdout);
    const counts = [...r.stdout.matchAll(/;main;grow_heap (\d+)$/gm)].map((m) => Number(m[1]));
    assert.equal(counts.reduce((a, b) => a + b, 0), N, r.stdout);
  } finally {
    w.kill();
  }
  // -D: stops by itself after the duration, with the target still waiting (nothing counted)
  const idle = start(workload('brk_grow'), ['1']);
  try {
    await idle.waitFor('ready');
    const r = memscope(['stackcount', '-D', '0.5', '-p', String(idle.pid), 't:syscalls:sys_enter_brk']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /for 0\.5 s\.\.\. Hit Ctrl-C/);
    assert.equal(r.stdout.trim(), '', r.stdout);
  } finally {
    idle.kill();
  }
});

test('list shows tracepoints, their fields and software events', () => {
  const r = memscope(['list', 't:compaction:mm_compaction_*']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.split('\n').includes('tracepoint:compaction:mm_compaction_begin'), r.stdout);
  assert.ok(r.stdout.split('\n').every((l) => !l || l.startsWith('tracepoint:compaction:mm_compaction_')), r.stdout);
  const v = memscope(['list', '-v', 'tracepoint:vmscan:mm_vmscan_memcg_reclaim_end']);
  assert.match(v.stdout, /^tracepoint:vmscan:mm_vmscan_memcg_reclaim_end\n    unsigned long nr_reclaimed\n/);
  const s = memscope(['list', 'software']);
  assert.ok(s.stdout.includes('software:page-faults:\n') && s.stdout.includes('software:major-faults:\n'), s.stdout);
});

test('bad probes and filters: one line, non-zero exit', () => {
  const cases: [string[], RegExp, number][] = [
    [['trace', 'hugepage_madvise'], /^memscope: 'hugepage_madvise' would be a kprobe.*CONFIG_KPROBES off/, 2],
    [['count', 't:nosuch:thing'], /^memscope: no tracepoint matches 'nosuch:thing'/, 1],
    [['count', 'software:nosuch'], /^memscope: unknown software event 'nosuch'/, 2],
    [['trace', 't:compaction:mm_compaction_begin', 'nosuch > 1'], /^memscope: bad filter 'nosuch > 1': no field 'nosuch'/, 2],
    [['trace', 't:compaction:mm_compaction_begin', 'sync >'], /^memscope: bad filter/, 2],
    [['stackcount', '-U', '-K', 't:syscalls:sys_enter_brk'], /^memscope: -U and -K exclude each other/, 2],
  ];
  for (const [args, re, code] of cases) {
    const r = memscope(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
});

after(() => assertNothingLoaded());
