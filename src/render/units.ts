// SPDX-License-Identifier: Apache-2.0
// Human-readable sizes in the styles users already read: free -h, swapon, and plain "12.3 MB".

/** free(1) -h (procps): the first unit whose "%.1f" or truncated "%d" fits 4 characters; "Ki"/"Mi"/"Gi". */
export function freeHuman(kb: number): string {
  const bytes = kb * 1024;
  if (bytes < 1024) return `${bytes}B`;
  const units = ['K', 'M', 'G', 'T', 'P', 'E'];
  for (let i = 0; i < units.length; i++) {
    const v = bytes / 1024 ** (i + 1);
    const f = `${v.toFixed(1)}${units[i]}`;
    if (f.length <= 4) return f + 'i';
    const d = `${Math.trunc(v)}${units[i]}`;
    if (d.length <= 4) return d + 'i';
  }
  return `${bytes}B`;
}

/** util-linux (swapon, lsblk): one rounded decimal, dropped when zero: "980M", "1.5G", "0B". */
export function utilLinuxHuman(bytes: number): string {
  const letters = 'BKMGTPE';
  let exp = 0;
  while (exp < letters.length - 1 && bytes >= 1024 ** (exp + 1)) exp++;
  let dec = Math.floor(bytes / 1024 ** exp);
  let frac = exp === 0 ? 0 : Math.floor(((bytes / 1024 ** exp - dec) * 1000 + 50) / 100);
  if (frac >= 10) {
    dec++;
    frac = 0;
  }
  return frac ? `${dec}.${frac}${letters[exp]}` : `${dec}${letters[exp]}`;
}

/** "512 kB", "63.8 MiB", "5.1 GiB" for reports: binary units, labelled as such (kB as /proc writes it). */
export function humanKb(kb: number): string {
  if (kb < 0) return '-' + humanKb(-kb);
  if (kb < 1024) return `${Math.round(kb)} kB`;
  if (kb < 1024 * 1024) return `${(kb / 1024).toFixed(1)} MiB`;
  return `${(kb / 1024 / 1024).toFixed(1)} GiB`;
}
