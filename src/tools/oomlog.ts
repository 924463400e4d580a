// SPDX-License-Identifier: Apache-2.0
// oomlog: OOM kills found in the kernel log (dmesg's view, parsed): who invoked the OOM killer,
// the constraint and cgroup, the victim with its sizes, and the Mem-Info summary.
import * as fs from 'node:fs';
import { addCommonOptions, CommonOptions } from './options';
import { MemscopeError } from '../core/errors';
import { LogLine, parseKernelLog, readKmsg } from '../procfs/kmsg';
import { parseOomEvents } from '../procfs/oom-report';
import { formatOomEvent } from '../render/oom-report';
import { uptimeSeconds } from '../procfs/vmstat';
import { printJson } from '../render/json';
import { examples, Tool } from './tool';
import { escapeText } from '../core/escape';
import { cgroupPathFilter } from '../containers/filter';

export const tool: Tool<CommonOptions & { file?: string }> = {
  name: 'oomlog',
  summary: 'OOM kills in the kernel log: invoker, constraint, cgroup, victim and sizes (dmesg)',
  configure(cmd) {
    cmd.option('-f, --file <FILE>', "read a saved kernel log (dmesg, journalctl -k or /dev/kmsg text; '-' for stdin) instead of /dev/kmsg");
    addCommonOptions(cmd, ['json', 'cgroup']);
    cmd.addHelpText(
      'after',
      '\nReads every record still in the kernel log buffer without waiting for new ones.\n' +
        examples([
          ['memscope oomlog', 'OOM kills since boot (as far as the log buffer reaches)'],
          ['memscope oomlog -f /var/log/kern.log', 'from a saved log'],
          ['dmesg | memscope oomlog -f -', 'from stdin'],
          ['memscope oomlog --json', 'one JSON object per OOM kill'],
          ['memscope oomlog --container web', "kills of web's processes (the victim's memory cgroup, as the log names it)"],
        ]),
    );
  },
  async run(opts: CommonOptions & { file?: string }) {
    // the victim's memory cgroup as the report names it; the cgroup may be gone (or on another machine)
    const keep = cgroupPathFilter(opts);
    let lines: LogLine[];
    let live = false;
    if (opts.file !== undefined) {
      let text: string;
      try {
        text = fs.readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
      } catch (e) {
        throw new MemscopeError(`cannot read ${opts.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      lines = parseKernelLog(text);
    } else {
      lines = readKmsg();
      live = true;
    }
    const events = parseOomEvents(lines).filter((e) => !keep || keep(e.taskCgroup ?? e.cgroup));
    if (live) {
      const up = uptimeSeconds();
      const now = Date.now();
      for (const e of events) {
        if (e.time === undefined) continue;
        e.ageSeconds = Math.max(0, Math.round((up - e.time) * 10) / 10);
        e.wallclock = new Date(now - e.ageSeconds * 1000).toISOString();
      }
    }
    if (opts.json) {
      for (const e of events) printJson(e);
      return;
    }
    if (events.length === 0) {
      process.stdout.write(`No OOM kills in ${opts.file !== undefined ? (opts.file === '-' ? 'the input' : escapeText(opts.file)) : 'the kernel log'}.\n`);
      return;
    }
    const out: string[] = [];
    for (const e of events) out.push(...formatOomEvent(e).map(escapeText), '');
    out.push(`${events.length} OOM kill${events.length === 1 ? '' : 's'} found.`);
    process.stdout.write(out.join('\n') + '\n');
  },
};
