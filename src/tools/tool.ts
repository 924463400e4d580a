// SPDX-License-Identifier: Apache-2.0
// What a tool module exports. The CLI finds tools by file name (src/tools/NAME.ts), so adding a
// tool means adding its module here, its BPF file under bpf/ and its test: nothing else.
import type { Command } from 'commander';
import type { CommonOptions } from '../core/options';

/** A tool over its parsed options (Opts, the shared ones plus its own) and positional arguments (Args,
 * as commander's processedArgs gives them). cli.ts is the one place that passes untyped values in. */
export interface Tool<Opts extends CommonOptions = CommonOptions, Args extends unknown[] = []> {
  name: string;
  /** One line for `memscope --help`. */
  summary: string;
  /** Adds the tool's arguments, options and help text (with examples) to its command. */
  configure(cmd: Command): void;
  /** Runs with the parsed options and positional arguments. */
  run: (opts: Opts, args: Args) => Promise<void>;
}

/** Example lines for a tool's --help. */
export function examples(lines: [string, string][]): string {
  const w = Math.max(...lines.map(([c]) => c.length));
  return '\nExamples:\n' + lines.map(([c, d]) => `  ${c.padEnd(w)}  # ${d}`).join('\n') + '\n';
}
