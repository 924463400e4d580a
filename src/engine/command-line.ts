// SPDX-License-Identifier: Apache-2.0
// -c COMMAND: a command line run the way a shell runs it (`VAR=1 cmd`, `cd dir && cmd`,
// `cmd < input`), with the program it ends up running in the traced process itself. Tools trace
// one pid: the gate shell that memscope starts. The line is left to /bin/sh as written, except
// that its last command is run with `exec`, so that the program replaces the shell in that pid
// instead of running in a child the tools would not see. A line whose program would run in a
// child whatever we do (a pipeline, a background job, a compound command) is refused.
import { UsageError } from '../core/errors';

const RESERVED = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'case',
  'esac',
  'while',
  'until',
  'for',
  'in',
  'function',
  '{',
  '}',
  '!',
  'select',
]);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/** Top-level structure of a command line: where its last command starts, and what it holds. */
interface Scan {
  /** index where the last command of the top-level list begins */
  lastStart: number;
  /** a top-level `|`, `&` (background) or parenthesis after that point */
  notSimple: string | null;
}

function scan(line: string): Scan {
  let lastStart = 0;
  let notSimple: string | null = null;
  let depth = 0; // inside $( ), ( ) or ` `
  let wordStart = true;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') {
      i++;
      wordStart = false;
      continue;
    }
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new UsageError(`-c: unterminated quote in the command line: ${line}`);
      i = end;
      wordStart = false;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) if (line[j] === '\\') j++;
      if (j >= line.length) throw new UsageError(`-c: unterminated quote in the command line: ${line}`);
      i = j;
      wordStart = false;
      continue;
    }
    if (c === '#' && wordStart && depth === 0) {
      const nl = line.indexOf('\n', i);
      if (nl < 0) break;
      i = nl - 1;
      continue;
    }
    if (c === '$' && line[i + 1] === '(') {
      depth++;
      i++;
      wordStart = true;
      continue;
    }
    if (c === '`') {
      const end = line.indexOf('`', i + 1);
      if (end < 0) throw new UsageError(`-c: unterminated \` in the command line: ${line}`);
      i = end;
      wordStart = false;
      continue;
    }
    if (c === '(') {
      if (depth === 0) notSimple = 'a subshell';
      depth++;
      wordStart = true;
      continue;
    }
    if (c === ')') {
      depth = Math.max(0, depth - 1);
      wordStart = true;
      continue;
    }
    if (depth > 0) {
      wordStart = /\s/.test(c);
      continue;
    }
    const two = line.slice(i, i + 2);
    if (two === '&&' || two === '||' || two === ';;') {
      lastStart = i + 2;
      notSimple = null;
      i++;
      wordStart = true;
      continue;
    }
    if (c === ';' || c === '\n') {
      lastStart = i + 1;
      notSimple = null;
      wordStart = true;
      continue;
    }
    if (c === '|') {
      notSimple = 'a pipeline';
      wordStart = true;
      continue;
    }
    if (c === '&' && line[i + 1] !== '>' && line[i - 1] !== '>' && line[i - 1] !== '<') {
      notSimple = 'a background job';
      wordStart = true;
      continue;
    }
    wordStart = /\s/.test(c) || c === '<' || c === '>';
  }
  if (depth > 0) throw new UsageError(`-c: unbalanced parentheses in the command line: ${line}`);
  return { lastStart, notSimple };
}

/** The words at the start of s (up to `count`), with their end offsets; quotes kept in the words. */
function leadingWords(s: string, count: number): { word: string; end: number }[] {
  const out: { word: string; end: number }[] = [];
  let i = 0;
  while (out.length < count) {
    while (i < s.length && /[ \t]/.test(s[i])) i++;
    if (i >= s.length) break;
    let word = '';
    for (; i < s.length && !/[ \t]/.test(s[i]); i++) {
      const c = s[i];
      if (c === "'" || c === '"') {
        const end = s.indexOf(c, i + 1);
        word += s.slice(i, end + 1);
        i = end;
      } else if (c === '\\') {
        word += s.slice(i, i + 2);
        i++;
      } else word += c;
    }
    out.push({ word, end: i });
  }
  return out;
}

/**
 * The script for the gate shell: the command line with `exec` before the program of its last
 * command (after its variable assignments). Throws a UsageError for a line it cannot do that to.
 */
export function execLast(line: string): string {
  const trimmed = line.replace(/[\s;]+$/, '');
  if (!trimmed.trim()) throw new UsageError('-c needs a command line (it was empty)');
  const { lastStart, notSimple } = scan(trimmed);
  if (notSimple) {
    throw new UsageError(`-c: the program to trace must be the last command of the line, not in ${notSimple} (or trace it with -p): ${line}`);
  }
  const head = trimmed.slice(0, lastStart);
  const last = trimmed.slice(lastStart);
  let at = 0;
  for (const { word, end } of leadingWords(last, 64)) {
    if (ASSIGNMENT.test(word)) {
      at = end;
      continue;
    }
    if (word === 'exec') return trimmed; // already replaces the shell
    if (RESERVED.has(word)) {
      throw new UsageError(`-c: the program to trace must be the last command of the line, not in a compound command (or trace it with -p): ${line}`);
    }
    const ws = /^[ \t]*/.exec(last)![0];
    return `${head}${ws}${last.slice(ws.length, at)}${at ? ' ' : ''}exec ${last.slice(at).replace(/^[ \t]+/, '')}`;
  }
  throw new UsageError(`-c: the command line runs no program (only variable assignments): ${line}`);
}
