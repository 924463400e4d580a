// SPDX-License-Identifier: Apache-2.0
// The unwind queue's storage: samples copied, oldest first, into one buffer allocated once and
// used as a ring. A copy per sample into a Buffer of its own (Buffer.from) gave each sample a
// backing store of its own: at 30-40k samples/s system-wide, that allocation, its copy and the
// collector's sweeping of 8 KiB stores took more of the consumer's time than unwinding.

/** A slot already taken back (lets the garbage collector have its view). */
const EMPTY = Buffer.alloc(0);

export class SampleQueue {
  /** Allocated at the first push; its pages become resident only as far as the ring reaches, and
   * the ring starts again at 0 whenever it empties (so a quiet run touches a few pages). */
  private buf: Buffer | null = null;
  /** Views of the queued records, oldest from head. */
  private views: Buffer[] = [];
  private head = 0;
  /** Where the oldest record starts and the next one is written; wrapped: the records lie in
   * [r, the end of the last record before the wrap) and [0, w), else in [r, w). */
  private r = 0;
  private w = 0;
  private wrapped = false;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.views.length - this.head;
  }

  /** Copies rec in at the end; false (nothing queued) when there is no room. */
  push(rec: Buffer): boolean {
    const n = rec.length;
    let at: number;
    if (!this.wrapped) {
      if (this.w + n <= this.capacity) at = this.w;
      else if (n <= this.r) {
        at = 0; // on from the start, below the oldest record
        this.wrapped = true;
      } else return false;
    } else if (this.w + n <= this.r) at = this.w;
    else return false;
    this.buf ??= Buffer.allocUnsafeSlow(this.capacity);
    rec.copy(this.buf, at);
    this.views.push(this.buf.subarray(at, at + n));
    this.w = at + n;
    return true;
  }

  /** The oldest record, valid until shift() (its bytes may be written over after). */
  peek(): Buffer | undefined {
    return this.head < this.views.length ? this.views[this.head] : undefined;
  }

  /** Lets the oldest record go. */
  shift(): void {
    if (this.head >= this.views.length) return;
    this.views[this.head++] = EMPTY;
    if (this.head >= this.views.length) {
      this.views = [];
      this.head = this.r = this.w = 0;
      this.wrapped = false;
      return;
    }
    if (this.head >= 4096) {
      this.views = this.views.slice(this.head);
      this.head = 0;
    }
    const next = this.views[this.head].byteOffset - this.buf!.byteOffset;
    // the oldest record now lies before the previous one: the reading has wrapped too
    if (next < this.r) this.wrapped = false;
    this.r = next;
  }
}
