// SPDX-License-Identifier: Apache-2.0
// Filters on decoded event fields, as BCC trace and bpftrace predicates write them:
//   nr_reclaimed > 100        order >= 3 && comm != "kswapd0"        (behavior == 14 || behavior == 15)
// Numbers compare as integers (decimal or 0x hex, 64-bit safe); strings compare with == and !=.
import { UsageError } from '../core/errors';

type Value = number | bigint | string | (number | bigint)[] | undefined;
export type Fields = Record<string, Value>;

type Node =
  | { op: '&&' | '||'; l: Node; r: Node }
  | { op: '!'; e: Node }
  | { op: 'cmp'; cmp: string; field: string; value: bigint | string };

const CMP = ['==', '!=', '<=', '>=', '<', '>'];

function tokenize(s: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:("(?:[^"\\]|\\.)*"|'[^']*')|(&&|\|\||==|!=|<=|>=|<|>|!|\(|\))|(-?0x[0-9a-fA-F]+|-?\d+)|([A-Za-z_][A-Za-z0-9_]*))/y;
  let i = 0;
  while (i < s.length) {
    if (/^\s*$/.test(s.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) throw new UsageError(`bad filter '${s}' near '${s.slice(i).trim()}'`);
    out.push(m[1] ?? m[2] ?? m[3] ?? m[4]);
    i = re.lastIndex;
  }
  return out;
}

/** One comparison of a field with a number: what a BPF program can test before sending an event. */
export interface NumericTerm {
  field: string;
  cmp: '==' | '!=' | '<' | '<=' | '>' | '>=';
  value: bigint;
}

export interface Filter {
  (f: Fields): boolean;
  /** The filter as an AND of numeric comparisons, when it is one (else null). */
  conjunction: NumericTerm[] | null;
}

/** What a field holds, for the checks a filter gets before anything is loaded: numbers compare
 * with numbers, strings with strings, and arrays or raw bytes with nothing. */
export type FieldType = 'number' | 'string' | 'other' | 'any';

/** Nesting of ( and ! beyond this is refused (the parser and the evaluator recurse). */
const MAX_DEPTH = 100;
/** Comparisons beyond this are refused (a chain of && or || nests as deep as it is long). */
const MAX_TERMS = 1000;

/**
 * Parses a filter. `known` catches typos before anything is loaded: the field names, or a map
 * from field name to its type, which also refuses comparisons that could never match
 * (`comm == 12`, `brk == "x"`).
 */
export function parseFilter(text: string, known?: Set<string> | Map<string, FieldType>): Filter {
  const toks = tokenize(text);
  let pos = 0;
  let depth = 0;
  let terms_ = 0;
  const peek = () => toks[pos];
  const next = () => toks[pos++];
  const shown = text.length > 80 ? `${text.slice(0, 60)}...` : text;
  const fail = (why: string): never => {
    throw new UsageError(`bad filter '${shown}': ${why}`);
  };

  function primary(): Node {
    const t = next();
    if (t === undefined) fail('it ends too early');
    if (t === '(' || t === '!') {
      if (++depth > MAX_DEPTH) fail(`it nests deeper than ${MAX_DEPTH} levels of ( and !`);
      let e: Node;
      if (t === '(') {
        e = or();
        if (next() !== ')') fail("a '(' is not closed");
      } else e = { op: '!', e: primary() };
      depth--;
      return e;
    }
    if (++terms_ > MAX_TERMS) fail(`more than ${MAX_TERMS} comparisons`);
    if (!/^[A-Za-z_]/.test(t)) fail(`expected a field name, got '${t}'`);
    if (known && !known.has(t)) fail(`no field '${t}' (fields: ${[...known.keys()].join(', ')})`);
    const cmp = next();
    if (!CMP.includes(cmp)) fail(`expected a comparison after '${t}'`);
    const v = next();
    if (v === undefined) fail(`'${t} ${cmp}' needs a value`);
    let value: bigint | string;
    if (/^["']/.test(v)) {
      if (cmp !== '==' && cmp !== '!=') fail('strings compare with == or != only');
      value = v.slice(1, -1).replace(/\\(.)/g, '$1');
    } else if (/^-?(0x[0-9a-fA-F]+|\d+)$/.test(v)) {
      value = v.startsWith('-') ? -BigInt(v.slice(1)) : BigInt(v);
    } else value = fail(`'${v}' is not a number or a "string"`);
    const type = known instanceof Map ? known.get(t) : undefined;
    if (type === 'other') fail(`'${t}' is an array or raw bytes: it compares with nothing`);
    if (type === 'string' && typeof value !== 'string') fail(`'${t}' is a string: compare it with a "string"`);
    if (type === 'number' && typeof value === 'string') fail(`'${t}' is a number: compare it with a number`);
    return { op: 'cmp', cmp, field: t, value };
  }
  function and(): Node {
    let l = primary();
    while (peek() === '&&') {
      next();
      l = { op: '&&', l, r: primary() };
    }
    return l;
  }
  function or(): Node {
    let l = and();
    while (peek() === '||') {
      next();
      l = { op: '||', l, r: and() };
    }
    return l;
  }
  const tree = or();
  if (pos < toks.length) fail(`unexpected '${toks[pos]}'`);

  function evaluate(n: Node, f: Fields): boolean {
    switch (n.op) {
      case '&&': return evaluate(n.l, f) && evaluate(n.r, f);
      case '||': return evaluate(n.l, f) || evaluate(n.r, f);
      case '!': return !evaluate(n.e, f);
    }
    const v = f[n.field];
    if (v === undefined || Array.isArray(v)) return false;
    if (typeof n.value === 'string') {
      const eq = String(v) === n.value;
      return n.cmp === '==' ? eq : !eq;
    }
    if (typeof v === 'string') return false;
    const a = BigInt(v);
    const b = n.value;
    switch (n.cmp) {
      case '==': return a === b;
      case '!=': return a !== b;
      case '<': return a < b;
      case '<=': return a <= b;
      case '>': return a > b;
      default: return a >= b;
    }
  }
  function terms(n: Node): NumericTerm[] | null {
    if (n.op === '&&') {
      const l = terms(n.l);
      const r = terms(n.r);
      return l && r ? [...l, ...r] : null;
    }
    if (n.op === 'cmp' && typeof n.value === 'bigint') return [{ field: n.field, cmp: n.cmp as NumericTerm['cmp'], value: n.value }];
    return null;
  }
  const fn = ((f: Fields) => evaluate(tree, f)) as Filter;
  fn.conjunction = terms(tree);
  return fn;
}
