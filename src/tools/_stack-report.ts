// The shared ending of every "count by stack" tool: text report, folded, JSON or SVG.
import * as fs from 'node:fs';
import type { CommonOptions } from './options';
import { renderFlameGraph, parseFolded } from '../render/flamegraph';
import { printJson } from '../render/json';
import type { CountedStack } from '../core/frames';
import { formatStackCounts, mergeStacks, stackJson, toFolded } from '../render/stacks';

export function reportStacks(
  stacks: CountedStack[],
  opts: CommonOptions,
  graph: { title: string; unit: string; palette?: 'hot' | 'mem'; delimiter?: boolean; names?: boolean },
): void {
  const merged = mergeStacks(stacks, { names: graph.names && !opts.json });
  if (opts.svg) {
    const folded = toFolded(merged).join('\n');
    fs.writeFileSync(opts.svg, renderFlameGraph(parseFolded(folded), { title: graph.title, unit: graph.unit, palette: graph.palette }));
    process.stderr.write(`memscope: wrote ${opts.svg} (${merged.length} stacks)\n`);
  }
  if (opts.folded) {
    for (const line of toFolded(merged, { delimiter: graph.delimiter })) process.stdout.write(line + '\n');
  } else if (opts.json) {
    for (const s of merged.sort((a, b) => b.count - a.count)) printJson(stackJson(s));
  } else if (!opts.svg) {
    process.stdout.write(formatStackCounts(merged, { names: graph.names, delimiter: graph.delimiter }).join('\n') + '\n');
  }
}
