// SPDX-License-Identifier: Apache-2.0
// Names memscope prints come from other people: process names (anyone can exec -a anything),
// command lines, file names, symbol names of their binaries, JIT perf maps. Printed raw, an ESC
// sequence acts on the reader's terminal and a newline fakes a table row. Text output shows such
// characters escaped, as `ls -b` and `ps` do; SVG/HTML get the same visible escapes (a raw control
// character makes the XML invalid and the browser refuses the page). JSON keeps exact values.

// C0 controls, DEL, C1 controls (U+009B is a one-character CSI on some terminals), line and
// paragraph separators, bidirectional overrides and isolates (they reorder the text around them),
// the noncharacters XML forbids, and lone surrogates. A backslash is shown doubled, as `ls -b`
// does: otherwise a name that really contains the four characters `\x1b` would print exactly like
// one that contains an ESC.
/* eslint-disable no-control-regex -- finding control characters is the point */
const CONTROLS =
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const UNSAFE = new RegExp(`[\\\\]|${CONTROLS.source}`, 'g');
/* eslint-enable no-control-regex */

const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\t': '\\t', '\r': '\\r', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\0': '\\0' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One line of text safe for a terminal: every non-printable character shown as an escape (\x1b, \n). */
export function escapeText(s: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(s) ? s.replace(UNSAFE, escapeChar) : s;
}

/** Control characters escaped, a backslash left as it is: for text that is already escaped once,
 * such as folded stacks (memscope's own, or a file written by another tool), drawn in an SVG. */
export function escapeControls(s: string): string {
  CONTROLS.lastIndex = 0;
  return CONTROLS.test(s) ? s.replace(CONTROLS, escapeChar) : s;
}

/** Control characters escaped but tabs and line breaks kept, a backslash left as it is: for
 * multi-line text memscope composed itself from names it already escaped (HTML <pre> blocks, the
 * last-line filter on stdout), where only a name a renderer missed might carry a raw control. */
export function escapeTextKeepLines(s: string): string {
  return s.replace(CONTROLS, (c) => (c === '\n' || c === '\t' ? c : escapeChar(c)));
}

/** <>&" as XML entities, for text already free of control characters. */
export function xmlEntities(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Text for XML/HTML element content or a double-quoted attribute: escaped as text, then <>&". */
export function escapeXml(s: string, keepLines = false): string {
  return xmlEntities(keepLines ? escapeTextKeepLines(s) : escapeText(s));
}

const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON text with the characters JSON.stringify leaves raw (DEL, C1, separators, bidi) written as
 * \\uXXXX: the same value for a parser, nothing that acts on a terminal. */
export function jsonSafe(json: string): string {
  JSON_UNSAFE.lastIndex = 0;
  return JSON_UNSAFE.test(json) ? json.replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}
