// SPDX-License-Identifier: Apache-2.0
// swap: swap devices as swapon(1) lists them: NAME TYPE SIZE USED PRIO.
import { addCommonOptions, CommonOptions } from './options';
import { readSwaps, SwapDevice } from '../procfs/swaps';
import { printJson } from '../render/json';
import { formatTable } from '../render/table';
import { utilLinuxHuman } from '../render/units';
import { examples, Tool } from './tool';

export function formatSwaps(devs: SwapDevice[], opts: { bytes?: boolean } = {}): string[] {
  if (devs.length === 0) return ['no swap configured'];
  const size = (kb: number) => (opts.bytes ? String(kb * 1024) : utilLinuxHuman(kb * 1024));
  return formatTable(
    ['NAME', 'TYPE', 'SIZE', 'USED', 'PRIO'],
    devs.map((d) => [d.name, d.type, size(d.sizeKb), size(d.usedKb), d.priority]),
    [false, false, true, true, true],
  );
}

export const tool: Tool<CommonOptions & { bytes?: boolean }> = {
  name: 'swap',
  summary: 'swap devices with type, size, used and priority (swapon)',
  configure(cmd) {
    cmd.option('-b, --bytes', 'print sizes in bytes');
    addCommonOptions(cmd, ['json']);
    cmd.addHelpText(
      'after',
      '\nActive swapping shows in the si/so columns of `memscope vmstat 1`; who swaps in: `memscope swapin`.\n' +
        examples([
          ['memscope swap', 'the swap devices, or "no swap configured"'],
          ['memscope swap --json', 'one JSON object per device (sizes in kB)'],
        ]),
    );
  },
  async run(opts: CommonOptions & { bytes?: boolean }) {
    const devs = readSwaps();
    if (opts.json) {
      for (const d of devs) printJson(d);
      return;
    }
    process.stdout.write(formatSwaps(devs, opts).join('\n') + '\n');
  },
};
