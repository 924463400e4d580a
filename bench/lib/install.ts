// SPDX-License-Identifier: Apache-2.0
// Reference tools the benchmarks compare against (BCC, bpftrace), installed from Debian on demand.
// BCC compiles its programs against kernel headers at run time; Debian has none for this kernel,
// so the newest Debian linux-headers-*-amd64 is installed and presented to BCC (BCC_KERNEL_SOURCE)
// as one source tree. Every function says why a tool cannot be used instead of throwing.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../../test/lib/workloads';

export interface Availability {
  ok: boolean;
  /** Why not, in one line, when !ok. */
  reason?: string;
  /** Environment the tool needs (BCC_KERNEL_SOURCE for BCC). */
  env: NodeJS.ProcessEnv;
}

/** Where the benchmarks keep what they build (helpers, the merged header tree). */
export const BENCH_BUILD = path.join(ROOT, 'build', 'bench');

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

function installed(pkg: string): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

let aptUpdated = false;

function aptUpdate(): void {
  if (aptUpdated) return;
  aptUpdated = true;
  log('apt-get update');
  spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** apt-cache has a candidate version for pkg (after one apt-get update if it had none). */
function available(pkg: string): boolean {
  const has = () => /Candidate: (?!\(none\))/.test(spawnSync('apt-cache', ['policy', pkg], { encoding: 'utf8' }).stdout ?? '');
  if (has()) return true;
  aptUpdate();
  return has();
}

/** Installs the Debian packages not yet installed; returns an error line or null. */
export function aptInstall(pkgs: string[]): string | null {
  const missing = pkgs.filter((p) => !installed(p));
  if (missing.length === 0) return null;
  for (const p of missing) if (!available(p)) return `Debian package ${p} is not available from apt`;
  log(`installing ${missing.join(' ')} (once; this can take a few minutes)`);
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    const last = (r.stderr || r.stdout || '').trim().split('\n').slice(-1)[0];
    return `apt-get install ${missing.join(' ')} failed: ${last}`;
  }
  return null;
}

/** Has a command on PATH. */
export function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Compares Debian-like versions numerically, field by field ("6.12.117" > "6.12.9"). */
function versionCmp(a: string, b: string): number {
  const pa = a.split(/[^0-9]+/).filter(Boolean).map(Number);
  const pb = b.split(/[^0-9]+/).filter(Boolean).map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/** The Debian headers package for the running kernel, or else the newest generic amd64 one. */
export function headersPackage(): string | null {
  const search = () =>
    (spawnSync('apt-cache', ['search', '--names-only', '^linux-headers-[0-9].*-amd64$'], { encoding: 'utf8' }).stdout ?? '')
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((n) => /^linux-headers-[0-9][^ ]*-amd64$/.test(n) && !/-(cloud|rt)-amd64$/.test(n));
  let names = search();
  if (names.length === 0) {
    aptUpdate();
    names = search();
  }
  const exact = `linux-headers-${os.release()}`;
  if (names.includes(exact)) return exact;
  names.sort((a, b) => versionCmp(b, a));
  return names[0] ?? null;
}

/**
 * Debian splits headers into an arch part (generated headers, .config) and a common part (the
 * include tree); BCC reads one directory. Builds a tree of symlinks that merges both.
 */
function mergeTrees(sources: string[], out: string): void {
  fs.mkdirSync(out, { recursive: true });
  const byName = new Map<string, string[]>();
  for (const s of sources) for (const n of fs.readdirSync(s)) byName.set(n, [...(byName.get(n) ?? []), path.join(s, n)]);
  for (const [name, paths] of byName) {
    const dirs = paths.filter((p) => fs.statSync(p).isDirectory());
    if (dirs.length > 1) mergeTrees(dirs, path.join(out, name));
    else fs.symlinkSync(fs.realpathSync(paths[0]), path.join(out, name));
  }
}

function kernelSourceFor(pkg: string): string | null {
  const arch = path.join('/usr/src', pkg);
  if (!fs.existsSync(arch)) return null;
  const common = arch.replace(/-amd64$/, '-common');
  if (!fs.existsSync(common)) return arch; // a complete tree already
  const out = path.join(BENCH_BUILD, `kernel-source-${path.basename(arch)}`);
  if (!fs.existsSync(path.join(out, '.complete'))) {
    fs.rmSync(out, { recursive: true, force: true });
    mergeTrees([arch, common], out);
    fs.writeFileSync(path.join(out, '.complete'), '');
  }
  return out;
}

let bcc: Availability | undefined;

/** BCC's tools (bpfcc-tools) with kernel headers, proven by compiling and loading one program. */
export function ensureBcc(): Availability {
  if (bcc) return bcc;
  const fail = (reason: string): Availability => (bcc = { ok: false, reason, env: {} });
  let err = aptInstall(['bpfcc-tools']);
  if (err) return fail(err);
  let src = process.env.BCC_KERNEL_SOURCE;
  if (!src && !fs.existsSync(`/lib/modules/${os.release()}/build/include`)) {
    const pkg = headersPackage();
    if (!pkg) return fail('no Debian linux-headers-*-amd64 package is available; BCC needs kernel headers');
    err = aptInstall([pkg]);
    if (err) return fail(err);
    const dir = kernelSourceFor(pkg);
    if (!dir) return fail(`${pkg} is installed but /usr/src has no headers directory for it`);
    src = dir;
  }
  const env = src ? { BCC_KERNEL_SOURCE: src } : {};
  // the same path stackcount takes: clang compiles against the headers, the kernel loads it
  const probe = spawnSync(
    '/usr/bin/python3', // the interpreter of Debian's BCC tools (a python3 earlier on PATH may lack bcc)
    ['-c', 'from bcc import BPF; b = BPF(text="TRACEPOINT_PROBE(syscalls, sys_enter_brk) { return 0; }"); b.cleanup()'],
    { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 },
  );
  if (probe.status !== 0) {
    const lines = (probe.stderr ?? '').split('\n').filter((l) => /error|Error|fail|Fail/.test(l) && !/warning/.test(l));
    return fail(`BCC cannot compile a program here${src ? ` (BCC_KERNEL_SOURCE=${src})` : ''}: ${lines.slice(-1)[0] ?? `exit ${probe.status}`}`);
  }
  return (bcc = { ok: true, env });
}

let bpftrace: Availability | undefined;

/** bpftrace from Debian, proven by running a one-liner that attaches and exits. */
export function ensureBpftrace(): Availability {
  if (bpftrace) return bpftrace;
  const err = aptInstall(['bpftrace']);
  if (err) return (bpftrace = { ok: false, reason: err, env: {} });
  const r = spawnSync('bpftrace', ['-e', 'tracepoint:syscalls:sys_enter_brk { @ = count(); exit(); } interval:s:1 { exit(); }'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) {
    const last = (r.stderr ?? '').trim().split('\n').filter((l) => !/RLIMIT_MEMLOCK/.test(l)).slice(-1)[0];
    return (bpftrace = { ok: false, reason: `bpftrace cannot run a one-liner here: ${last ?? `exit ${r.status}`}`, env: {} });
  }
  return (bpftrace = { ok: true, env: {} });
}

/** Compiles the C file src into build/bench/NAME with gcc's flags (once per change of src). */
function compiled(src: string, name: string, flags: string[]): string {
  const bin = path.join(BENCH_BUILD, name);
  fs.mkdirSync(BENCH_BUILD, { recursive: true });
  if (!fs.existsSync(bin) || fs.statSync(bin).mtimeMs < fs.statSync(src).mtimeMs) {
    execFileSync('gcc', [...flags, '-o', bin, src], { stdio: 'inherit' });
  }
  return bin;
}

/** Compiles bench/lib/NAME.c into build/bench/NAME (once per change). */
export function helperBinary(name: string): string {
  return compiled(path.join(ROOT, 'bench', 'lib', `${name}.c`), name, ['-O2', '-Wall']);
}

/** bench/memleak_workload.c (N malloc/free pairs of mixed sizes), with frame pointers and symbols
 * as memleak's benches trace it. */
export function memleakWorkload(): string {
  return compiled(path.join(ROOT, 'bench', 'memleak_workload.c'), 'memleak_workload', ['-O2', '-g', '-fno-omit-frame-pointer']);
}
