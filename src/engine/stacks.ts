// SPDX-License-Identifier: Apache-2.0
// Sizing and reading the shared stack maps (bpf/include/stacks.h).
import { userFramesText, type UserFrame } from '../core/frames';
import type { BpfObject } from './bpf-object';
import * as os from 'node:os';

/**
 * The stack maps a tool uses, sized before load (each is 1 entry otherwise): build-id user stacks
 * (ms_ustacks), walked user stacks (ms_walked_ustacks, with ms_plain_ustacks set), kernel stacks
 * (ms_kstacks, stored as walked stacks are). Walked stacks also switch ms_plain_ustacks on: their frames resolve through the
 * executable mappings BPF sends on ms_dwarf_samples (DwarfStacks.listen records them).
 */
export function sizeStackMaps(obj: BpfObject, sizes: { buildId?: number; walked?: number; kernel?: number }): void {
  if (sizes.buildId) obj.setMaxEntries('ms_ustacks', sizes.buildId);
  if (sizes.walked)
    obj
      .setConst('ms_plain_ustacks', true)
      .setMaxEntries('ms_walked_ustacks', sizes.walked)
      .setMaxEntries('ms_dwarf_exec_vm', 8192)
      .setMaxEntries('ms_sent_maps', 65536);
  if (sizes.kernel) obj.setMaxEntries('ms_kstacks', sizes.kernel);
}

/** Events whose stack the kernel side could not store (stacks.h ms_store_stack), by kind and why:
 * the store was full, or MS_WALK_PROBES ids in a row held other stacks. Each such event is still
 * counted, under a [missed ... stack] frame (stack-counts.ts missed). Build-id stacks (ms_ustacks,
 * bpf_get_stackid) keep no such count: their losses show only as missed frames. */
export interface StacksLost {
  user_full: number;
  user_collided: number;
  kernel_full: number;
  kernel_collided: number;
}

export function stacksLost(obj: BpfObject): StacksLost {
  const g = (name: string) => (obj.hasGlobal(name) ? Number(obj.readGlobalU64(name)) : 0);
  return {
    user_full: g('ms_walked_full'),
    user_collided: g('ms_walked_collided'),
    kernel_full: g('ms_kstacks_full'),
    kernel_collided: g('ms_kstacks_collided'),
  };
}

const BUILD_ID_ENTRY = 32; // struct bpf_stack_build_id: s32 status, u8 build_id[20], u64 offset|ip
const BUILD_ID_VALID = 1;
const BUILD_ID_IP = 2;

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** The addresses of a value laid out as struct ms_walked_stack (walked user and kernel stacks). */
function walkedAddrs(v: Buffer | null): bigint[] {
  const addrs: bigint[] = [];
  if (v) {
    const nr = Math.min(v.readUInt32LE(8), (v.length - 16) / 8);
    if (LITTLE_ENDIAN && (v.byteOffset + 16) % 8 === 0) {
      // a view's element is one bigint made natively; readBigUInt64LE makes three and shifts
      // (4x slower: the agent decodes every new stack of the host)
      const ips = new BigUint64Array(v.buffer, v.byteOffset + 16, nr);
      for (let i = 0; i < nr; i++) addrs.push(ips[i]);
    } else for (let i = 0; i < nr; i++) addrs.push(v.readBigUInt64LE(16 + i * 8));
  }
  return addrs;
}

function decodeWalked(v: Buffer | null): UserFrame[] {
  return walkedAddrs(v).map((ip) => ({ ip }));
}

/** A walked stack's frames as userFramesText writes them, straight from the map's value: no frame
 * object and no bigint per frame (a user address is below 2^53, exact as a number). */
function walkedText(v: Buffer | null): string {
  if (!v) return '';
  const nr = Math.min(v.readUInt32LE(8), (v.length - 16) / 8);
  const parts = new Array<string>(nr);
  for (let i = 0; i < nr; i++) {
    const lo = v.readUInt32LE(16 + i * 8);
    const hi = v.readUInt32LE(20 + i * 8);
    parts[i] = hi < 0x20_0000 ? (hi * 0x1_0000_0000 + lo).toString(16) : v.readBigUInt64LE(16 + i * 8).toString(16);
  }
  return parts.join(',');
}

export class StackReader {
  private user = new Map<number, UserFrame[]>();
  private kernel = new Map<number, bigint[]>();
  private plain = new Map<number | string, UserFrame[]>();
  private texts = new Map<number, string>();
  /** Walked stacks' program images (userStackImage), read with their frames. */
  private images = new Map<number, bigint>();

  /** Whether the object captured walked user stacks (ms_plain_ustacks in stacks.h). */
  private readonly plainUser: boolean;

  /** maxCached: stacks kept read (beyond it a stack is read again when asked for): a reader kept
   * for long (the agent's) stays bounded */
  /** walkedMap: the map of walked stacks to read (the agent's fault traces keep their own) */
  constructor(
    private readonly obj: BpfObject,
    private readonly maxCached = Infinity,
    private readonly walkedMap = 'ms_walked_ustacks',
  ) {
    this.plainUser = obj.hasGlobal('ms_plain_ustacks') && obj.readGlobalU8('ms_plain_ustacks') !== 0;
  }

  private key(id: number): Buffer {
    const k = Buffer.alloc(4);
    k.writeInt32LE(id);
    return k;
  }

  /** Frames of a user stack id, innermost first; [] for a failed capture (negative id). */
  userStack(id: number): UserFrame[] {
    if (this.plainUser) return this.walkedStack(id);
    if (id < 0) return [];
    let frames = this.user.get(id);
    if (frames) return frames;
    frames = [];
    const v = this.obj.lookup('ms_ustacks', this.key(id));
    if (v) {
      for (let o = 0; o + BUILD_ID_ENTRY <= v.length; o += BUILD_ID_ENTRY) {
        const status = v.readInt32LE(o);
        if (status === BUILD_ID_VALID) {
          frames.push({ buildId: v.toString('hex', o + 4, o + 24), fileOffset: v.readBigUInt64LE(o + 24) });
        } else if (status === BUILD_ID_IP) {
          frames.push({ ip: v.readBigUInt64LE(o + 24) });
        } else break;
      }
    }
    if (this.user.size < this.maxCached) this.user.set(id, frames);
    return frames;
  }

  /** Forgets what was read of a user stack id the caller deleted from its map (a later stack may
   * take the id): a reader kept across collections reads each live stack once. */
  forgetUser(id: number): void {
    this.user.delete(id);
    this.plain.delete(id);
    this.texts.delete(id);
    this.images.delete(id);
  }

  /** The same for a kernel stack id (interval modes free old kernel stacks too). */
  forgetKernel(id: number): void {
    this.kernel.delete(id);
  }

  /** The program image a walked user stack is of (the low 32 bits of mm->start_stack: a symbolizer
   * image, sameImage); undefined for build-id stacks (their frames need no maps) or an id not found. */
  userStackImage(id: number): bigint | undefined {
    if (!this.plainUser || id < 0) return undefined;
    const known = this.images.get(id);
    if (known !== undefined) return known;
    const v = this.obj.lookup(this.walkedMap, this.key(id));
    return v ? BigInt(v.readUInt32LE(12)) : undefined;
  }

  /** Frames of a walked user stack (struct ms_walked_stack: u64 hash, u32 nr, u32 image, u64 ips[]). */
  private walkedStack(id: number): UserFrame[] {
    if (id < 0) return [];
    let frames = this.plain.get(id);
    if (frames) return frames;
    const v = this.obj.lookup(this.walkedMap, this.key(id));
    frames = decodeWalked(v);
    if (this.plain.size < this.maxCached) {
      this.plain.set(id, frames);
      if (v) this.images.set(id, BigInt(v.readUInt32LE(12)));
    }
    return frames;
  }

  /** userStack of many ids: the walked stacks not read yet are looked up in one call into the
   * addon (a collection reads thousands; one call and one Buffer each was most of its time). */
  userStacks(ids: number[]): UserFrame[][] {
    if (!this.plainUser) return ids.map((id) => this.userStack(id));
    const out: UserFrame[][] = new Array(ids.length);
    const missing: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const f = id < 0 ? [] : this.plain.get(id);
      if (f) out[i] = f;
      else missing.push(i);
    }
    if (!missing.length) return out;
    const walked = this.lookupWalked(ids, missing);
    missing.forEach((i, j) => {
      // the same id twice in one call: read once
      let frames = this.plain.get(ids[i]);
      if (!frames) {
        frames = decodeWalked(walked(j));
        if (this.plain.size < this.maxCached) this.plain.set(ids[i], frames);
      }
      out[i] = frames;
    });
    return out;
  }

  /** userStacks as userFramesText strings ('' for a failed capture), kept by id instead of the
   * frames: a reader kept across collections (the agent's) holds a flat string per live stack,
   * ~450 bytes for 32 frames against ~1.5 KiB of objects and bigints, and reads no frame object.
   * images: filled with each walked stack's program image (userStackImage's low 32 bits; 0 for
   * none), read with its frames. */
  userStackTexts(ids: number[], images?: number[]): string[] {
    const out: string[] = new Array(ids.length);
    const missing: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const t = id < 0 ? '' : this.texts.get(id);
      if (t !== undefined) {
        out[i] = t;
        if (images) images[i] = id < 0 ? 0 : Number(this.images.get(id) ?? 0n);
      } else missing.push(i);
    }
    if (!missing.length) return out;
    const keep = (id: number, t: string, image: number) => {
      if (this.texts.size >= this.maxCached) return;
      this.texts.set(id, t);
      if (image) this.images.set(id, BigInt(image));
    };
    if (!this.plainUser) {
      for (const i of missing) {
        keep(ids[i], (out[i] = userFramesText(this.userStack(ids[i]))), 0);
        if (images) images[i] = 0;
      }
      return out;
    }
    const walked = this.lookupWalked(ids, missing);
    missing.forEach((i, j) => {
      const v = walked(j);
      const image = v ? v.readUInt32LE(12) : 0;
      // the same id twice in one call: read once
      let t = this.texts.get(ids[i]);
      if (t === undefined) keep(ids[i], (t = walkedText(v)), image);
      out[i] = t;
      if (images) images[i] = image;
    });
    return out;
  }

  /** The walked-stack map's values of ids[missing[j]], read in one call: the j-th, or null where
   * the id has no entry. */
  private lookupWalked(ids: number[], missing: number[]): (j: number) => Buffer | null {
    const keys = Buffer.allocUnsafe(missing.length * 4);
    missing.forEach((i, j) => keys.writeInt32LE(ids[i], j * 4));
    const { values, found } = this.obj.lookupKeys(this.walkedMap, keys);
    const vs = values.length / missing.length;
    return (j) => (found[j] ? values.subarray(j * vs, (j + 1) * vs) : null);
  }

  /** Frames of a plain-address user stack id, innermost first, from a map of a u32 id to
   * zero-terminated u64 addresses (memleak's ml_stacks). */
  userStackPlain(id: number, map: string): UserFrame[] {
    if (id < 0) return [];
    const cacheKey = `${map}/${id}`;
    let frames = this.plain.get(cacheKey);
    if (frames) return frames;
    frames = [];
    const v = this.obj.lookup(map, this.key(id));
    if (v) {
      for (let o = 0; o + 8 <= v.length; o += 8) {
        const ip = v.readBigUInt64LE(o);
        if (ip === 0n) break;
        frames.push({ ip });
      }
    }
    this.plain.set(cacheKey, frames);
    return frames;
  }

  /** Addresses of a kernel stack id, innermost first. */
  kernelStack(id: number): bigint[] {
    if (id < 0) return [];
    let addrs = this.kernel.get(id);
    if (addrs) return addrs;
    addrs = walkedAddrs(this.obj.lookup('ms_kstacks', this.key(id)));
    if (this.kernel.size < this.maxCached) this.kernel.set(id, addrs);
    return addrs;
  }
}
