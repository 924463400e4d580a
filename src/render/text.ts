// SPDX-License-Identifier: Apache-2.0
// Text from processes (command lines, names) made safe to print the way procps prints it.

/** A command line as ps and pmap (procps 4) show it, so one process stays one line: a newline
 * becomes a space (procps's reader does that), every other control character (tab, CR, escape,
 * DEL) becomes "?". */
export function procpsArgs(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\n/g, ' ').replace(/[\x00-\x1f\x7f]/g, '?');
}
