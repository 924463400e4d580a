// SPDX-License-Identifier: Apache-2.0
// Container and pod identities read from a cgroup path alone, as runtimes name their cgroups
// (cgroupfs and systemd drivers): no runtime or orchestrator API is asked.
export type Runtime = 'docker' | 'containerd' | 'crio' | 'podman' | 'kubernetes';

export interface CgroupIdentity {
  /** the 64-hex container id, when the path is a container's */
  containerId?: string;
  runtime?: Runtime;
  /** the Kubernetes pod uid (dashes restored), when the path lies under kubepods */
  podUid?: string;
}

const HEX64 = '[0-9a-f]{64}';

// One pattern per naming scheme, matched against each path component (deepest wins).
const COMPONENT_PATTERNS: { re: RegExp; runtime: Runtime }[] = [
  { re: new RegExp(`^docker-(${HEX64})\\.scope$`), runtime: 'docker' },
  { re: new RegExp(`^cri-containerd-(${HEX64})\\.scope$`), runtime: 'containerd' },
  { re: new RegExp(`^cri-containerd:(${HEX64})$`), runtime: 'containerd' },
  { re: new RegExp(`^crio-(${HEX64})\\.scope$`), runtime: 'crio' },
  { re: new RegExp(`^libpod-(${HEX64})\\.scope$`), runtime: 'podman' },
];

const POD_SYSTEMD = /^kubepods(?:-[a-z]+)*-pod([0-9a-f_]{36})\.slice$/;
const POD_CGROUPFS = /^pod([0-9a-f-]{36})$/;

export function identifyCgroup(cgroupPath: string): CgroupIdentity {
  const comps = cgroupPath.split('/').filter(Boolean);
  const out: CgroupIdentity = {};
  const underKubepods = comps.some((c) => c === 'kubepods' || c.startsWith('kubepods-') || c === 'kubepods.slice');
  for (let i = 0; i < comps.length; i++) {
    const c = comps[i];
    if (underKubepods) {
      const sd = POD_SYSTEMD.exec(c);
      if (sd) out.podUid = sd[1].replace(/_/g, '-');
      const fs = POD_CGROUPFS.exec(c);
      if (fs) out.podUid = fs[1];
    }
    for (const p of COMPONENT_PATTERNS) {
      const m = p.re.exec(c);
      if (m) {
        out.containerId = m[1];
        out.runtime = p.runtime;
      }
    }
    // cgroupfs driver: "/docker/<id>"; under kubepods a bare id below pod<uid> (containerd, CRI-O)
    if (new RegExp(`^${HEX64}$`).test(c)) {
      if (comps[i - 1] === 'docker') {
        out.containerId = c;
        out.runtime = 'docker';
      } else if (out.podUid) {
        out.containerId = c;
        out.runtime = 'kubernetes';
      }
    }
  }
  return out;
}
