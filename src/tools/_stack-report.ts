// The shared ending of every "count by stack" tool: text report, folded, JSON or SVG.
import type { CommonOptions } from './options';
import { renderFlameGraph, parseFolded } from '../render/flamegraph';
import { printJson } from '../render/json';
import { writeOutputFile } from '../core/output-file';
import type { CountedStack } from '../core/frames';
import { formatStackCounts, mergeStacks, stackJson, toFolded } from '../render/stacks';
import { renderPprof } from '../render/pprof';
import { MemscopeError } from '../core/errors';
import type { Symbolizer } from '../symbols/symbolizer';

/** Writes a profile to a new or regular file, never through a symlink. */
export function writeProfileFile(file: string, data: Buffer): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o644);
  } catch (e) {
    throw new MemscopeError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code === 'ELOOP' ? 'it is a symbolic link' : (e as Error).message}`);
  }
  try {
    fs.writeSync(fd, data);
  } finally {
    fs.closeSync(fd);
  }
}

/** --pprof FILE: the stacks as a profile with one sample type [type, unit] (e.g. faults/count). */
export function writeStacksPprof(
  file: string,
  stacks: CountedStack[],
  sampleType: [string, string],
  symbolizer?: Symbolizer,
  labelsOf?: (s: CountedStack) => Record<string, string>,
): void {
  const data = renderPprof({
    sampleTypes: [sampleType],
    stacks: stacks.map((s) => ({ values: [s.count], user: s.user, kernel: s.kernel, pid: s.pid, comm: s.comm, labels: labelsOf?.(s) })),
    moduleOf: symbolizer ? (pid, f) => symbolizer.moduleOf(pid, f) : undefined,
  });
  writeProfileFile(file, data);
  process.stderr.write(`memscope: wrote ${file} (${stacks.length} stacks)\n`);
}

export function reportStacks(
  stacks: CountedStack[],
  opts: CommonOptions,
  graph: { title: string; unit: string; palette?: 'hot' | 'mem'; delimiter?: boolean; names?: boolean; pprofType?: [string, string]; symbolizer?: Symbolizer },
): void {
  const merged = mergeStacks(stacks, { names: graph.names && !opts.json });
  if (opts.pprof) writeStacksPprof(opts.pprof, merged, graph.pprofType ?? ['events', 'count'], graph.symbolizer);
  if (opts.svg) {
    const folded = toFolded(merged).join('\n');
    const svg = renderFlameGraph(parseFolded(folded), { title: graph.title, unit: graph.unit, palette: graph.palette });
    writeOutputFile(opts.svg, svg, `${merged.length} stacks`);
  }
  if (opts.folded) {
    for (const line of toFolded(merged, { delimiter: graph.delimiter })) process.stdout.write(line + '\n');
  } else if (opts.json) {
    for (const s of merged.sort((a, b) => b.count - a.count)) printJson(stackJson(s));
  } else if (!opts.svg && !opts.pprof) {
    process.stdout.write(formatStackCounts(merged, { names: graph.names, delimiter: graph.delimiter }).join('\n') + '\n');
  }
}
