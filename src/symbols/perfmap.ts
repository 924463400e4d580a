// SPDX-License-Identifier: Apache-2.0
// JIT symbols from /tmp/perf-PID.map ("START SIZE name" in hex), as written by Node
// (--perf-basic-prof), the JVM (perf-map-agent), LuaJIT and others.
import * as fs from 'node:fs';

export class PerfMap {
  private constructor(private readonly entries: { start: bigint; end: bigint; name: string }[]) {}

  static read(pid: number): PerfMap | null {
    let text: string;
    try {
      text = fs.readFileSync(`/tmp/perf-${pid}.map`, 'utf8');
    } catch { // most processes have no JIT map; an unreadable one is the same for us
      return null;
    }
    const entries = [];
    for (const line of text.split('\n')) {
      const m = /^([0-9a-fA-F]+) ([0-9a-fA-F]+) (.+)$/.exec(line);
      if (!m) continue;
      const start = BigInt('0x' + m[1]);
      entries.push({ start, end: start + BigInt('0x' + m[2]), name: m[3] });
    }
    entries.sort((a, b) => (a.start < b.start ? -1 : 1));
    return new PerfMap(entries);
  }

  lookup(addr: bigint): { name: string; offset: number } | null {
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = this.entries[mid];
      if (addr < e.start) hi = mid - 1;
      else if (addr >= e.end) lo = mid + 1;
      else return { name: e.name, offset: Number(addr - e.start) };
    }
    return null;
  }
}
