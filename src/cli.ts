// SPDX-License-Identifier: Apache-2.0
// The single entry point: `memscope TOOL [options]`. Only the named tool's module is loaded,
// so start-up stays short; `memscope --help` loads them all to list them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { MemscopeError } from './core/errors';
import { destroyAll } from './engine/bpf-object';
import { mountTracefs } from './procfs/tracefs';
import type { CommonOptions } from './core/options';
import type { Tool as TypedTool } from './tools/tool';

// A tool as loaded by name: its options and arguments are what commander parsed with the tool's own
// configure(), so they match its Tool<Opts, Args> at run time; this is the one untyped hand-over.
type Tool = TypedTool<CommonOptions, unknown[]>;
import { watchLifeline } from './engine/lifeline';
import { guardStdio } from './core/stdio';
import { escapeText } from './core/escape';

const TOOLS_DIR = path.join(__dirname, 'tools');
// commands that are entry points above the tools (ARCHITECTURE.md, Layers), found by name as tools are
const ENTRY_COMMANDS: Record<string, string> = { agent: path.join(__dirname, 'agent', 'command.js') };

// Set by the bundled CLI (scripts/bundle-cli.mjs): each command's module, required when chosen.
const BUNDLED = (globalThis as Record<symbol, unknown>)[Symbol.for('memscope.tools')] as Record<string, () => { tool: Tool }> | undefined;

function toolNames(): string[] {
  if (BUNDLED) return Object.keys(BUNDLED).sort();
  return fs
    .readdirSync(TOOLS_DIR)
    .filter((f) => f.endsWith('.js') && f !== 'tool.js' && f !== 'options.js' && !f.startsWith('_'))
    .map((f) => f.slice(0, -3))
    .concat(Object.keys(ENTRY_COMMANDS))
    .sort();
}

function loadTool(name: string): Tool | null {
  if (BUNDLED) return Object.hasOwn(BUNDLED, name) ? BUNDLED[name]().tool : null;
  const file = Object.hasOwn(ENTRY_COMMANDS, name) ? ENTRY_COMMANDS[name] : path.join(TOOLS_DIR, `${name}.js`);
  if (!/^[a-z0-9-]+$/.test(name) || !fs.existsSync(file)) return null;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- tools are found by file name at run time
  return (require(file) as { tool: Tool }).tool;
}

function topHelp(): string {
  const tools = toolNames()
    .map(loadTool)
    .filter((t): t is Tool => t !== null);
  const w = Math.max(...tools.map((t) => t.name.length));
  return [
    'Usage: memscope TOOL [options] [args]',
    '',
    'Linux memory analysis with eBPF: the tools of "BPF Performance Tools" ch. 7 on stable kernel interfaces.',
    '',
    'Tools:',
    ...tools.map((t) => `  ${t.name.padEnd(w)}  ${t.summary}`),
    '',
    "Run 'memscope TOOL --help' for a tool's options and examples. Most tools need root.",
    '',
  ].join('\n');
}

function fail(message: string, code: number): never {
  // messages quote what users and other processes chose (paths, names, filters): one line, no raw controls
  process.stderr.write(`memscope: ${escapeText(message)}\n`);
  destroyAll();
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const closed = guardStdio();
  const name = argv[0];
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topHelp());
    return;
  }
  if (name === '--version' || name === '-V') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- package.json is outside rootDir's compiled tree
    process.stdout.write(`${require('../../package.json').version}\n`);
    return;
  }
  const tool = loadTool(name);
  if (process.getuid?.() === 0) mountTracefs();
  if (!tool) fail(`unknown tool '${name}' (run 'memscope --help' for the list)`, 2);
  if (closed) fail(closed, 1);

  const cmd = new Command(`memscope ${tool.name}`)
    .description(tool.summary)
    .helpOption('-h, --help', 'show this help')
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  tool.configure(cmd);
  let parsed: Command;
  try {
    parsed = cmd.parse(argv.slice(1), { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) process.exit(0); // --help
      const msg = e.message.replace(/^error: /, '');
      fail(`${tool.name}: ${msg} (see 'memscope ${tool.name} --help')`, 2);
    }
    throw e;
  }
  await tool.run(parsed.opts(), parsed.processedArgs);
}

// run by triage: end (BPF detached) as soon as triage is gone, whatever ended it; nobody is left
// to read a summary
watchLifeline(() => {
  destroyAll();
  process.exit(1);
});

/** Any other error, from the run or from a timer or callback after it: one line (the stack with
 * MEMSCOPE_DEBUG=1), everything unloaded, exit 70. */
function internalError(e: unknown): never {
  if (e instanceof MemscopeError) fail(e.message, e.exitCode);
  if (e instanceof Error && (e as { code?: string }).code === 'commander.invalidArgument') fail(e.message, 2);
  if (process.env.MEMSCOPE_DEBUG) console.error(e);
  fail(`internal error: ${e instanceof Error ? e.message.split('\n')[0] : String(e)} (set MEMSCOPE_DEBUG=1 for details)`, 70);
}

process.on('unhandledRejection', internalError);
process.on('uncaughtException', internalError);

main(process.argv.slice(2)).then(() => {
  destroyAll();
}, internalError);
