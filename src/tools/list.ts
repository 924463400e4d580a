// SPDX-License-Identifier: Apache-2.0
// list: the probes this kernel offers to count, stackcount and trace (bpftrace -l): classic
// tracepoints from tracefs, and perf software events. With -v, each tracepoint's fields.
import type { CommonOptions } from './options';
import { addCommonOptions } from './options';
import { allTracepoints, SOFTWARE_EVENT_NAMES, SOFTWARE_EVENTS } from '../engine/probes';
import { readFormat } from '../procfs/tracefs-format';
import { printJson } from '../render/json';
import { examples, Tool } from './tool';

function matcher(pattern?: string): (full: string) => boolean {
  if (!pattern) return () => true;
  const p = pattern.replace(/^t:/, 'tracepoint:').replace(/^s:/, 'software:');
  if (!/[*?]/.test(p)) return (full) => full.includes(p);
  const re = new RegExp('^' + p.replace(/[.+^${}()|\\[\]]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  // "vmscan:*" matches without the "tracepoint:" prefix too
  return (full) => re.test(full) || re.test(full.replace(/^[a-z]+:/, ''));
}

export const tool: Tool<CommonOptions, [string?]> = {
  name: 'list',
  summary: 'list the tracepoints and software events memscope can count, stackcount and trace',
  configure(cmd) {
    cmd.argument('[pattern]', "substring or wildcard, e.g. 'vmscan', 't:compaction:*', 'software:*'");
    addCommonOptions(cmd, ['json']);
    cmd.addHelpText(
      'after',
      '\nWith -v, each tracepoint\'s fields (the names trace prints and filters on).\n' +
        examples([
          ['memscope list vmscan', 'tracepoints whose name contains vmscan'],
          ["memscope list -v 't:compaction:mm_compaction_begin'", 'with its fields'],
          ["memscope list 'software:*'", 'perf software events'],
        ]),
    );
  },
  async run(opts: CommonOptions, [pattern]: [string?]) {
    const match = matcher(pattern);
    const out: string[] = [];
    for (const [cat, name] of allTracepoints()) {
      const full = `tracepoint:${cat}:${name}`;
      if (!match(full)) continue;
      const fields = opts.verbose
        ? readFormat(cat, name).fields.filter((f) => !f.common).map((f) => ({ name: f.name, type: f.type, size: f.size }))
        : undefined;
      if (opts.json) printJson({ probe: full, ...(fields ? { fields } : {}) });
      else {
        out.push(full);
        for (const f of fields ?? []) out.push(`    ${f.type} ${f.name}`);
      }
    }
    for (const ev of SOFTWARE_EVENT_NAMES) {
      const full = `software:${ev}:`;
      if (!match(full) && !match(`software:${ev}`)) continue;
      if (opts.json) printJson({ probe: full, defaultPeriod: SOFTWARE_EVENTS[ev][1] });
      else out.push(full);
    }
    if (out.length) process.stdout.write(out.join('\n') + '\n');
  },
};
