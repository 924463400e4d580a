// SPDX-License-Identifier: Apache-2.0
// Hardware perf events (the CPU's performance-monitoring unit) by perf's and bpftrace's names, and
// the one message for machines without a PMU (most VMs: "PMU not available due to virtualization").
import * as fs from 'node:fs';
import { PERF_TYPE_HARDWARE, PERF_TYPE_HW_CACHE } from './counters';
import { readKmsg } from '../procfs/kmsg';

/** perf_event_attr config of a cache event: (cache) | (op << 8) | (result << 16). */
const cache = (c: number, op: number, miss: boolean) => c | (op << 8) | ((miss ? 1 : 0) << 16);
const L1D = 0;
const LL = 2;
const READ = 0;
const WRITE = 1;

/** name → [perf type, config, default sample period] (periods as bpftrace's defaults, 1M). */
export const HARDWARE_EVENTS: Record<string, [number, number, number]> = {
  'cpu-cycles': [PERF_TYPE_HARDWARE, 0, 1_000_000],
  cycles: [PERF_TYPE_HARDWARE, 0, 1_000_000],
  instructions: [PERF_TYPE_HARDWARE, 1, 1_000_000],
  'cache-references': [PERF_TYPE_HARDWARE, 2, 1_000_000],
  'cache-misses': [PERF_TYPE_HARDWARE, 3, 1_000_000],
  'branch-instructions': [PERF_TYPE_HARDWARE, 4, 100_000],
  branches: [PERF_TYPE_HARDWARE, 4, 100_000],
  'branch-misses': [PERF_TYPE_HARDWARE, 5, 100_000],
  'bus-cycles': [PERF_TYPE_HARDWARE, 6, 100_000],
  'ref-cycles': [PERF_TYPE_HARDWARE, 9, 1_000_000],
  'L1-dcache-loads': [PERF_TYPE_HW_CACHE, cache(L1D, READ, false), 1_000_000],
  'L1-dcache-load-misses': [PERF_TYPE_HW_CACHE, cache(L1D, READ, true), 100_000],
  'L1-dcache-stores': [PERF_TYPE_HW_CACHE, cache(L1D, WRITE, false), 1_000_000],
  'LLC-loads': [PERF_TYPE_HW_CACHE, cache(LL, READ, false), 100_000],
  'LLC-load-misses': [PERF_TYPE_HW_CACHE, cache(LL, READ, true), 10_000],
  'LLC-stores': [PERF_TYPE_HW_CACHE, cache(LL, WRITE, false), 100_000],
  'LLC-store-misses': [PERF_TYPE_HW_CACHE, cache(LL, WRITE, true), 10_000],
};

export const HARDWARE_EVENT_NAMES = Object.keys(HARDWARE_EVENTS).filter((n) => n !== 'cycles' && n !== 'branches');

/** Whether the kernel registered a CPU PMU (perf's "cpu" event source). */
export function hasPmu(): boolean {
  return fs.existsSync('/sys/bus/event_source/devices/cpu') || fs.existsSync('/sys/bus/event_source/devices/cpu_core');
}

/** What the kernel said at boot about its PMU, if it said anything. */
function bootNote(): string {
  try {
    const l = readKmsg().find((x) => /Performance Events: .*(PMU not available|no PMU)/i.test(x.text));
    return l ? ` (the kernel said at boot: "${l.text.replace(/^Performance Events: /, '')}")` : '';
  } catch {
    return '';
  }
}

/** One line for a hardware event this machine cannot count; `instead` names what can be used. */
export function noPmuMessage(what: string, instead: string): string {
  return `${what} needs a hardware PMU and this machine has none${bootNote()}; ${instead}`;
}
