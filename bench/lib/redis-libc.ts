// SPDX-License-Identifier: Apache-2.0
// redis-server with glibc's allocator, for bench:memleak-real. Debian's redis-server links
// jemalloc (the sampler refuses it: another allocator); this builds Debian's own source of redis
// with `make MALLOC=libc` once and keeps the binary under build/bench/redis-libc. The source comes
// through apt with a deb-src line in a sources list of our own (-o Dir::Etc::SourceList), so the
// machine's apt configuration is not touched.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BENCH_BUILD } from './install';

export const REDIS_DIR = path.join(BENCH_BUILD, 'redis-libc');
const BIN = path.join(REDIS_DIR, 'redis-server');

function run(cmd: string, args: string[], cwd: string): string | null {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 64 << 20 });
  if (r.status === 0) return null;
  const last = (r.stderr || r.stdout || String(r.error ?? '')).trim().split('\n').slice(-1)[0];
  return `${cmd} ${args.slice(-2).join(' ')} failed: ${last}`;
}

/** The path of redis-server built with MALLOC=libc, or { error } saying why it could not be built. */
export function redisLibc(): { bin: string } | { error: string } {
  if (fs.existsSync(BIN)) return { bin: BIN };
  process.stderr.write(`bench: building redis-server with glibc's malloc (MALLOC=libc) from Debian's source into ${REDIS_DIR} (once; a few minutes)\n`);
  const apt = path.join(REDIS_DIR, 'apt');
  const src = path.join(REDIS_DIR, 'src');
  fs.mkdirSync(path.join(apt, 'lists', 'partial'), { recursive: true });
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(
    path.join(apt, 'sources.list'),
    'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main\n',
  );
  const aptOpts = ['-q', '-o', `Dir::Etc::SourceList=${apt}/sources.list`, '-o', 'Dir::Etc::SourceParts=/nonexistent', '-o', `Dir::State::Lists=${apt}/lists`];
  const steps: [string, string[], string][] = [
    ['apt-get', [...aptOpts, 'update'], REDIS_DIR],
    ['apt-get', [...aptOpts, 'source', '--download-only', 'redis'], src],
  ];
  for (const [c, a, cwd] of steps) {
    const e = run(c, a, cwd);
    if (e) return { error: e };
  }
  const orig = fs.readdirSync(src).find((f) => /^redis_[\d.]+\.orig\.tar\.gz$/.test(f));
  if (!orig) return { error: `no redis_*.orig.tar.gz in ${src} after apt-get source` };
  const e1 = run('tar', ['xzf', orig], src);
  if (e1) return { error: e1 };
  const tree = path.join(src, `redis-${/^redis_([\d.]+)\./.exec(orig)![1]}`);
  // frame pointers: memscope's sampler walks stacks by them
  const e2 = run('make', ['-j2', 'MALLOC=libc', 'BUILD_TLS=no', 'USE_SYSTEMD=no', 'OPTIMIZATION=-O2 -fno-omit-frame-pointer', 'redis-server'], tree);
  if (e2) return { error: e2 };
  fs.copyFileSync(path.join(tree, 'src', 'redis-server'), BIN);
  fs.chmodSync(BIN, 0o755);
  return { bin: BIN };
}
