// SPDX-License-Identifier: Apache-2.0
// Running memscope and workloads from tests, with timeouts so nothing can hang the suite.
import { spawn, ChildProcess, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from './workloads';

export const MEMSCOPE = path.join(ROOT, 'bin', 'memscope');

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs memscope to completion (it must stop by itself: give a duration or a target). */
export function memscope(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Result {
  const r = spawnSync(MEMSCOPE, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env, input: opts.input ?? '' });
  return { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A running child whose output is collected; `waitFor` resolves when a text appears. */
export class Running {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Result>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr })),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  async waitFor(text: string | RegExp, timeoutMs = 120_000): Promise<void> {
    const start = Date.now();
    const seen = () => (typeof text === 'string' ? (this.stdout + this.stderr).includes(text) : text.test(this.stdout + this.stderr));
    while (!seen()) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`exited before printing ${text}: stdout=${this.stdout} stderr=${this.stderr}`);
      }
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${text}: stdout=${this.stdout} stderr=${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  send(line: string): void {
    this.child.stdin?.write(line + '\n');
  }

  /** SIGINT (like Ctrl-C), then the result; SIGKILL only as a safety net against a hang (generous:
   *  a tool naming its stacks at exit on a loaded 2-core machine must not be cut short) */
  async interrupt(timeoutMs = 120_000): Promise<Result> {
    this.child.kill('SIGINT');
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

const children = new Set<Running>();
// a failed assertion must not leave workloads or tracers running behind the suite
process.on('exit', () => children.forEach((c) => c.kill()));

export function start(cmd: string, args: string[] = [], env?: NodeJS.ProcessEnv): Running {
  const r = new Running(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env && { ...process.env, ...env } }));
  children.add(r);
  r.exited.then(() => children.delete(r));
  return r;
}

/** Starts memscope and waits until it is attached (its "Hit Ctrl-C" banner). */
export async function startMemscope(args: string[]): Promise<Running> {
  const r = start(MEMSCOPE, args);
  await r.waitFor('Hit Ctrl-C');
  return r;
}

/** JSON lines of an output. */
export function jsonLines(text: string): any[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

/**
 * The shape of most tool tests: a gated workload (prints "ready", waits for a line, acts, prints
 * "done" and exits) traced by memscope, optionally beside a bystander running the same program
 * that must not show up (the -p proof). memscope must stop by itself when the target exits.
 */
export async function traceGated(
  bin: string,
  args: string[],
  memscopeArgs: (pid: number) => string[],
  opts: { bystander?: string[] } = {},
): Promise<{ result: Result; target: Running }> {
  const target = start(bin, args);
  const other = opts.bystander ? start(bin, opts.bystander) : undefined;
  try {
    await target.waitFor('ready');
    await other?.waitFor('ready');
    const ms = await startMemscope(memscopeArgs(target.pid));
    target.send('go');
    other?.send('go');
    await target.waitFor('done');
    await other?.waitFor('done');
    return { result: await ms.exited, target };
  } finally {
    target.kill();
    other?.kill();
  }
}
