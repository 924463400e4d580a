// SPDX-License-Identifier: Apache-2.0
// One OOM kill report (procfs/oom-report.ts) as a few aligned text lines. Sizes are in kB as the
// kernel's own report (dmesg) prints them, so the two can be read side by side.
import type { OomEvent } from '../procfs/oom-report';

function mb(kbv: number | undefined): string {
  return kbv === undefined ? '?' : `${Math.round(kbv)}kB`;
}

export function formatOomEvent(e: OomEvent): string[] {
  const when = [e.time !== undefined ? `[${e.time.toFixed(6)}]` : '', e.wallclock ? e.wallclock.replace('T', ' ').slice(0, 19) + ' UTC' : '']
    .filter(Boolean)
    .join(' ');
  const out = [`${when ? when + ' ' : ''}OOM kill${e.constraint ? ` (${e.constraint}${e.cgroup ? `, cgroup ${e.cgroup}` : ''})` : ''}`];
  const inv = e.invoker;
  out.push(
    `  invoked by:  ${inv.comm}${inv.pid !== undefined ? ` (PID ${inv.pid})` : ''}${inv.gfpMask ? `, gfp_mask=${inv.gfpMask}` : ''}${inv.order !== undefined ? `, order=${inv.order}` : ''}`,
  );
  if (e.victim) {
    const v = e.victim;
    out.push(
      `  killed:      ${v.comm} (PID ${v.pid}) total-vm ${mb(v.totalVmKb)}, anon-rss ${mb(v.anonRssKb)}, file-rss ${mb(v.fileRssKb)}` +
        (v.shmemRssKb !== undefined ? `, shmem-rss ${mb(v.shmemRssKb)}` : '') +
        (v.score !== undefined ? `, score ${v.score}` : ''),
    );
  } else {
    out.push('  killed:      (no victim line: the report is incomplete or nothing was killed)');
  }
  if (e.memcg) out.push(`  memcg:       usage ${mb(e.memcg.usageKb)} of limit ${mb(e.memcg.limitKb)}, failcnt ${e.memcg.failcnt}`);
  if (e.memInfo) {
    const m = e.memInfo;
    const pg = (k: string) => (m[k] === undefined ? '?' : mb(m[k] * 4));
    out.push(
      `  Mem-Info:    free ${pg('free')}, active_anon ${pg('active_anon')}, inactive_anon ${pg('inactive_anon')}, ` +
        `file ${mb(((m.active_file ?? 0) + (m.inactive_file ?? 0)) * 4)}, shmem ${pg('shmem')}, slab ${mb(((m.slab_reclaimable ?? 0) + (m.slab_unreclaimable ?? 0)) * 4)}`,
    );
  }
  if (e.topTasks?.length) {
    out.push(`  tasks:       ${e.tasks} in the report; largest by rss: ` + e.topTasks.slice(0, 3).map((t) => `${t.comm} (${t.pid}) ${mb(t.rssPages * 4)}`).join(', '));
  }
  return out;
}
