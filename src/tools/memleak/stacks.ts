// SPDX-License-Identifier: Apache-2.0
// User stacks of memleak's allocations, and how far each can be trusted. With --unwind dwarf or
// auto, an allocation's stack is a sample (registers and stack top) unwound with CFI as it
// arrives, found again by the number BPF gave it; otherwise it is the frame-pointer walk BPF
// made, cut where CFI says the function passed through keeps no frame pointer (there the walk
// read whatever rbp held, and its "callers" would be made up).
import type { BpfObject } from '../../engine/bpf-object';
import type { Frame } from '../../core/frames';
import type { Symbolizer } from '../../symbols/symbolizer';
import { accountEventStacks, DwarfStacks, ringBytes, unwindConsts, UnwindOptions } from '../../unwind/dwarf-stacks';
import type { Settings } from './options';
import { UNWIND_QUEUE_BYTES } from '../../symbols/cache-caps';

/** Samples kept at most (memory stays bounded): ids no longer outstanding are dropped at each report. */
const MAX_SAMPLES = 300_000;

export class UserStacks {
  readonly dwarf: DwarfStacks;
  /** sample number -> its frames, the probed function (malloc itself) left out */
  private samples = new Map<bigint, Frame[]>();
  /** samples that arrived since the last report: kept even if not yet in allocs (in flight) */
  private fresh = new Set<bigint>();
  /** frames interned by their text, so equal stacks share one array */
  private interned = new Map<string, Frame[]>();
  dropped = 0;

  constructor(
    private readonly s: Settings,
    private readonly symbolizer: Symbolizer,
  ) {
    this.dwarf = new DwarfStacks(symbolizer);
    this.dwarf.perEvent = (_tid, frames, id) => {
      if (this.samples.size >= MAX_SAMPLES) {
        this.dropped++;
        return;
      }
      const own = frames.slice(1);
      const key = own.map((f) => `${f.module}:${f.symbol}:${f.offset}:${f.addr}`).join('|');
      let shared = this.interned.get(key);
      if (!shared) this.interned.set(key, (shared = own));
      this.samples.set(id, shared);
      this.fresh.add(id);
    };
  }

  /** runTrace consts: the unwinding mode of stacks.h. */
  consts(): Record<string, number | boolean> {
    // each sample is unwound on its own (perEvent), its frame-pointer stack never read: BPF
    // leaves it out (bpf_get_stackid was a third of a sample's cost, into a 1-entry map)
    return { ...unwindConsts(this.options()), ms_sample_fp_stack: false };
  }

  private options(): UnwindOptions {
    const { opts } = this.s;
    return { unwind: this.s.unwind, unwindBytes: opts.unwindBytes, unwindRate: opts.unwindRate };
  }

  /** Before load: the sample ring (mapping notes need it in every mode). */
  configure(obj: BpfObject): void {
    obj.setMaxEntries('ms_dwarf_exec_vm', 8192).setMaxEntries('ms_dwarf_samples', this.s.unwind === 'fp' ? 1 << 20 : ringBytes(this.options()));
  }

  listen(obj: BpfObject): void {
    this.dwarf.listen(obj);
  }

  /** Lets the samples still in the ring buffer arrive, and waits for them to be unwound (before a
   * report; the ring's consumer goes on meanwhile). */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 15));
    await this.dwarf.caughtUp();
  }

  /** The frames of a sampled allocation. */
  sampled(id: bigint): Frame[] {
    return this.samples.get(id) ?? [note('no stack sample arrived')];
  }

  /** After a report: forgets samples whose allocations are gone. */
  prune(outstanding: Set<bigint>): void {
    for (const id of this.samples.keys()) if (!outstanding.has(id) && !this.fresh.has(id)) this.samples.delete(id);
    this.fresh.clear();
    if (this.interned.size > 4 * this.samples.size + 1024) this.interned.clear();
  }

  /**
   * A frame-pointer stack (the caller of malloc first), up to the last frame whose caller the
   * walk could find: past a function that keeps no frame pointer it ends with a marker.
   */
  trusted(pid: number, frames: Frame[], ips: bigint[]): Frame[] {
    // the last frame too: a walk that ended there ended on whatever rbp held, not at the outermost
    // frame (the walk from _start or clone3 never gets that far: they keep rbp 0)
    for (let i = 0; i < frames.length; i++) {
      if (this.dwarf.unwinder.keepsFramePointer(pid, Number(ips[i])) === true) continue;
      const fn = frames[i].symbol ?? '[unknown]';
      return [...frames.slice(0, i + 1), note(`no frame pointer in ${fn}: try --unwind dwarf`)];
    }
    return frames;
  }

  /**
   * The end-of-run line of where each allocation's stack came from (DWARF modes): DWARF-sampled,
   * frame pointers because the sample ring was full or over the rate, samples not kept past
   * MAX_SAMPLES; with memscope's peak RSS. One JSON object on stderr with --json.
   */
  accounting(obj: BpfObject, json: boolean): string | null {
    if (this.s.unwind === 'fp') return null;
    const e = accountEventStacks(obj, this.dwarf); // as mmapsnoop -U's; memleak's JSON names stay
    const a = {
      dwarf_sampled: e.dwarf,
      fp_ring_full: e.fp_ring_full,
      fp_over_rate: e.fp_over_rate,
      unwound_queue_full: e.unwound_queue_full,
      samples_not_kept: this.dropped,
      dropped_kernel: Number(obj.readGlobalU64('lost_events')),
      peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    };
    if (json) return JSON.stringify({ accounting: a });
    const n = (v: number) => v.toLocaleString('en-US');
    return (
      `memscope: allocation stacks: ${n(a.dwarf_sampled)} DWARF-sampled (${n(a.unwound_queue_full)} while the ring waited, unwind queue full over ${n(UNWIND_QUEUE_BYTES >> 20)} MiB), frame pointers for ${n(a.fp_ring_full)} (sample ring full) ` +
      `and ${n(a.fp_over_rate)} (over the rate), ${n(a.samples_not_kept)} samples not kept (over ${n(MAX_SAMPLES)}), ` +
      `${n(a.dropped_kernel)} events dropped (kernel map full); memscope's peak RSS ${n(Math.round(a.peak_rss_bytes / 1048576))} MiB`
    );
  }

  /** --verbose lines. */
  summary(obj: BpfObject): string[] {
    if (this.s.unwind === 'fp') return [];
    const lines = this.dwarf.summary(obj, this.options());
    if (this.dropped) lines.push(`user stacks: ${this.dropped} samples not kept (more than ${MAX_SAMPLES} outstanding)`);
    return lines;
  }
}

function note(text: string): Frame {
  return { addr: 0n, symbol: `[unwind stopped: ${text}]`, offset: 0, module: null, note: true };
}
