// SPDX-License-Identifier: Apache-2.0
// One JSON object per line on stdout for each notable event (start, OOM kill, lost events,
// reload, stop): what log shippers read. JSON.stringify escapes control characters.
export type LogFields = Record<string, unknown>;

let sink: (line: string) => void = (line) => process.stdout.write(line);

export function logEvent(event: string, fields: LogFields = {}): void {
  sink(JSON.stringify({ time: new Date().toISOString(), event, ...fields }, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)) + '\n');
}

/** For tests of the modules that log. */
export function setLogSink(f: (line: string) => void): void {
  sink = f;
}
