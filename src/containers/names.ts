// SPDX-License-Identifier: Apache-2.0
// Container names from the runtimes' own state files, read-only: Docker's config.v2.json,
// containerd's and CRI-O's OCI config.json annotations (Kubernetes pod, namespace and container
// names are written there by the CRI plugin), so no runtime socket or Kubernetes API is needed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Runtime } from './ids';

export interface ContainerNames {
  name?: string;
  image?: string;
  pod?: string;
  namespace?: string;
  podUid?: string;
}

export interface RuntimeDirs {
  /** Docker's data root (config.v2.json under containers/<id>/) */
  docker: string;
  /** containerd's v2 task state: <ns>/<id>/config.json */
  containerdTasks: string;
  /** CRI-O (and podman) container state: <id>/userdata/config.json */
  crioContainers: string[];
}

export const DEFAULT_DIRS: RuntimeDirs = {
  docker: '/var/lib/docker',
  containerdTasks: '/run/containerd/io.containerd.runtime.v2.task',
  crioContainers: ['/run/containers/storage/overlay-containers', '/var/lib/containers/storage/overlay-containers'],
};

// bounded: a JSON file larger than this is not a runtime's config worth parsing on a scrape path
const MAX_CONFIG_BYTES = 4 << 20;

function readJson(file: string): Record<string, unknown> | null {
  try {
    const st = fs.statSync(file);
    if (!st.isFile() || st.size > MAX_CONFIG_BYTES) return null;
    const v = JSON.parse(fs.readFileSync(file, 'utf8'));
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function fromKubeAnnotations(a: Record<string, unknown>): ContainerNames {
  return {
    // containerd CRI
    name: str(a['io.kubernetes.cri.container-name']) ?? str(a['io.kubernetes.container.name']),
    pod: str(a['io.kubernetes.cri.sandbox-name']) ?? str(a['io.kubernetes.pod.name']),
    namespace: str(a['io.kubernetes.cri.sandbox-namespace']) ?? str(a['io.kubernetes.pod.namespace']),
    podUid: str(a['io.kubernetes.cri.sandbox-uid']) ?? str(a['io.kubernetes.pod.uid']),
    image: str(a['io.kubernetes.cri.image-name']),
  };
}

function docker(dirs: RuntimeDirs, id: string): ContainerNames | null {
  const c = readJson(path.join(dirs.docker, 'containers', id, 'config.v2.json'));
  if (!c) return null;
  const config = (c.Config ?? {}) as Record<string, unknown>;
  const labels = (config.Labels ?? {}) as Record<string, unknown>;
  const kube = fromKubeAnnotations(labels);
  return { ...kube, name: kube.name ?? str(c.Name)?.replace(/^\//, ''), image: str(config.Image) };
}

function ociAnnotations(file: string): ContainerNames | null {
  const c = readJson(file);
  if (!c) return null;
  const a = (c.annotations ?? {}) as Record<string, unknown>;
  return fromKubeAnnotations(a);
}

function containerd(dirs: RuntimeDirs, id: string): ContainerNames | null {
  let namespaces: string[];
  try {
    namespaces = fs.readdirSync(dirs.containerdTasks);
  } catch {
    return null;
  }
  for (const ns of namespaces) {
    const r = ociAnnotations(path.join(dirs.containerdTasks, ns, id, 'config.json'));
    if (r) return r;
  }
  return null;
}

function crio(dirs: RuntimeDirs, id: string): ContainerNames | null {
  for (const d of dirs.crioContainers) {
    const r = ociAnnotations(path.join(d, id, 'userdata', 'config.json'));
    if (r) return r;
  }
  return null;
}

/** The names a runtime recorded for a container id; tries every runtime when it is unknown. */
export function containerNames(id: string, runtime: Runtime | undefined, dirs: RuntimeDirs = DEFAULT_DIRS): ContainerNames | null {
  if (!/^[0-9a-f]{64}$/.test(id)) return null; // never a path component we did not parse
  const order: ((d: RuntimeDirs, i: string) => ContainerNames | null)[] =
    runtime === 'docker'
      ? [docker]
      : runtime === 'containerd'
        ? [containerd]
        : runtime === 'crio' || runtime === 'podman'
          ? [crio]
          : [containerd, crio, docker];
  for (const f of order) {
    const r = f(dirs, id);
    if (r) return r;
  }
  return null;
}
