// SPDX-License-Identifier: Apache-2.0
// The agent's settings: command-line options over a JSON config file (--config), re-read on
// SIGHUP. Everything that sizes memory is here, with bounds, so the agent's footprint is known.
import * as fs from 'node:fs';
import { MemscopeError, UsageError } from '../core/errors';

export interface AgentConfig {
  /** ADDR:PORT; loopback unless asked otherwise */
  listen: string;
  /** a file holding the bearer token HTTP clients must send */
  tokenFile?: string;
  /** Docker's data root, where container names are read (config.v2.json); dockerd --data-root */
  dockerRoot?: string;
  /** seconds between reads of the kernel's stack maps (fault and growth stacks) */
  collectInterval: number;
  /** processes named (by comm) in metrics that document a comm label; the rest are summed */
  topComms: number;
  /** memory cgroups counted in the kernel maps */
  maxCgroups: number;
  /** (process, stack) pairs of page faults the kernel keeps between two collections, host-wide
   * (fault_counts and its stacks); a storm of new processes beyond it drops faults (counted) */
  maxFaultStacks: number;
  /** faults a second the host may take (measured every 250 ms: Collectors FAULT_RATE_MS) with each
   * walked for its stack; above it, one in faultStackSampleEvery on each CPU is walked, counted with
   * the weight of those it stands for (bpf/faults.bpf.c fault_period_weights, the page-faults perf
   * event's sample period): the per-cgroup counts stay exact, the stacks' are estimates. While a
   * fault trace is open every fault is walked. */
  faultStackRate: number;
  /** above faultStackRate, one fault in this many is walked (the perf event's sample period) */
  faultStackSampleEvery: number;
  /** distinct brk/mmap growth stacks the kernel keeps between two collections, host-wide (walked
   * stacks, one per process and stack, allocated as stored); a stack past it is counted under
   * [missed user stack: stack map full] and in memscope_stacks_lost_total */
  growthStackStorage: number;
  /** processes whose fault and growth stacks are kept while they live */
  maxProcesses: number;
  /** distinct stacks kept per process */
  maxStacksPerProcess: number;
  /** OOM post-mortems kept (oldest dropped first) */
  maxOoms: number;
  /** longest profile an HTTP client may ask for */
  maxProfileSeconds: number;
}

export const DEFAULTS: AgentConfig = {
  listen: '127.0.0.1:9477',
  collectInterval: 2,
  topComms: 10,
  maxCgroups: 4096,
  maxFaultStacks: 65536,
  faultStackRate: 20000,
  faultStackSampleEvery: 16,
  // as many as vmgrowth's count maps hold entries (brk_grow, mmap_grow: 10,240 each)
  growthStackStorage: 10240,
  maxProcesses: 1024,
  maxStacksPerProcess: 256,
  maxOoms: 64,
  maxProfileSeconds: 300,
};

const LIMITS: Record<string, [number, number]> = {
  collectInterval: [1, 60],
  topComms: [0, 1000],
  maxCgroups: [16, 1 << 20],
  maxFaultStacks: [256, 1 << 20],
  faultStackRate: [1, 10_000_000],
  faultStackSampleEvery: [2, 4096],
  growthStackStorage: [16, 1 << 20],
  maxProcesses: [16, 1 << 20],
  maxStacksPerProcess: [1, 1 << 16],
  maxOoms: [1, 10000],
  maxProfileSeconds: [1, 3600],
};

const STRINGS = ['tokenFile', 'dockerRoot'];

/** Reads and checks a config file: a JSON object with any of AgentConfig's keys. */
export function readConfigFile(file: string): Partial<AgentConfig> {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MemscopeError(`cannot read config ${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new MemscopeError(`config ${file}: expected a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (!(k in DEFAULTS) && !STRINGS.includes(k)) throw new MemscopeError(`config ${file}: unknown setting '${k}'`);
    if (k === 'listen' || STRINGS.includes(k)) {
      if (typeof val !== 'string') throw new MemscopeError(`config ${file}: '${k}' must be a string`);
    } else if (typeof val !== 'number' || !Number.isInteger(val) || val < LIMITS[k][0] || val > LIMITS[k][1]) {
      throw new MemscopeError(`config ${file}: '${k}' must be an integer from ${LIMITS[k][0]} to ${LIMITS[k][1]}`);
    }
    out[k] = val;
  }
  return out as Partial<AgentConfig>;
}

export function resolveConfig(cli: { listen?: string; config?: string; tokenFile?: string }): AgentConfig {
  const file = cli.config ? readConfigFile(cli.config) : {};
  const c: AgentConfig = { ...DEFAULTS, ...file };
  if (cli.listen !== undefined) c.listen = cli.listen;
  if (cli.tokenFile !== undefined) c.tokenFile = cli.tokenFile;
  parseListen(c.listen);
  return c;
}

export interface ListenAddress {
  host: string;
  port: number;
  loopback: boolean;
}

/** "ADDR:PORT" or "[v6]:PORT". */
export function parseListen(s: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new UsageError(`--listen: expected ADDR:PORT (e.g. 127.0.0.1:9477), got '${s}'`);
  const host = m[1] ?? m[2];
  const loopback = host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1';
  return { host, port, loopback };
}
