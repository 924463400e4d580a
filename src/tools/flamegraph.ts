// SPDX-License-Identifier: Apache-2.0
// flamegraph: folded stacks to an SVG flame graph, and differential flame graphs of two profiles
// ("what changed between two runs"): the second profile is drawn, each frame coloured by how its
// count changed since the first: red grew, blue shrank, white unchanged (flamegraph.pl's difffolded).
import * as fs from 'node:fs';
import { addCommonOptions, CommonOptions } from './options';
import { MemscopeError, UsageError } from '../core/errors';
import { buildTree, FlameNode, parseFolded, renderFlameGraph } from '../render/flamegraph';
import { checkOutputPath, writeOutputFile } from '../core/output-file';
import { examples, Tool } from './tool';

interface FlamegraphOptions extends CommonOptions {
  diff?: boolean;
  title?: string;
  unit?: string;
  normalize?: boolean;
}

function readFolded(file: string): [string[], number][] {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new MemscopeError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const stacks = parseFolded(text);
  if (stacks.length === 0 && text.trim()) throw new MemscopeError(`${file} has no folded stacks ("frame;frame;frame count" lines)`);
  return stacks;
}

/** Copies the first profile's counts onto the matching frames (same path) of the second's tree. */
// explicit stacks, not recursion: stacks thousands of frames deep must not exhaust Node's call stack
export function annotateBefore(after: FlameNode, before: FlameNode, scale = 1): void {
  const todo: [FlameNode, FlameNode | undefined][] = [[after, before]];
  while (todo.length) {
    const [a, b] = todo.pop()!;
    a.other = b ? b.value * scale : 0;
    for (const [name, child] of a.children) todo.push([child, b?.children.get(name)]);
  }
}

/** Red for growth, blue for shrinkage, white for no change; stronger with the size of the change. */
export function diffColor(node: FlameNode, maxDelta: number): string {
  const delta = node.value - (node.other ?? 0);
  if (delta === 0 || maxDelta === 0) return 'rgb(250,250,250)';
  const strength = Math.min(1, Math.abs(delta) / maxDelta);
  const fade = Math.round(210 - 190 * strength);
  return delta > 0 ? `rgb(255,${fade},${fade})` : `rgb(${fade},${fade},255)`;
}

function maxAbsDelta(root: FlameNode): number {
  let m = 0;
  const todo = [root];
  while (todo.length) {
    const n = todo.pop()!;
    m = Math.max(m, Math.abs(n.value - (n.other ?? 0)));
    todo.push(...n.children.values());
  }
  return m;
}

export const tool: Tool<FlamegraphOptions, [string[]]> = {
  name: 'flamegraph',
  summary: 'flame graph SVG from folded stacks; --diff colours what grew and shrank between two',
  configure(cmd) {
    cmd.argument('<folded...>', 'folded stack files (flamegraph.pl input; - for stdin); two with --diff: BEFORE AFTER');
    addCommonOptions(cmd, ['svg']);
    cmd.option('--diff', 'differential graph of BEFORE and AFTER: frames that grew are red, that shrank blue');
    cmd.option('--normalize', 'with --diff: scale BEFORE to the total of AFTER first (compare shapes, not volumes)');
    cmd.option('--title <TEXT>', 'title of the graph');
    cmd.option('--unit <WORD>', 'what a count is, for the hover text', 'samples');
    cmd.addHelpText(
      'after',
      '\nWithout --svg the SVG goes to standard output. The differential graph draws AFTER; a frame\'s\n' +
        'colour is its change since BEFORE (deeper colour, bigger change); hover shows both counts.\n' +
        examples([
          ['memscope faults --folded -p 181 60 > before.folded', 'a profile, before a change'],
          ['memscope flamegraph --diff before.folded after.folded --svg diff.svg', 'what changed between two runs'],
          ['memscope flamegraph out.folded --svg out.svg', 'a plain flame graph from folded stacks'],
        ]),
    );
  },
  async run(opts: FlamegraphOptions, [files]: [string[]]) {
    checkOutputPath(opts.svg, '--svg');
    let svg: string;
    if (opts.diff) {
      if (files.length !== 2) throw new UsageError('--diff takes two folded files: BEFORE AFTER');
      const before = readFolded(files[0]);
      const after = readFolded(files[1]);
      const beforeTree = buildTree(before);
      let scale = 1;
      if (opts.normalize && beforeTree.value > 0) scale = after.reduce((s, [, c]) => s + c, 0) / beforeTree.value;
      let maxDelta = 0;
      svg = renderFlameGraph(after, {
        title: opts.title ?? `Differential Flame Graph: ${files[0]} → ${files[1]}`,
        unit: opts.unit,
        annotate(root) {
          annotateBefore(root, beforeTree, scale);
          maxDelta = maxAbsDelta(root);
        },
        colorOf: (n) => diffColor(n, maxDelta),
        detailOf(n) {
          const b = n.other ?? 0;
          const d = n.value - b;
          const pct = b ? ` (${d >= 0 ? '+' : ''}${((100 * d) / b).toFixed(1)}%)` : ' (new)';
          return `; before ${Math.round(b).toLocaleString('en-US')}, ${d >= 0 ? '+' : ''}${Math.round(d).toLocaleString('en-US')}${pct}`;
        },
      });
    } else {
      if (files.length !== 1) throw new UsageError('one folded file (or --diff BEFORE AFTER)');
      svg = renderFlameGraph(readFolded(files[0]), { title: opts.title ?? 'Flame Graph', unit: opts.unit });
    }
    if (opts.svg) writeOutputFile(opts.svg, svg);
    else process.stdout.write(svg);
  },
};
