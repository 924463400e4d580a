// SPDX-License-Identifier: Apache-2.0
// Real memory trouble for tests, always undone: memory cgroups with limits, swapfiles and zram
// swapped on, huge-page reservations, (m)THP sizes turned on or off. Each resource is removed by its dispose(), and every one
// still alive is removed when the test process exits, even after a failed assertion.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const live = new Set<{ dispose(): void }>();
process.on('exit', () => {
  for (const r of [...live]) {
    try {
      r.dispose();
    } catch {
      /* best effort at exit */
    }
  }
});

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const V1_ROOT = '/sys/fs/cgroup/memory';
const V2_ROOT = '/sys/fs/cgroup/unified';

/** A memory cgroup with a limit: v1 where the memory controller is mounted as v1 (this machine), else v2. */
export class MemoryCgroup {
  readonly path: string;
  readonly version: 1 | 2;

  constructor(name: string, limitBytes: number, opts: { swappiness?: number } = {}) {
    // a plain name gets this run's pid: two runs of one test file (a helper's beside the suite)
    // must not remove each other's cgroup; container-shaped names (docker/<id>, crio-<id>.scope)
    // are kept as the container resolver must see them
    if (/^[\w-]+$/.test(name) && !/^(crio|docker|libpod|cri-containerd)-/.test(name)) name = `${name}-${process.pid}`;
    if (fs.existsSync(`${V1_ROOT}/memory.limit_in_bytes`)) {
      this.version = 1;
      this.path = path.join(V1_ROOT, name);
    } else {
      const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : V2_ROOT;
      this.version = 2;
      this.path = path.join(v2, name);
    }
    if (fs.existsSync(this.path)) removeCgroupDir(this.path);
    fs.mkdirSync(this.path);
    live.add(this);
    if (this.version === 1) {
      fs.writeFileSync(`${this.path}/memory.limit_in_bytes`, String(limitBytes));
      if (opts.swappiness !== undefined) fs.writeFileSync(`${this.path}/memory.swappiness`, String(opts.swappiness));
    } else {
      fs.writeFileSync(`${this.path}/memory.max`, String(limitBytes));
    }
  }

  /** The cgroup path as the kernel prints it (e.g. in an OOM report): "/name". */
  get name(): string {
    return '/' + path.basename(this.path);
  }

  /** The memcg id the kernel uses in tracepoints: the cgroup directory's inode on this kernel. */
  get inode(): number {
    return fs.statSync(this.path).ino;
  }

  add(pid: number): void {
    fs.writeFileSync(`${this.path}/cgroup.procs`, String(pid));
  }

  /** A shell command line that joins this cgroup and then execs argv (so the pid is the workload's). */
  wrap(argv: string[]): string[] {
    return ['/bin/sh', '-c', `echo $$ > ${this.path}/cgroup.procs && exec "$@"`, 'sh', ...argv];
  }

  dispose(): void {
    live.delete(this);
    if (fs.existsSync(this.path)) removeCgroupDir(this.path);
  }
}

function removeCgroupDir(dir: string): void {
  for (let i = 0; i < 100; i++) {
    let pids: string[] = [];
    try {
      pids = fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean);
    } catch {
      /* already gone */
    }
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* exited */
      }
    }
    try {
      fs.rmdirSync(dir);
      return;
    } catch {
      sleepMs(50);
    }
  }
  throw new Error(`cannot remove cgroup ${dir}`);
}

/** A swapfile that is swapped on for the test's duration. */
export class Swapfile {
  readonly file: string;

  constructor(sizeMiB: number, file = `/var/tmp/memscope-test-${process.pid}.swap`) {
    this.file = file;
    live.add(this);
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${sizeMiB}`, 'status=none']);
    fs.chmodSync(file, 0o600);
    execFileSync('mkswap', [file], { stdio: 'ignore' });
    execFileSync('swapon', [file]);
  }

  dispose(): void {
    live.delete(this);
    try {
      execFileSync('swapoff', [this.file], { stdio: 'ignore' });
    } catch {
      /* was not on */
    }
    fs.rmSync(this.file, { force: true });
  }
}

/** zram0 as swap, above any other swap (priority 32767): a SWP_SYNCHRONOUS_IO device, whose
 * swap-ins skip the swap cache and may be large folios (mTHP). dispose() swaps it off and resets it
 * (its memory freed, unconfigured again). */
export class ZramSwap {
  readonly dev = '/dev/zram0';
  private static readonly SYS = '/sys/block/zram0';

  static available(): string | null {
    if (!fs.existsSync(ZramSwap.SYS)) return 'no /sys/block/zram0 (CONFIG_ZRAM, module zram)';
    const size = Number(fs.readFileSync(`${ZramSwap.SYS}/disksize`, 'utf8'));
    return size ? `zram0 is in use already (disksize ${size})` : null;
  }

  constructor(sizeMiB: number) {
    live.add(this);
    fs.writeFileSync(`${ZramSwap.SYS}/disksize`, `${sizeMiB}M`);
    execFileSync('mkswap', [this.dev], { stdio: 'ignore' });
    execFileSync('swapon', ['-p', '32767', this.dev]);
  }

  dispose(): void {
    live.delete(this);
    try {
      execFileSync('swapoff', [this.dev], { stdio: 'ignore' });
    } catch {
      /* was not on */
    }
    fs.writeFileSync(`${ZramSwap.SYS}/reset`, '1');
  }
}

/** One (m)THP size's policy (/sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/enabled:
 * always, inherit, madvise, never) set for a test; dispose() puts back the one selected before. */
export class ThpSize {
  static readonly ROOT = '/sys/kernel/mm/transparent_hugepage';
  private readonly file: string;
  private readonly before: string;

  constructor(readonly kB: number, policy: string) {
    this.file = `${ThpSize.ROOT}/hugepages-${kB}kB/enabled`;
    const m = /\[(\w+)\]/.exec(fs.readFileSync(this.file, 'utf8'));
    if (!m) throw new Error(`${this.file}: no policy selected`);
    this.before = m[1];
    live.add(this);
    fs.writeFileSync(this.file, policy);
  }

  /** A counter of hugepages-<size>kB/stats (swpin, swpout, split...), or null if the kernel has none. */
  stat(name: string): number | null {
    const f = `${ThpSize.ROOT}/hugepages-${this.kB}kB/stats/${name}`;
    return fs.existsSync(f) ? Number(fs.readFileSync(f, 'utf8')) : null;
  }

  dispose(): void {
    live.delete(this);
    fs.writeFileSync(this.file, this.before);
  }
}

/** Reserves N huge pages (vm.nr_hugepages) and restores the previous value on dispose. */
export class HugePages {
  private readonly before: number;

  constructor(readonly count: number) {
    this.before = Number(fs.readFileSync('/proc/sys/vm/nr_hugepages', 'utf8'));
    live.add(this);
    fs.writeFileSync('/proc/sys/vm/nr_hugepages', String(this.before + count));
    const now = Number(fs.readFileSync('/proc/sys/vm/nr_hugepages', 'utf8'));
    if (now < this.before + count) {
      this.dispose();
      throw new Error(`could reserve only ${now - this.before} of ${count} huge pages`);
    }
  }

  dispose(): void {
    live.delete(this);
    fs.writeFileSync('/proc/sys/vm/nr_hugepages', String(this.before));
  }
}

/** /proc/vmstat as numbers. */
export function vmstat(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of fs.readFileSync('/proc/vmstat', 'utf8').split('\n')) {
    const [k, v] = line.split(' ');
    if (k) out[k] = Number(v);
  }
  return out;
}
