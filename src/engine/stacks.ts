// Reading captured stacks out of the shared stack maps (bpf/include/stacks.h).
import type { UserFrame } from '../core/frames';
import type { BpfObject } from './bpf-object';

const BUILD_ID_ENTRY = 32; // struct bpf_stack_build_id: s32 status, u8 build_id[20], u64 offset|ip
const BUILD_ID_VALID = 1;
const BUILD_ID_IP = 2;

export class StackReader {
  private user = new Map<number, UserFrame[]>();
  private kernel = new Map<number, bigint[]>();
  private plain = new Map<number | string, UserFrame[]>();

  /** Whether the object captured plain-address user stacks (ms_plain_ustacks in stacks.h). */
  private readonly plainUser: boolean;

  constructor(private readonly obj: BpfObject) {
    this.plainUser = obj.hasGlobal('ms_plain_ustacks') && obj.readGlobalU8('ms_plain_ustacks') !== 0;
  }

  private key(id: number): Buffer {
    const k = Buffer.alloc(4);
    k.writeInt32LE(id);
    return k;
  }

  /** Frames of a user stack id, innermost first; [] for a failed capture (negative id). */
  userStack(id: number): UserFrame[] {
    if (this.plainUser) return this.userStackPlain(id);
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
    this.user.set(id, frames);
    return frames;
  }

  /** Frames of a plain-address user stack id, innermost first: ms_ustacks_plain
   * (ms_plain_ustacks), or any map from a u32 id to zero-terminated u64 addresses. */
  userStackPlain(id: number, map = 'ms_ustacks_plain'): UserFrame[] {
    if (id < 0) return [];
    const cacheKey = map === 'ms_ustacks_plain' ? id : `${map}/${id}`;
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
    addrs = [];
    const v = this.obj.lookup('ms_kstacks', this.key(id));
    if (v) {
      for (let o = 0; o + 8 <= v.length; o += 8) {
        const a = v.readBigUInt64LE(o);
        if (a === 0n) break;
        addrs.push(a);
      }
    }
    this.kernel.set(id, addrs);
    return addrs;
  }
}
