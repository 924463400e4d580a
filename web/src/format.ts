// SPDX-License-Identifier: Apache-2.0
// Numbers as people read them.
const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

export function kb(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${n < 0 ? '-' : ''}${v >= 100 || (i === 0 && Number.isInteger(v)) ? Math.round(v) : v.toFixed(1)} ${UNITS[i]}`;
}

export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  return Math.abs(n) < 1024 ? `${Math.round(n)} B` : kb(n / 1024);
}

export function int(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US');
}

export function rate(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  return n !== 0 && Math.abs(n) < 10 ? n.toFixed(1) : int(n);
}

export function time(ms: number): string {
  return new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
}

export function dateTime(ms: number): string {
  const d = new Date(ms);
  return `${d.toISOString().slice(0, 10)} ${time(ms)}`;
}
