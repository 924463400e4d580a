// mmapsnoop: one line per mmap() call, with decoded protection and flags and the mapped file.
import { addCommonOptions, addDuration, CommonOptions } from '../cli/options';
import { ktimeToDate, formatEventTime } from '../engine/clock';
import { runTrace } from '../engine/session';
import { StackReader } from '../engine/stacks';
import { struct } from '../engine/struct';
import { printJson } from '../render/json';
import { Column, formatHeader, formatRow } from '../render/table';
import { formatFrame, Symbolizer } from '../symbols/symbolizer';
import { addUnwindOptions, describeUnwind, DwarfStacks, UnwindOptions, USTACK_DWARF } from '../unwind/dwarf-stacks';
import { examples, Tool } from './tool';

const MMAP_EVENT = struct([
  ['ts', 'u64'],
  ['addr', 'addr'],
  ['len', 'u64'],
  ['off', 'u64'],
  ['ret', 's64'],
  ['pid', 'u32'],
  ['tid', 'u32'],
  ['prot', 'u32'],
  ['flags', 'u32'],
  ['fd', 's32'],
  ['ustack', 's32'],
  ['comm', 'char[16]'],
  ['file', 'char[64]'],
] as const);

const PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
const MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20;

/** "RW-" as the chapter shows PROT. */
export function decodeProt(prot: number): string {
  return (prot & PROT_READ ? 'R' : '-') + (prot & PROT_WRITE ? 'W' : '-') + (prot & PROT_EXEC ? 'E' : '-');
}

/** "-PF-" as the chapter shows MAP: Shared, Private, Fixed, Anonymous. */
export function decodeMapFlags(flags: number): string {
  return (
    (flags & MAP_SHARED ? 'S' : '-') +
    (flags & MAP_PRIVATE ? 'P' : '-') +
    (flags & MAP_FIXED ? 'F' : '-') +
    (flags & MAP_ANONYMOUS ? 'A' : '-')
  );
}

interface MmapOptions extends CommonOptions, UnwindOptions {
  userStacks?: boolean;
}

export const tool: Tool = {
  name: 'mmapsnoop',
  summary: 'one line per mmap(): protection, flags, offset, size and file',
  configure(cmd) {
    addDuration(addCommonOptions(cmd, ['pid', 'command', 'timestamp', 'json']));
    cmd.option('-U, --user-stacks', 'print the user stack of each mmap() (DWARF-unwound while the rate allows: --unwind)');
    addUnwindOptions(cmd, 'auto');
    cmd.addHelpText(
      'after',
      '\nPROT: R read, W write, E exec. MAP: S shared, P private, F fixed, A anonymous.\n' +
        'The file is resolved in the kernel from the descriptor; anonymous maps show [anon].\n' +
        'With -v (and in JSON) the returned address is shown too.\n' +
        examples([
          ['memscope mmapsnoop', 'all processes, until Ctrl-C'],
          ['memscope mmapsnoop -T -p 181', 'PID 181, with a time column'],
          ['memscope mmapsnoop -U -c ./myprog', "./myprog's mmaps with the user stack of each"],
          ['memscope mmapsnoop --json 10', 'JSON lines for 10 seconds'],
        ]),
    );
  },
  async run(opts: MmapOptions, [duration]: [number?]) {
    const columns: Column[] = [
      ...(opts.timestamp ? [{ header: 'TIME', width: 12 }] : []),
      { header: 'PID', width: 7 },
      { header: 'COMM', width: 15 },
      { header: 'PROT', width: 4 },
      { header: 'MAP', width: 5 },
      { header: 'OFFS(KB)', width: 8 },
      { header: 'SIZE(KB)', width: 8 },
      ...(opts.verbose ? [{ header: 'ADDR', width: 16 }] : []),
      { header: 'FILE', width: 0 },
    ];
    const symbolizer = new Symbolizer();
    let stacks: StackReader | undefined;
    let count = 0;
    const dwarf = new DwarfStacks(symbolizer);
    const unwinding = !!opts.userStacks && opts.unwind !== 'fp';
    if (opts.verbose && opts.userStacks) process.stderr.write(`memscope: ${describeUnwind(opts)}\n`);
    // events whose stack is a DWARF sample wait (in order) for it: the two ring buffers are
    // delivered separately, so the sample (taken at entry) may come just after the event
    const queue: { e: ReturnType<typeof MMAP_EVENT.decode>; at: number }[] = [];
    const sampled = new Map<number, string[][]>();
    dwarf.perEvent = (tid, frames) => {
      const list = sampled.get(tid) ?? [];
      list.push(frames.map((f) => formatFrame(f)));
      sampled.set(tid, list);
      flush(false);
    };
    let flushTimer: NodeJS.Timeout | undefined;
    const flush = (force: boolean): void => {
      while (queue.length) {
        const { e, at } = queue[0];
        let ustack: string[] | undefined;
        if (opts.userStacks && e.ustack === USTACK_DWARF) {
          ustack = sampled.get(e.tid)?.shift();
          if (!ustack) {
            if (!force && performance.now() - at < 250) {
              flushTimer ??= setTimeout(() => {
                flushTimer = undefined;
                flush(false);
              }, 20);
              return;
            }
            ustack = ['[unwind stopped: no stack sample arrived]'];
          }
        } else if (opts.userStacks) {
          ustack = symbolizer.user(e.pid, stacks!.userStack(e.ustack)).map((f) => formatFrame(f));
        }
        queue.shift();
        emit(e, ustack);
      }
    };
    await runTrace({
      bpf: 'mmapsnoop',
      opts,
      duration,
      symbolizer,
      banner: 'Tracing mmap() calls',
      consts: { want_ustack: !!opts.userStacks, ...dwarf.consts(unwinding ? opts : { ...opts, unwind: 'fp' }) },
      configure: (obj) => unwinding && DwarfStacks.configure(obj, opts),
      groups: [
        {
          what: 'mmap() calls',
          sources: [
            {
              name: 'tracepoints syscalls/sys_enter_mmap, sys_exit_mmap',
              programs: ['mmap_enter_tp', 'mmap_exit_tp'],
              requires: [{ tracepoint: 'syscalls/sys_enter_mmap' }, { tracepoint: 'syscalls/sys_exit_mmap' }],
            },
            { name: 'tp_btf sys_enter/sys_exit (filtered to mmap)', programs: ['mmap_enter_btf', 'mmap_exit_btf'], requires: [{ btf: 'sys_enter' }, { btf: 'sys_exit' }] },
          ],
        },
      ],
      setup(obj) {
        stacks = new StackReader(obj);
        if (!opts.json) process.stdout.write(formatHeader(columns) + '\n');
        if (unwinding) dwarf.listen(obj);
        obj.onRecords('events', (records) => {
          for (const r of records) queue.push({ e: MMAP_EVENT.decode(r), at: performance.now() });
          flush(false);
        });
      },
      async finish(obj) {
        if (unwinding) await dwarf.drain(obj);
        clearTimeout(flushTimer);
        flush(true);
        if (opts.verbose && unwinding) for (const l of dwarf.summary(obj, opts)) process.stderr.write(`memscope: ${l}\n`);
        if (!opts.json) process.stderr.write(`${count} mmap() calls traced\n`);
      },
    });

    function emit(e: ReturnType<typeof MMAP_EVENT.decode>, ustack: string[] | undefined): void {
      count++;
      const file = e.flags & MAP_ANONYMOUS ? '[anon]' : e.file || (e.fd >= 0 ? `[fd ${e.fd}]` : '');
      const failed = e.ret < 0 && e.ret > -4096;
      if (opts.json) {
        printJson({
          time: ktimeToDate(e.ts).toISOString(),
          pid: e.pid,
          tid: e.tid,
          comm: e.comm,
          prot: decodeProt(e.prot),
          map: decodeMapFlags(e.flags),
          flags: e.flags,
          offset: e.off,
          size: e.len,
          fd: e.fd,
          file,
          addr: failed ? null : `0x${BigInt.asUintN(64, BigInt(e.ret)).toString(16)}`,
          ...(failed ? { error: -e.ret } : {}),
          ...(ustack ? { ustack } : {}),
        });
        return;
      }
      const addr = failed ? `ERR ${-e.ret}` : BigInt.asUintN(64, BigInt(e.ret)).toString(16);
      const row = [
        ...(opts.timestamp ? [formatEventTime(ktimeToDate(e.ts))] : []),
        e.pid,
        e.comm,
        decodeProt(e.prot),
        decodeMapFlags(e.flags),
        Math.floor(e.off / 1024),
        Math.ceil(e.len / 1024),
        ...(opts.verbose ? [addr] : []),
        file,
      ];
      process.stdout.write(formatRow(columns, row) + '\n');
      if (ustack) process.stdout.write(ustack.map((f) => `        ${f}\n`).join('') + '\n');
    }
  },
};
