// SPDX-License-Identifier: Apache-2.0
// count loads count-lean.bpf.o (no CO-RE relocation, so libbpf parses no kernel BTF: issue 16)
// unless a probe is USDT, --cgroup/--container is given or -P shows the CONTAINER column, and the
// complete count.bpf.o then: the
// lean object would count nothing under a cgroup filter, the complete one counts exactly the
// workload inside the cgroup and nothing of the same workload outside it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { start, startMemscope, jsonLines, Running } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';

const V2 = '/sys/fs/cgroup/unified';
const children: Running[] = [];
let made: string | undefined;

after(async () => {
  children.forEach((c) => c.kill());
  await new Promise((r) => setTimeout(r, 200));
  if (made) fs.rmdirSync(made);
  await assertNothingLoaded();
});

/** count [-P] --json --verbose ARGS t:syscalls:sys_enter_madvise over two vm_ops workloads making
 * INSIDE and OUTSIDE madvise() calls; `place` puts the first in a cgroup (or not). */
async function countMadvise(args: (inside: Running) => string[], place?: (inside: Running) => void, perProcess = true) {
  const INSIDE = 37;
  const OUTSIDE = 23;
  const inside = start(workload('vm_ops'), ['madvise', String(INSIDE)]);
  const outside = start(workload('vm_ops'), ['madvise', String(OUTSIDE)]);
  children.push(inside, outside);
  await inside.waitFor('ready');
  await outside.waitFor('ready');
  place?.(inside);
  const ms = await startMemscope(['count', ...(perProcess ? ['-P'] : []), '--json', '--verbose', ...args(inside), 't:syscalls:sys_enter_madvise']);
  inside.send('go');
  outside.send('go');
  await inside.waitFor('done');
  await outside.waitFor('done');
  await inside.exited;
  await outside.exited;
  const r = await ms.interrupt();
  assert.equal(r.code, 0, r.stderr);
  if (perProcess) {
    const recs = jsonLines(r.stdout).filter((x) => x.pid === inside.pid || x.pid === outside.pid);
    assert.deepEqual(
      recs.map((x) => [x.pid, x.comm, x.probe, x.count]),
      [[inside.pid, 'vm_ops', 'syscalls:sys_enter_madvise', INSIDE]],
      r.stdout,
    );
  } else assert.deepEqual(jsonLines(r.stdout).map((x) => [x.probe, x.count]), [['syscalls:sys_enter_madvise', INSIDE]], r.stdout);
  return /loading object from \S*\/(count[-\w]*)\.bpf\.o/.exec(r.stderr)?.[1];
}

test('count -p: the lean object, the target exactly; with -P (the CONTAINER column) the complete one', async () => {
  assert.equal(await countMadvise((w) => ['-p', String(w.pid)], undefined, false), 'count-lean');
  assert.equal(await countMadvise((w) => ['-p', String(w.pid)]), 'count');
});

test('count --cgroup: the complete object, exactly the workload inside the cgroup', async () => {
  made = path.join(V2, `ms-count-${process.pid}`);
  fs.mkdirSync(made);
  const dir = made;
  const obj = await countMadvise(
    () => ['--cgroup', dir],
    (w) => fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(w.pid)),
  );
  assert.equal(obj, 'count');
});

test('count without -P: the counts map, sized to one key per probe, holds every probe', async () => {
  // three probes (two of them fire), so a map sized below the number of probes would lose one
  const N = 41;
  const w = start(workload('vm_ops'), ['madvise', String(N)]);
  children.push(w);
  await w.waitFor('ready');
  const ms = await startMemscope([
    'count',
    '--json',
    '-p',
    String(w.pid),
    't:vmscan:mm_vmscan_write_folio',
    't:syscalls:sys_enter_madvise',
    't:syscalls:sys_exit_madvise',
  ]);
  w.send('go');
  await w.waitFor('done');
  await w.exited;
  const r = await ms.interrupt();
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    jsonLines(r.stdout)
      .map((x) => [x.probe, x.count])
      .sort(),
    [
      ['syscalls:sys_enter_madvise', N],
      ['syscalls:sys_exit_madvise', N],
    ],
    r.stdout,
  );
});
