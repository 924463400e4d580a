// SPDX-License-Identifier: Apache-2.0
// profile.proto (google/pprof), gzip-compressed as Go's net/http/pprof serves it, through the
// pprof-format encoder: one renderer for the agent's HTTP profiles and the tools' --pprof files.
// Functions are named by memscope's symbolizer (mappings say has_functions, so pprof does not
// try to symbolize again); a sample's first location is its leaf, as pprof requires.
import { gzipSync } from 'node:zlib';
import { Function as PFunction, Label, Line, Location, Mapping, Profile, Sample, StringTable, ValueType } from 'pprof-format';
import type { Frame } from '../core/frames';

export interface ModuleInfo {
  /** the file as mapped (full path when known) */
  file: string;
  buildId?: string | null;
  start?: bigint;
  end?: bigint;
  offset?: bigint;
}

export interface PprofStack {
  /** one value per sample type */
  values: number[];
  /** innermost first */
  user: Frame[];
  kernel: Frame[];
  pid: number;
  comm: string;
  /** string labels (container, cgroup, kind...) */
  labels?: Record<string, string>;
  /** numeric labels with units (e.g. bytes: block size) */
  numLabels?: Record<string, { value: number; unit?: string }>;
}

export interface PprofSpec {
  /** [type, unit] per value, e.g. ['faults', 'count'] */
  sampleTypes: [string, string][];
  periodType?: [string, string];
  period?: number;
  /** the sample type pprof shows by default */
  defaultSampleType?: string;
  durationNs?: number;
  timeNs?: number;
  stacks: PprofStack[];
  /** The file and build id behind a user frame of pid (the module name alone when undefined). */
  moduleOf?: (pid: number, f: Frame) => ModuleInfo | undefined;
  comments?: string[];
}

export function encodeProfile(spec: PprofSpec): Profile {
  const st = new StringTable();
  const functions: PFunction[] = [];
  const locations: Location[] = [];
  const mappings: Mapping[] = [];
  const fnIds = new Map<string, number>();
  const locIds = new Map<string, number>();
  const mapIds = new Map<string, number>();

  const mappingId = (key: string, info: ModuleInfo): number => {
    let id = mapIds.get(key);
    if (id === undefined) {
      id = mappings.length + 1;
      mapIds.set(key, id);
      mappings.push(
        new Mapping({
          id,
          memoryStart: info.start ?? 0n,
          memoryLimit: info.end ?? 0n,
          fileOffset: info.offset ?? 0n,
          filename: st.dedup(info.file),
          buildId: st.dedup(info.buildId ?? ''),
          hasFunctions: true,
        }),
      );
    }
    return id;
  };

  const functionId = (name: string, file: string): number => {
    const key = `${name}\0${file}`;
    let id = fnIds.get(key);
    if (id === undefined) {
      id = functions.length + 1;
      fnIds.set(key, id);
      functions.push(new PFunction({ id, name: st.dedup(name), systemName: st.dedup(name), filename: st.dedup(file) }));
    }
    return id;
  };

  const locationId = (pid: number, f: Frame, kernel: boolean): number => {
    const info: ModuleInfo = kernel ? { file: '[kernel.kallsyms]' } : (spec.moduleOf?.(pid, f) ?? { file: f.module ?? '[unknown]' });
    const mapKey = `${info.file}\0${info.buildId ?? ''}\0${info.start ?? ''}`;
    const name = f.note ? (f.symbol ?? '[unknown]') : (f.symbol ?? (f.module ? `[${f.module}]` : '[unknown]'));
    // the same function at the same address in the same file is one location, whichever process
    const key = `${mapKey}\0${f.addr}\0${name}`;
    let id = locIds.get(key);
    if (id === undefined) {
      id = locations.length + 1;
      locIds.set(key, id);
      locations.push(new Location({ id, mappingId: mappingId(mapKey, info), address: f.addr, line: [new Line({ functionId: functionId(name, info.file) })] }));
    }
    return id;
  };

  const samples = spec.stacks.map((s) => {
    const locs = [...s.kernel.map((f) => locationId(s.pid, f, true)), ...s.user.map((f) => locationId(s.pid, f, false))];
    const label: Label[] = [
      new Label({ key: st.dedup('pid'), num: s.pid }),
      new Label({ key: st.dedup('comm'), str: st.dedup(s.comm) }),
      ...Object.entries(s.labels ?? {}).map(([k, v]) => new Label({ key: st.dedup(k), str: st.dedup(v) })),
      ...Object.entries(s.numLabels ?? {}).map(([k, v]) => new Label({ key: st.dedup(k), num: v.value, numUnit: v.unit ? st.dedup(v.unit) : 0 })),
    ];
    return new Sample({ locationId: locs, value: s.values, label });
  });

  return new Profile({
    sampleType: spec.sampleTypes.map(([t, u]) => new ValueType({ type: st.dedup(t), unit: st.dedup(u) })),
    periodType: spec.periodType ? new ValueType({ type: st.dedup(spec.periodType[0]), unit: st.dedup(spec.periodType[1]) }) : undefined,
    period: spec.period ?? (spec.periodType ? 1 : 0),
    defaultSampleType: spec.defaultSampleType ? st.dedup(spec.defaultSampleType) : 0,
    sample: samples,
    mapping: mappings,
    location: locations,
    function: functions,
    stringTable: st,
    timeNanos: spec.timeNs ?? BigInt(Date.now()) * 1_000_000n,
    durationNanos: spec.durationNs ?? 0,
    comment: (spec.comments ?? []).map((c) => st.dedup(c)),
  });
}

/** Go's heap profile layout (runtime/pprof protomem.go), which pprof front ends know by name. */
export const HEAP_SAMPLE_TYPES: [string, string][] = [
  ['alloc_objects', 'count'],
  ['alloc_space', 'bytes'],
  ['inuse_objects', 'count'],
  ['inuse_space', 'bytes'],
];

/** The gzip-compressed profile, as `go tool pprof` reads files and HTTP bodies. */
export function renderPprof(spec: PprofSpec): Buffer {
  return gzipSync(Buffer.from(encodeProfile(spec).encode()));
}
