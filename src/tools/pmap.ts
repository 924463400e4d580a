// SPDX-License-Identifier: Apache-2.0
// pmap: a process's memory by segment from /proc/PID/smaps: Address Kbytes [RSS Dirty] Mode Mapping, and totals.
import { addCommonOptions, CommonOptions, parsePid } from './options';
import * as fs from 'node:fs';
import { MemscopeError, UsageError } from '../core/errors';
import { readCmdline } from '../procfs/pid';
import { procpsArgs } from '../render/text';
import { parseSmaps, SmapsEntry } from '../procfs/smaps';
import { printJson } from '../render/json';
import { examples, Tool } from './tool';
import { escapeText } from '../core/escape';

/** pmap's mode: r w x, then s for shared, then R when the mapping reserves no swap. */
function mode(e: SmapsEntry): string {
  const shared = e.perms[3] === 's';
  return e.perms.slice(0, 3) + (shared ? 's' : '-') + (e.flags.includes('nr') ? 'R' : '-');
}

function mapping(e: SmapsEntry): string {
  if (e.path.startsWith('/')) return e.path.slice(e.path.lastIndexOf('/') + 1) + (e.path.endsWith(' (deleted)') ? '' : '');
  if (e.path === '[stack]') return '  [ stack ]';
  if (e.path === '' || e.path === '[heap]' || e.path.startsWith('[anon')) return '  [ anon ]';
  return e.path;
}

export interface PmapTotals {
  kb: number;
  rss: number;
  dirty: number;
  pss: number;
  swap: number;
  anon: number;
}

export function pmapTotals(entries: SmapsEntry[]): PmapTotals {
  const t = { kb: 0, rss: 0, dirty: 0, pss: 0, swap: 0, anon: 0 };
  for (const e of entries) {
    t.kb += e.kb.Size ?? 0;
    t.rss += e.kb.Rss ?? 0;
    t.dirty += (e.kb.Private_Dirty ?? 0) + (e.kb.Shared_Dirty ?? 0);
    t.pss += e.kb.Pss ?? 0;
    t.swap += e.kb.Swap ?? 0;
    t.anon += e.kb.Anonymous ?? 0;
  }
  return t;
}

export function formatPmap(pid: number, cmdline: string, entries: SmapsEntry[], extended: boolean): string[] {
  const lines = [`${pid}:   ${procpsArgs(cmdline)}`];
  const addr = (e: SmapsEntry) => e.start.toString(16).padStart(16, '0');
  const t = pmapTotals(entries);
  if (extended) {
    lines.push('Address           Kbytes     RSS   Dirty Mode  Mapping');
    for (const e of entries) {
      const dirty = (e.kb.Private_Dirty ?? 0) + (e.kb.Shared_Dirty ?? 0);
      lines.push(`${addr(e)} ${String(e.kb.Size ?? 0).padStart(7)} ${String(e.kb.Rss ?? 0).padStart(7)} ${String(dirty).padStart(7)} ${mode(e)} ${mapping(e)}`);
    }
    lines.push('---------------- ------- ------- ------- ');
    lines.push(`total kB         ${String(t.kb).padStart(7)} ${String(t.rss).padStart(7)} ${String(t.dirty).padStart(7)}`);
  } else {
    for (const e of entries) lines.push(`${addr(e)} ${String(e.kb.Size ?? 0).padStart(6)}K ${mode(e)} ${mapping(e)}`);
    lines.push(` total ${String(t.kb).padStart(16)}K`);
  }
  return lines;
}

/** The process's mappings; the reason they cannot be read, in one line (a process that exists but
 * may not be read is not "no process"). */
function smapsOf(pid: number): SmapsEntry[] {
  try {
    return parseSmaps(fs.readFileSync(`/proc/${pid}/smaps`, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') throw new UsageError(`no process with PID ${pid} (is it still running?)`);
    const root = typeof process.getuid !== 'function' || process.getuid() === 0;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new MemscopeError(`cannot read the mappings of PID ${pid}: permission denied (${code})${root ? '' : '; try sudo memscope pmap'}`);
    }
    throw new MemscopeError(`cannot read /proc/${pid}/smaps: ${code ?? (e as Error).message}`);
  }
}

export const tool: Tool<CommonOptions & { extended?: boolean }, [number]> = {
  name: 'pmap',
  summary: "a process's memory by segment: size, RSS, dirty, mode, mapping (pmap -x)",
  configure(cmd) {
    cmd.argument('<PID>', 'the process', parsePid);
    cmd.option('-x, --extended', 'RSS and Dirty columns (pmap -x)');
    addCommonOptions(cmd, ['json']);
    cmd.addHelpText(
      'after',
      '\nSizes in kB from /proc/PID/smaps; Dirty = private + shared dirty. --json adds PSS, swap and\n' +
        'anonymous kB per segment.\n' +
        examples([
          ['memscope pmap -x 181', 'segments of PID 181 with RSS and Dirty'],
          ['memscope pmap --json 181', 'one JSON object per segment, then the totals'],
        ]),
    );
  },
  async run(opts: CommonOptions & { extended?: boolean }, [pid]: [number]) {
    const entries = smapsOf(pid);
    if (opts.json) {
      for (const e of entries) {
        printJson({
          address: e.start.toString(16).padStart(16, '0'),
          kbytes: e.kb.Size ?? 0,
          rss: e.kb.Rss ?? 0,
          dirty: (e.kb.Private_Dirty ?? 0) + (e.kb.Shared_Dirty ?? 0),
          pss: e.kb.Pss ?? 0,
          swap: e.kb.Swap ?? 0,
          anonymous: e.kb.Anonymous ?? 0,
          mode: mode(e),
          mapping: e.path,
        });
      }
      printJson({ total: pmapTotals(entries) });
      return;
    }
    process.stdout.write(formatPmap(pid, readCmdline(pid), entries, !!opts.extended).map(escapeText).join('\n') + '\n');
  },
};
