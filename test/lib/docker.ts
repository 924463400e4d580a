// SPDX-License-Identifier: Apache-2.0
// A Docker engine of the test's own (Debian's docker.io): dockerd with no network, its data,
// exec root and socket in a temporary directory, and images imported from a local root
// filesystem (no registry). dispose() removes the containers, stops dockerd, unmounts and removes
// what it left, and the cgroup directories it created.
import { execFileSync, spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

function which(cmd: string, preferred: string[]): string | null {
  for (const p of preferred) if (fs.existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Each controller's "docker" cgroup parent, as dockerd's cgroupfs driver creates them. */
function dockerCgroupParents(): string[] {
  let ctrls: string[] = [];
  try {
    ctrls = fs.readdirSync(CGROUP_ROOT);
  } catch {
    return [];
  }
  return ctrls.map((c) => path.join(CGROUP_ROOT, c, 'docker'));
}

export class Dockerd {
  readonly dir: string;
  readonly dataRoot: string;
  readonly sock: string;
  private child: ChildProcess | null = null;
  private log = '';
  private readonly client: string;
  private readonly parentsBefore: Set<string>;

  /** Starts dockerd; throws with the reason (missing package, dockerd's own last lines) when it cannot. */
  static async start(): Promise<Dockerd> {
    const d = new Dockerd();
    try {
      await d.launch();
    } catch (e) {
      await d.dispose();
      throw e;
    }
    return d;
  }

  private constructor() {
    const dockerd = which('dockerd', ['/usr/sbin/dockerd']);
    // Debian's client, matching its daemon's API, over any other on PATH
    const client = which('docker', ['/usr/bin/docker']);
    if (!dockerd || !client) throw new Error('dockerd or docker not found: setup.sh installs Debian\'s docker.io');
    this.client = client;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-docker-'));
    this.dataRoot = path.join(this.dir, 'data');
    this.sock = path.join(this.dir, 'docker.sock');
    this.parentsBefore = new Set(dockerCgroupParents().filter((p) => fs.existsSync(p)));
    this.child = spawn(
      dockerd,
      [
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        '--data-root', this.dataRoot,
        '--exec-root', path.join(this.dir, 'exec'),
        '--pidfile', path.join(this.dir, 'dockerd.pid'),
        '-H', `unix://${this.sock}`,
        '--containerd-namespace', 'memscope-test',
        '--containerd-plugins-namespace', 'memscope-test-plugins',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (d: Buffer) => (this.log = (this.log + d.toString()).slice(-20_000));
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
  }

  private async launch(): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      if (this.child!.exitCode !== null || this.child!.signalCode !== null) throw new Error(`dockerd exited (${this.child!.exitCode ?? this.child!.signalCode}):\n${this.tail()}`);
      if (fs.existsSync(this.sock) && spawnSync(this.client, ['-H', `unix://${this.sock}`, 'version'], { stdio: 'ignore', timeout: 10_000 }).status === 0) return;
      if (Date.now() - t0 > 60_000) throw new Error(`dockerd did not answer within 60 s:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private tail(): string {
    return this.log.split('\n').slice(-15).join('\n');
  }

  /** Runs the docker client against this engine; throws with its stderr on failure. */
  docker(args: string[], opts: { input?: string; timeoutMs?: number; allowFail?: boolean } = {}): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync(this.client, ['-H', `unix://${this.sock}`, ...args], { encoding: 'utf8', input: opts.input ?? '', timeout: opts.timeoutMs ?? 120_000 });
    if (r.status !== 0 && !opts.allowFail) throw new Error(`docker ${args.join(' ')}: exit ${r.status ?? r.signal}: ${r.stderr}`);
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /**
   * An image made of local files: each [path in the image, file on this host]; "/bin/sh" and the
   * other applets link to busybox when it is among them. Imported with `docker import`.
   */
  importImage(tag: string, files: [string, string][]): void {
    const root = path.join(this.dir, 'rootfs');
    for (const [inImage, host] of files) {
      const dest = path.join(root, inImage);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(host, dest);
      fs.chmodSync(dest, fs.statSync(host).mode & 0o777);
    }
    if (files.some(([p]) => p === '/bin/busybox')) for (const a of ['sh', 'cat', 'echo']) fs.symlinkSync('busybox', path.join(root, 'bin', a));
    const tar = path.join(this.dir, 'rootfs.tar');
    execFileSync('tar', ['-C', root, '-cf', tar, '.']);
    this.docker(['import', tar, tag]);
  }

  /** The files a dynamically linked executable needs (ldd), with itself at `at`. */
  static withLibraries(exe: string, at: string): [string, string][] {
    const out: [string, string][] = [[at, exe]];
    for (const line of execFileSync('ldd', [exe], { encoding: 'utf8' }).split('\n')) {
      const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
      if (m) out.push([m[1], fs.realpathSync(m[1])]);
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      try {
        const ids = this.docker(['ps', '-aq'], { allowFail: true }).stdout.split('\n').filter(Boolean);
        if (ids.length) this.docker(['rm', '-f', ...ids], { allowFail: true });
      } catch {
        /* dockerd is going anyway */
      }
      const exited = new Promise((r) => this.child!.once('close', r));
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child!.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    }
    // overlay and shm mounts dockerd did not take down (deepest first), then the files
    const mounts = fs
      .readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((m) => m && m.startsWith(this.dir + '/'))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    fs.rmSync(this.dir, { recursive: true, force: true });
    // the "docker" cgroup parents dockerd made (its containers' own are removed with them)
    for (const p of dockerCgroupParents()) {
      if (this.parentsBefore.has(p) || !fs.existsSync(p)) continue;
      try {
        for (const e of fs.readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) fs.rmdirSync(path.join(p, e.name));
        fs.rmdirSync(p);
      } catch {
        /* still in use: left for the next run to find */
      }
    }
  }
}
