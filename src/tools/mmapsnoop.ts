// SPDX-License-Identifier: Apache-2.0
// mmapsnoop: one line per mmap() call, with decoded protection and flags and the mapped file's
// full path, and one per munmap() call.
import { addCommonOptions, addDuration, addStackStorage, CommonOptions } from './options';
import { ktimeToDate, formatEventTime } from '../engine/clock';
import { runTrace } from '../engine/session';
import { StackReader } from '../engine/stacks';
import { struct } from '../engine/struct';
import { printJson } from '../render/json';
import { Column, formatHeader, formatRow } from '../render/table';
import { Symbolizer } from '../symbols/symbolizer';
import { accountEventStacks, addUnwindOptions, describeUnwind, DwarfStacks, reportEventStacks, UnwindOptions } from '../unwind/dwarf-stacks';
import { EventStacks } from '../unwind/event-stacks';
import { nameStackId } from '../engine/stack-counts';
import { ContainerColumn, CONTAINER_WIDTH } from './_container-column';
import { examples, Tool } from './tool';
import { reportStacksLost } from './_stack-report';
import { escapeText } from '../core/escape';
import { PATH_LOST, PathNotes } from './mmapsnoop/paths';

export const MMAP_EVENT = struct([
  ['ts', 'u64'],
  ['addr', 'addr'],
  ['len', 'u64'],
  ['off', 'u64'],
  ['ret', 's64'],
  ['path_seq', 'u64'],
  ['pid', 'u32'],
  ['tid', 'u32'],
  ['prot', 'u32'],
  ['flags', 'u32'],
  ['fd', 's32'],
  ['ustack', 's32'],
  ['kind', 'u32'],
  ['seq', 'u32'],
  ['comm', 'char[16]'],
  ['file', 'char[64]'],
] as const, { c: 'mmap_event', bpf: 'mmapsnoop' });

const KIND_MUNMAP = 1;

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
  stackStorage: number;
}

export const tool: Tool<MmapOptions, [number?]> = {
  name: 'mmapsnoop',
  summary: 'one line per mmap() (protection, flags, offset, size, file path) and munmap()',
  configure(cmd) {
    addDuration(addCommonOptions(cmd, ['pid', 'command', 'timestamp', 'json']));
    cmd.option('-U, --user-stacks', 'print the user stack of each mmap() (DWARF-unwound while the rate allows: --unwind)');
    addUnwindOptions(cmd, 'auto');
    addStackStorage(cmd);
    cmd.addHelpText(
      'after',
      '\nPROT: R read, W write, E exec. MAP: S shared, P private, F fixed, A anonymous.\n' +
        'The file is resolved in the kernel from the descriptor, its full path walked there; anonymous\n' +
        'maps show [anon]; a file whose path was lost on the way (ring full) shows [path lost] and its\n' +
        'own name. munmap() calls show MAP "unmap", their size, and the address as FILE.\n' +
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
      { header: 'CONTAINER', width: CONTAINER_WIDTH },
      { header: 'PROT', width: 4 },
      { header: 'MAP', width: 5 },
      { header: 'OFFS(KB)', width: 8 },
      { header: 'SIZE(KB)', width: 8 },
      ...(opts.verbose ? [{ header: 'ADDR', width: 16 }] : []),
      { header: 'FILE', width: 0 },
    ];
    const symbolizer = new Symbolizer();
    const containers = new ContainerColumn();
    let stacks: StackReader | undefined;
    let count = 0;
    let unmaps = 0;
    const paths = new PathNotes();
    const dwarf = new DwarfStacks(symbolizer);
    const unwinding = !!opts.userStacks && opts.unwind !== 'fp';
    if (opts.verbose && opts.userStacks) process.stderr.write(`memscope: ${describeUnwind(opts)}\n`);
    const events = new EventStacks<ReturnType<typeof MMAP_EVENT.decode>>(
      dwarf,
      (pid, ustack) => nameStackId(symbolizer, stacks!, pid, ustack),
      emit,
      undefined,
      // frame-pointer stacks are walked stacks, their mappings noted on the sample ring first
      !!opts.userStacks,
    );
    await runTrace({
      bpf: 'mmapsnoop',
      opts,
      duration,
      symbolizer,
      banner: 'Tracing mmap() calls',
      consts: { want_ustack: !!opts.userStacks, ...dwarf.consts(unwinding ? opts : { ...opts, unwind: 'fp' }) },
      configure(obj) {
        containers.configure(obj);
        if (unwinding) DwarfStacks.configure(obj, opts);
        // walked, not the kernel's build-id stack map: a stack whose bucket another held was lost
        // there (65 of 512 distinct stacks, issue 10); here it moves on to the next ids
        if (opts.userStacks) DwarfStacks.configurePlainStacks(obj, unwinding ? opts : { ...opts, unwind: 'fp' }, opts.stackStorage);
      },
      groups: [
        {
          what: 'mmap() calls',
          sources: [
            {
              name: 'tracepoints syscalls/sys_{enter,exit}_{mmap,munmap}',
              programs: ['mmap_enter_tp', 'mmap_exit_tp', 'munmap_enter_tp', 'munmap_exit_tp'],
              requires: ['mmap', 'munmap'].flatMap((c) => [{ tracepoint: `syscalls/sys_enter_${c}` }, { tracepoint: `syscalls/sys_exit_${c}` }]),
            },
            { name: 'tp_btf sys_enter/sys_exit (filtered to mmap and munmap)', programs: ['mmap_enter_btf', 'mmap_exit_btf'], requires: [{ btf: 'sys_enter' }, { btf: 'sys_exit' }] },
          ],
        },
      ],
      setup(obj) {
        stacks = new StackReader(obj);
        if (!opts.json) process.stdout.write(formatHeader(columns) + '\n');
        if (opts.userStacks) dwarf.listen(obj);
        obj.onRecords('events', (records) => {
          for (const r of records) {
            if (r.length > MMAP_EVENT.size) {
              paths.add(r); // a file's full path, ahead of its call's record
              continue;
            }
            const e = MMAP_EVENT.decode(r);
            e.file = paths.file(e.tid, e.path_seq, e.file);
            events.push(e, e.tid, e.pid, opts.userStacks ? e.ustack : null, e.seq);
          }
        });
      },
      async finish(obj) {
        if (opts.userStacks) await dwarf.drain(obj);
        events.close();
        if (opts.verbose && unwinding) for (const l of dwarf.summary(obj, opts)) process.stderr.write(`memscope: ${l}\n`);
        // where each mmap()'s stack came from, as the stack-counting tools say it (frame pointers
        // only: said when a stack was of a program its process had left)
        if (unwinding || events.execed) reportEventStacks('mmap()', accountEventStacks(obj, dwarf, events), !!opts.json);
        reportStacksLost(obj, opts);
        if (!opts.json) process.stderr.write(`${count} mmap() and ${unmaps} munmap() calls traced${paths.lost ? `, ${paths.lost} shown with ${PATH_LOST} (their path note was lost)` : ''}\n`);
      },
    });

    function emit(e: ReturnType<typeof MMAP_EVENT.decode>, ustack: string[] | undefined): void {
      if (e.kind === KIND_MUNMAP) return emitUnmap(e, ustack);
      count++;
      const file = e.flags & MAP_ANONYMOUS ? '[anon]' : e.file || (e.fd >= 0 ? `[fd ${e.fd}]` : '');
      const failed = e.ret < 0 && e.ret > -4096;
      if (opts.json) {
        printJson({
          time: ktimeToDate(e.ts).toISOString(),
          pid: e.pid,
          tid: e.tid,
          comm: e.comm,
          container: containers.json(e.pid),
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
        containers.text(e.pid),
        decodeProt(e.prot),
        decodeMapFlags(e.flags),
        Math.floor(e.off / 1024),
        Math.ceil(e.len / 1024),
        ...(opts.verbose ? [addr] : []),
        file,
      ];
      process.stdout.write(formatRow(columns, row) + '\n');
      writeStack(ustack);
    }

    /** A row's stack lines below it; frame names come from the traced files, so they are escaped. */
    function writeStack(ustack: string[] | undefined): void {
      if (ustack) process.stdout.write(ustack.map((f) => `        ${escapeText(f)}\n`).join('') + '\n');
    }

    function emitUnmap(e: ReturnType<typeof MMAP_EVENT.decode>, ustack: string[] | undefined): void {
      unmaps++;
      const addr = `0x${BigInt.asUintN(64, BigInt(e.addr)).toString(16)}`;
      if (opts.json) {
        printJson({ time: ktimeToDate(e.ts).toISOString(), pid: e.pid, tid: e.tid, comm: e.comm, container: containers.json(e.pid), call: 'munmap', addr, size: e.len, ret: e.ret, ...(ustack ? { ustack } : {}) });
        return;
      }
      const row = [
        ...(opts.timestamp ? [formatEventTime(ktimeToDate(e.ts))] : []),
        e.pid,
        e.comm,
        containers.text(e.pid),
        '---',
        'unmap',
        '-',
        Math.ceil(e.len / 1024),
        ...(opts.verbose ? [e.ret < 0 ? `ERR ${-e.ret}` : String(e.ret)] : []),
        addr,
      ];
      process.stdout.write(formatRow(columns, row) + '\n');
      writeStack(ustack);
    }
  },
};
