// SPDX-License-Identifier: Apache-2.0
// DWARF expressions (DW_OP_*) as CFI uses them: PLT entries compute their CFA from rip, signal
// trampolines find the saved registers in the ucontext on the stack. 64-bit arithmetic in BigInt.
import { CfiError, Reader } from './cfi';

const M64 = (1n << 64n) - 1n;
const wrap = (v: bigint) => v & M64;
const signed = (v: bigint) => BigInt.asIntN(64, v);

export interface ExprContext {
  /** A register's value, or undefined when it is not known. */
  reg(n: number): number | undefined;
  /** 8 bytes of the target's memory, or undefined when they were not captured. */
  read(addr: number): number | undefined;
}

/** Evaluates an expression; `initial` is pushed first (the CFA for DW_CFA_expression rules). */
export function evaluate(expr: Buffer, ctx: ExprContext, initial?: number): number | undefined {
  const s: bigint[] = initial === undefined ? [] : [BigInt(initial)];
  const r = new Reader(expr);
  const pop = (): bigint => {
    const v = s.pop();
    if (v === undefined) throw new CfiError('DWARF expression stack underflow');
    return v;
  };
  const regv = (n: number): bigint | undefined => {
    const v = ctx.reg(n);
    return v === undefined ? undefined : BigInt(v);
  };
  let steps = 0;
  while (r.pos < expr.length) {
    if (++steps > 1000) throw new CfiError('DWARF expression does not end');
    const op = r.u8();
    if (op >= 0x30 && op <= 0x4f) {
      s.push(BigInt(op - 0x30)); // DW_OP_lit0..31
      continue;
    }
    if (op >= 0x50 && op <= 0x6f) {
      const v = regv(op - 0x50); // DW_OP_reg0..31: a location, not a value; treat as its value
      if (v === undefined) return undefined;
      s.push(v);
      continue;
    }
    if (op >= 0x70 && op <= 0x8f) {
      const v = regv(op - 0x70); // DW_OP_breg0..31
      if (v === undefined) return undefined;
      s.push(wrap(v + BigInt(r.sleb())));
      continue;
    }
    switch (op) {
      case 0x03: s.push(BigInt(r.u64())); break; // addr
      case 0x06: { // deref
        const v = ctx.read(Number(pop()));
        if (v === undefined) return undefined;
        s.push(BigInt(v));
        break;
      }
      case 0x08: s.push(BigInt(r.u8())); break; // const1u
      case 0x09: s.push(wrap(BigInt((r.u8() << 24) >> 24))); break; // const1s
      case 0x0a: s.push(BigInt(r.u16())); break;
      case 0x0b: s.push(wrap(BigInt(r.s16()))); break;
      case 0x0c: s.push(BigInt(r.u32())); break;
      case 0x0d: s.push(wrap(BigInt(r.s32()))); break;
      case 0x0e: s.push(BigInt(r.u64())); break;
      case 0x0f: s.push(wrap(BigInt(r.s64()))); break;
      case 0x10: s.push(BigInt(r.uleb())); break; // constu
      case 0x11: s.push(wrap(BigInt(r.sleb()))); break; // consts
      case 0x12: { const v = pop(); s.push(v, v); break; } // dup
      case 0x13: pop(); break; // drop
      case 0x14: { if (s.length < 2) throw new CfiError('underflow'); s.push(s[s.length - 2]); break; } // over
      case 0x15: { const i = r.u8(); if (i >= s.length) throw new CfiError('underflow'); s.push(s[s.length - 1 - i]); break; } // pick
      case 0x16: { const a = pop(); const b = pop(); s.push(a, b); break; } // swap
      case 0x17: { const a = pop(); const b = pop(); const c = pop(); s.push(a, c, b); break; } // rot
      case 0x19: { const v = signed(pop()); s.push(wrap(v < 0n ? -v : v)); break; } // abs
      case 0x1a: { const b = pop(); s.push(pop() & b); break; } // and
      case 0x1b: { const b = signed(pop()); const a = signed(pop()); if (b === 0n) return undefined; s.push(wrap(a / b)); break; } // div
      case 0x1c: { const b = pop(); s.push(wrap(pop() - b)); break; } // minus
      case 0x1d: { const b = pop(); const a = pop(); if (b === 0n) return undefined; s.push(a % b); break; } // mod
      case 0x1e: { const b = pop(); s.push(wrap(pop() * b)); break; } // mul
      case 0x1f: s.push(wrap(-pop())); break; // neg
      case 0x20: s.push(wrap(~pop())); break; // not
      case 0x21: { const b = pop(); s.push(pop() | b); break; } // or
      case 0x22: { const b = pop(); s.push(wrap(pop() + b)); break; } // plus
      case 0x23: s.push(wrap(pop() + BigInt(r.uleb()))); break; // plus_uconst
      case 0x24: { const b = pop(); s.push(wrap(pop() << (b & 63n))); break; } // shl
      case 0x25: { const b = pop(); s.push(pop() >> (b & 63n)); break; } // shr
      case 0x26: { const b = pop(); s.push(wrap(signed(pop()) >> (b & 63n))); break; } // shra
      case 0x27: { const b = pop(); s.push(pop() ^ b); break; } // xor
      case 0x28: { const off = r.s16(); if (pop() !== 0n) r.pos += off; break; } // bra
      case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x2d: case 0x2e: { // eq ge gt le lt ne
        const b = signed(pop());
        const a = signed(pop());
        const t = op === 0x29 ? a === b : op === 0x2a ? a >= b : op === 0x2b ? a > b : op === 0x2c ? a <= b : op === 0x2d ? a < b : a !== b;
        s.push(t ? 1n : 0n);
        break;
      }
      case 0x2f: r.pos += r.s16(); break; // skip
      case 0x90: { const v = regv(r.uleb()); if (v === undefined) return undefined; s.push(v); break; } // regx
      case 0x92: { const v = regv(r.uleb()); if (v === undefined) return undefined; s.push(wrap(v + BigInt(r.sleb()))); break; } // bregx
      case 0x94: { // deref_size
        const n = r.u8();
        const v = ctx.read(Number(pop()));
        if (v === undefined) return undefined;
        s.push(n >= 8 ? BigInt(v) : BigInt(v) & ((1n << BigInt(n * 8)) - 1n));
        break;
      }
      case 0x96: break; // nop
      default:
        throw new CfiError(`unsupported DWARF expression op 0x${op.toString(16)}`);
    }
  }
  const top = s.pop();
  return top === undefined ? undefined : Number(top);
}
