// brkstack: brk() calls (heap growth) counted by user stack and process.
import { addCommonOptions, addDuration, CommonOptions } from '../cli/options';
import { runTrace } from '../engine/session';
import { stackCounts } from '../engine/stack-counts';
import { Symbolizer } from '../symbols/symbolizer';
import { reportStacks } from './_stack-report';
import { examples, Tool } from './tool';

export const tool: Tool = {
  name: 'brkstack',
  summary: 'brk() heap growth counted by user stack and process',
  configure(cmd) {
    addDuration(addCommonOptions(cmd, ['pid', 'command', 'json', 'folded', 'svg']));
    cmd.addHelpText(
      'after',
      '\nEvery brk() call is counted (none are sampled). Stacks through code without frame pointers\n' +
        "(Debian's libc among it) stop early; build with -fno-omit-frame-pointer for full stacks.\n" +
        examples([
          ['memscope brkstack', 'all processes, until Ctrl-C'],
          ['memscope brkstack -p 181 10', 'PID 181 for 10 seconds'],
          ['memscope brkstack -c ./myprog', 'start ./myprog and trace it from its start'],
          ['memscope brkstack --svg brk.svg 30', 'a brk flame graph of 30 seconds'],
        ]),
    );
  },
  async run(opts: CommonOptions, [duration]: [number?]) {
    const symbolizer = new Symbolizer();
    await runTrace({
      bpf: 'brkstack',
      opts,
      duration,
      symbolizer,
      banner: 'Tracing brk() calls by user stack',
      groups: [
        {
          what: 'brk() calls',
          sources: [
            { name: 'tracepoint syscalls/sys_enter_brk', programs: ['brk_tracepoint'], requires: [{ tracepoint: 'syscalls/sys_enter_brk' }] },
            { name: 'tp_btf sys_enter (filtered to brk)', programs: ['brk_sys_enter'], requires: [{ btf: 'sys_enter' }] },
          ],
        },
      ],
      finish(obj) {
        const stacks = stackCounts(obj, 'brk_counts', symbolizer).read();
        reportStacks(stacks, opts, { title: 'brk() Flame Graph', unit: 'brk calls' });
      },
    });
  },
};
