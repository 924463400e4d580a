// SPDX-License-Identifier: Apache-2.0
// shmsnoop: System V shared memory calls with decoded arguments and return values.
import { addCommonOptions, addDuration, CommonOptions, InvalidArgumentError, parsePositive } from './options';

interface ShmsnoopOptions extends CommonOptions {
  duration?: number;
  tid?: number;
  name?: string;
}

function parseTid(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0) throw new InvalidArgumentError('a TID is a positive whole number.');
  return Number(v);
}
import { formatEventTime, ktimeToDate } from '../engine/clock';
import { runTrace } from '../engine/session';
import { struct } from '../engine/struct';
import { printJson } from '../render/json';
import { Column, formatHeader, formatRow } from '../render/table';
import { ContainerColumn, CONTAINER_WIDTH } from './_container-column';
import { examples, Tool } from './tool';

const SHM_EVENT = struct([
  ['ts', 'u64'],
  ['ret', 's64'],
  ['a0', 'addr'],
  ['a1', 'addr'],
  ['a2', 'addr'],
  ['pid', 'u32'],
  ['tid', 'u32'],
  ['sys', 'u32'],
  ['comm', 'char[16]'],
] as const, { c: 'shm_event', bpf: 'shmsnoop' });

const SYSCALLS = ['SHMGET', 'SHMAT', 'SHMDT', 'SHMCTL'];

const IPC_CREAT = 0o1000, IPC_EXCL = 0o2000, SHM_HUGETLB = 0o4000, SHM_NORESERVE = 0o10000;
const SHM_RDONLY = 0o10000, SHM_RND = 0o20000, SHM_REMAP = 0o40000, SHM_EXEC = 0o100000;
const SHMCTL_CMDS: Record<number, string> = {
  0: 'IPC_RMID', 1: 'IPC_SET', 2: 'IPC_STAT', 3: 'IPC_INFO',
  11: 'SHM_LOCK', 12: 'SHM_UNLOCK', 13: 'SHM_STAT', 14: 'SHM_INFO', 15: 'SHM_STAT_ANY',
};

const hex = (v: bigint | number) => `0x${BigInt.asUintN(64, BigInt(v)).toString(16)}`;

function flagNames(v: number, names: [number, string][], mode: boolean): string {
  const parts = names.filter(([bit]) => v & bit).map(([, n]) => n);
  if (mode && v & 0o777) parts.push('0' + (v & 0o777).toString(8));
  return parts.length ? ` (${parts.join('|')})` : '';
}

/** The ARGs column, as the chapter's shmsnoop prints it (command names decoded). */
export function describeArgs(sys: number, a0: bigint, a1: bigint, a2: bigint): string {
  const flags = Number(a2 & 0xffffffffn);
  switch (SYSCALLS[sys]) {
    case 'SHMGET':
      return `key: ${hex(a0)}, size: ${a1}, shmflg: ${hex(flags)}${flagNames(flags, [[IPC_CREAT, 'IPC_CREAT'], [IPC_EXCL, 'IPC_EXCL'], [SHM_HUGETLB, 'SHM_HUGETLB'], [SHM_NORESERVE, 'SHM_NORESERVE']], true)}`;
    case 'SHMAT':
      return `shmid: ${hex(a0)}, shmaddr: ${hex(a1)}, shmflg: ${hex(flags)}${flagNames(flags, [[SHM_RDONLY, 'SHM_RDONLY'], [SHM_RND, 'SHM_RND'], [SHM_REMAP, 'SHM_REMAP'], [SHM_EXEC, 'SHM_EXEC']], false)}`;
    case 'SHMDT':
      return `shmaddr: ${hex(a0)}`;
    default: {
      const cmd = Number(a1 & 0xffffn);
      return `shmid: ${hex(a0)}, cmd: ${cmd} (${SHMCTL_CMDS[cmd] ?? 'unknown'}), buf: ${hex(a2)}`;
    }
  }
}

/** RET: the id or address in hex for shmget/shmat (as the chapter shows), else decimal; errors as ERR errno. */
function describeRet(sys: number, ret: number): string {
  if (ret < 0 && ret > -4096) return `ERR ${-ret}`;
  return sys === 0 || sys === 1 ? BigInt.asUintN(64, BigInt(ret)).toString(16) : String(ret);
}

export const tool: Tool<ShmsnoopOptions, [number?]> = {
  name: 'shmsnoop',
  summary: 'System V shared memory calls: shmget, shmat, shmdt, shmctl with decoded arguments',
  configure(cmd) {
    addDuration(addCommonOptions(cmd, ['pid', 'command', 'timestamp', 'json']));
    // BCC shmsnoop's options (its duration is -d; the positional duration works too)
    cmd.option('-d, --duration <SECONDS>', 'stop after SECONDS', parsePositive);
    cmd.option('-t, --tid <TID>', 'only this thread', parseTid);
    cmd.option('-n, --name <NAME>', 'only process names (comm) containing NAME');
    cmd.addHelpText(
      'after',
      '\nOne line per completed call. RET is the segment id (shmget) or address (shmat) in hex,\n' +
        'otherwise the return value; failures show ERR and the errno.\n' +
        examples([
          ['memscope shmsnoop', 'all processes, until Ctrl-C'],
          ['memscope shmsnoop -T -p 181', 'PID 181, with a time column'],
          ['memscope shmsnoop --json 30', 'JSON lines for 30 seconds'],
          ['memscope shmsnoop -n postgres -d 10', 'calls of processes named postgres*, 10 s (BCC spelling)'],
        ]),
    );
  },
  async run(opts: ShmsnoopOptions, [positional]: [number?]) {
    const duration = opts.duration ?? positional;
    const columns: Column[] = [
      ...(opts.timestamp ? [{ header: 'TIME', width: 12 }] : []),
      { header: 'PID', width: 7 },
      { header: 'COMM', width: 15 },
      { header: 'CONTAINER', width: CONTAINER_WIDTH },
      { header: 'SYS', width: 6, right: true },
      { header: 'RET', width: 14, right: true },
      { header: 'ARGs', width: 0 },
    ];
    let count = 0;
    const containers = new ContainerColumn();
    await runTrace({
      bpf: 'shmsnoop',
      opts,
      duration,
      banner: 'Tracing shared memory calls',
      groups: [
        {
          what: 'System V shared memory calls',
          sources: [
            {
              name: 'tracepoints syscalls/sys_{enter,exit}_shm{get,at,dt,ctl}',
              programs: ['shmget_enter', 'shmget_exit', 'shmat_enter', 'shmat_exit', 'shmdt_enter', 'shmdt_exit', 'shmctl_enter', 'shmctl_exit'],
              requires: ['shmget', 'shmat', 'shmdt', 'shmctl'].flatMap((s) => [{ tracepoint: `syscalls/sys_enter_${s}` }, { tracepoint: `syscalls/sys_exit_${s}` }]),
            },
            { name: 'tp_btf sys_enter/sys_exit (filtered)', programs: ['shm_enter_btf', 'shm_exit_btf'], requires: [{ btf: 'sys_enter' }, { btf: 'sys_exit' }] },
          ],
        },
      ],
      configure: (obj) => containers.configure(obj),
      setup(obj) {
        if (!opts.json) process.stdout.write(formatHeader(columns) + '\n');
        obj.onRecords('events', (records) => {
          for (const r of records) {
            const e = SHM_EVENT.decode(r);
            if (opts.tid !== undefined && e.tid !== opts.tid) continue;
            if (opts.name !== undefined && !e.comm.includes(opts.name)) continue;
            count++;
            const args = describeArgs(e.sys, e.a0, e.a1, e.a2);
            if (opts.json) {
              printJson({ time: ktimeToDate(e.ts).toISOString(), pid: e.pid, tid: e.tid, comm: e.comm, container: containers.json(e.pid), sys: SYSCALLS[e.sys], ret: e.ret, args });
              continue;
            }
            const row = [
              ...(opts.timestamp ? [formatEventTime(ktimeToDate(e.ts))] : []),
              e.pid,
              e.comm,
              containers.text(e.pid),
              SYSCALLS[e.sys],
              describeRet(e.sys, e.ret),
              args,
            ];
            process.stdout.write(formatRow(columns, row) + '\n');
          }
        });
      },
      finish() {
        if (!opts.json) process.stderr.write(`${count} shared memory calls traced\n`);
      },
    });
  },
};
