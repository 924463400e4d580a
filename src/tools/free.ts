// SPDX-License-Identifier: Apache-2.0
// free: free(1)'s table from /proc/meminfo, including "available".
import { Option } from 'commander';
import { addCommonOptions, CommonOptions } from './options';
import { FreeFigures, freeFigures, Meminfo, readMeminfo } from '../procfs/meminfo';
import { printJson } from '../render/json';
import { freeHuman } from '../render/units';
import { examples, Tool } from './tool';

export type FreeUnit = 'k' | 'm' | 'g' | 'h';

export function formatFree(f: FreeFigures, opts: { wide?: boolean; unit?: FreeUnit } = {}): string[] {
  const unit = opts.unit ?? 'k';
  const fmt = (kb: number) => (unit === 'h' ? freeHuman(kb) : unit === 'm' ? String(Math.floor(kb / 1024)) : unit === 'g' ? String(Math.floor(kb / 1024 / 1024)) : String(kb));
  const heads = opts.wide
    ? ['total', 'used', 'free', 'shared', 'buffers', 'cache', 'available']
    : ['total', 'used', 'free', 'shared', 'buff/cache', 'available'];
  const mem = opts.wide
    ? [f.total, f.used, f.free, f.shared, f.buffers, f.cache, f.available]
    : [f.total, f.used, f.free, f.shared, f.buffCache, f.available];
  const row = (label: string, vals: number[]) => label.padEnd(8) + vals.map((v) => fmt(v).padStart(12)).join('');
  return [' '.repeat(8) + heads.map((h) => h.padStart(12)).join(''), row('Mem:', mem), row('Swap:', [f.swapTotal, f.swapUsed, f.swapFree])];
}

export function freeJson(f: FreeFigures, m: Meminfo): Record<string, number> {
  return {
    totalKb: f.total,
    usedKb: f.used,
    freeKb: f.free,
    sharedKb: f.shared,
    buffersKb: f.buffers,
    cacheKb: f.cache,
    buffCacheKb: f.buffCache,
    availableKb: f.available,
    swapTotalKb: f.swapTotal,
    swapUsedKb: f.swapUsed,
    swapFreeKb: f.swapFree,
    dirtyKb: m.Dirty ?? 0,
    anonKb: m.AnonPages ?? 0,
    slabKb: m.Slab ?? 0,
  };
}

export const tool: Tool<CommonOptions & { wide?: boolean; mebi?: boolean; gibi?: boolean; human?: boolean }> = {
  name: 'free',
  summary: 'free and available memory, buffers and cache system-wide (free)',
  configure(cmd) {
    cmd.option('-w, --wide', 'buffers and cache in separate columns');
    cmd.addOption(new Option('-k, --kibi', 'sizes in KiB (the default)').conflicts(['mebi', 'gibi', 'human']));
    cmd.addOption(new Option('-m, --mebi', 'sizes in MiB').conflicts(['gibi', 'human']));
    cmd.addOption(new Option('-g, --gibi', 'sizes in GiB').conflicts(['human']));
    cmd.option('-h, --human', 'sizes with units (Ki, Mi, Gi)');
    cmd.helpOption('--help', 'show this help');
    addCommonOptions(cmd, ['json']);
    cmd.addHelpText(
      'after',
      '\n"available" estimates what can be allocated without swapping (free + reclaimable cache):\n' +
        'low "free" alone is normal. All numbers come from /proc/meminfo.\n' +
        examples([
          ['memscope free -m', 'in MiB'],
          ['memscope free -w -h', 'buffers and cache apart, human units'],
          ['memscope free --json', 'one JSON object (kB)'],
        ]),
    );
  },
  async run(opts: CommonOptions & { wide?: boolean; mebi?: boolean; gibi?: boolean; human?: boolean }) {
    const m = readMeminfo();
    const f = freeFigures(m);
    if (opts.json) {
      printJson(freeJson(f, m));
      return;
    }
    const unit: FreeUnit = opts.human ? 'h' : opts.gibi ? 'g' : opts.mebi ? 'm' : 'k';
    process.stdout.write(formatFree(f, { wide: opts.wide, unit }).join('\n') + '\n');
  },
};
