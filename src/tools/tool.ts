// What a tool module exports. The CLI finds tools by file name (src/tools/NAME.ts), so adding a
// tool means adding its module here, its BPF file under bpf/ and its test: nothing else.
import type { Command } from 'commander';

export interface Tool {
  name: string;
  /** One line for `memscope --help`. */
  summary: string;
  /** Adds the tool's arguments, options and help text (with examples) to its command. */
  configure(cmd: Command): void;
  /** Runs with the parsed options and positional arguments. */
  run(opts: Record<string, any>, args: any[]): Promise<void>;
}

/** Example lines for a tool's --help. */
export function examples(lines: [string, string][]): string {
  const w = Math.max(...lines.map(([c]) => c.length));
  return '\nExamples:\n' + lines.map(([c, d]) => `  ${c.padEnd(w)}  # ${d}`).join('\n') + '\n';
}
