// SPDX-License-Identifier: Apache-2.0
// Lint: typescript-eslint's recommended rules, and the layers of src/ (ARCHITECTURE.md, "Layers").
// A layer imports only the layers below it; a tool never imports another tool.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';
import globals from 'globals';

// Bottom to top. Each layer may import those before it, never those after it.
const LAYERS = [
  ['core', 'shared types and errors: frames, counted stacks, options, errors (imports nothing of ours)'],
  ['procfs', 'readers of /proc, /sys, tracefs and the kernel log'],
  ['symbols', 'the symbolizer: kallsyms, ELF, maps, perf maps, vDSO'],
  ['render', 'text, tables, stacks, SVG, HTML and JSON output'],
  ['engine', 'BPF objects, event sources, the runTrace lifecycle, stack maps'],
  ['unwind', 'DWARF CFI and the unwinder of sampled user stacks'],
  ['dashboard', "the live dashboard's server side: samples, the process table, the live stream, guards"],
  ['tools', 'one module per tool, on the layers below'],
  ['agent', 'the long-running agent, on the tools'],
];

const layerZones = LAYERS.map(([name], i) => ({
  target: `./src/${name}`,
  from: [...LAYERS.slice(i + 1).map(([above]) => `./src/${above}`), './src/cli.ts'],
  message: `layer '${name}' may import only ${LAYERS.slice(0, i).map(([below]) => below).join(', ') || 'nothing of ours'} (see ARCHITECTURE.md, Layers)`,
}));

const toolZone = {
  // shared helpers of the tools layer are tool.ts, options.ts and _*.ts; a tool's own folder
  // (src/tools/memleak/) is its private part
  target: './src/tools/*.ts',
  from: './src/tools/*.ts',
  except: ['**/src/tools/tool.ts', '**/src/tools/options.ts', '**/src/tools/_*.ts'],
  message: 'a tool does not import another tool: move what both need into a lower layer or a tools/_*.ts helper',
};

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'native/build/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // the launcher Node runs before the bundle: plain CommonJS
    files: ['bin/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.ts'],
    plugins: { import: importPlugin },
    settings: { 'import/resolver': { node: { extensions: ['.ts', '.js'] } } },
    rules: {
      'import/no-restricted-paths': ['error', { zones: [...layerZones, toolZone] }],
      // unused function arguments keep a signature's shape (callbacks); prefix them with _
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // a catch that ignores its error says why in a comment inside the braces
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // tests read tools' JSON output as loosely as a user's script would, and match aligned
    // columns with literal runs of spaces
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'no-regex-spaces': 'off' },
  },
  {
    // reads other tools' JSON records untyped until the triage split gives them shared types
    // (issue 12, point 2); remove this block with that change
    files: ['src/tools/triage.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-unused-vars': 'off' },
  },
);
