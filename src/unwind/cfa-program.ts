// SPDX-License-Identifier: Apache-2.0
// The DW_CFA_* interpreter: runs a CIE's initial instructions and an FDE's instructions (parsed
// by cfi.ts) up to one code address, and gives the row in force there: the CFA rule and a rule
// per register. Kept apart from the section parser: one reads bytes into entries, this one
// executes them.
import { CfaRule, CfiError, Cie, Fde, Reader, RegRule, Row, RuleKind } from './cfi';

// DW_CFA_*
const CFA_advance_loc = 0x1;
const CFA_offset = 0x2;
const CFA_restore = 0x3;
const CFA_nop = 0x00;
const CFA_set_loc = 0x01;
const CFA_advance_loc1 = 0x02;
const CFA_advance_loc2 = 0x03;
const CFA_advance_loc4 = 0x04;
const CFA_offset_extended = 0x05;
const CFA_restore_extended = 0x06;
const CFA_undefined = 0x07;
const CFA_same_value = 0x08;
const CFA_register = 0x09;
const CFA_remember_state = 0x0a;
const CFA_restore_state = 0x0b;
const CFA_def_cfa = 0x0c;
const CFA_def_cfa_register = 0x0d;
const CFA_def_cfa_offset = 0x0e;
const CFA_def_cfa_expression = 0x0f;
const CFA_expression = 0x10;
const CFA_offset_extended_sf = 0x11;
const CFA_def_cfa_sf = 0x12;
const CFA_def_cfa_offset_sf = 0x13;
const CFA_val_offset = 0x14;
const CFA_val_offset_sf = 0x15;
const CFA_val_expression = 0x16;
const CFA_GNU_window_save = 0x2d;
const CFA_GNU_args_size = 0x2e;
const CFA_GNU_negative_offset_extended = 0x2f;

interface State {
  cfa: CfaRule;
  regs: Map<number, RegRule>;
}

function cloneState(s: State): State {
  return { cfa: { ...s.cfa }, regs: new Map(s.regs) };
}

/**
 * Runs the CIE's initial instructions and the FDE's instructions up to vaddr and returns the row
 * in force there. `loc` of the row is the address where that row begins.
 */
export function rowAt(fde: Fde, vaddr: number, sectionAddr = 0): Row {
  const cie = fde.cie;
  const state: State = { cfa: { reg: 7, offset: 8 }, regs: new Map() };
  run(cie.instructions, cie, state, null, Infinity, fde.start, sectionAddr);
  const initial = new Map(state.regs);
  const loc = run(fde.instructions, cie, state, initial, vaddr, fde.start, sectionAddr);
  return { cfa: state.cfa, regs: state.regs, start: fde.start, end: fde.end, loc, signal: cie.signal, raReg: cie.raReg };
}

/** Executes instructions while the location stays <= target; returns the location reached. */
function run(
  ins: Buffer,
  cie: Cie,
  state: State,
  initial: Map<number, RegRule> | null,
  target: number,
  start: number,
  sectionAddr: number,
): number {
  const r = new Reader(ins);
  let loc = start;
  const stack: State[] = [];
  const advance = (delta: number): boolean => {
    const next = loc + delta * cie.codeAlign;
    if (next > target) return false;
    loc = next;
    return true;
  };
  const restore = (reg: number) => {
    const init = initial?.get(reg);
    if (init) state.regs.set(reg, init);
    else state.regs.delete(reg);
  };
  while (r.pos < ins.length) {
    const op = r.u8();
    const hi = op >> 6;
    const low = op & 0x3f;
    if (hi === CFA_advance_loc) {
      if (!advance(low)) return loc;
      continue;
    }
    if (hi === CFA_offset) {
      state.regs.set(low, { kind: RuleKind.Offset, n: r.uleb() * cie.dataAlign });
      continue;
    }
    if (hi === CFA_restore) {
      restore(low);
      continue;
    }
    switch (op) {
      case CFA_nop:
        break;
      case CFA_set_loc: {
        const next = r.encoded(cie.fdeEnc, sectionAddr);
        if (next > target) return loc;
        loc = next;
        break;
      }
      case CFA_advance_loc1:
        if (!advance(r.u8())) return loc;
        break;
      case CFA_advance_loc2:
        if (!advance(r.u16())) return loc;
        break;
      case CFA_advance_loc4:
        if (!advance(r.u32())) return loc;
        break;
      case CFA_offset_extended: {
        const reg = r.uleb();
        state.regs.set(reg, { kind: RuleKind.Offset, n: r.uleb() * cie.dataAlign });
        break;
      }
      case CFA_restore_extended:
        restore(r.uleb());
        break;
      case CFA_undefined:
        state.regs.set(r.uleb(), { kind: RuleKind.Undefined, n: 0 });
        break;
      case CFA_same_value:
        state.regs.set(r.uleb(), { kind: RuleKind.SameValue, n: 0 });
        break;
      case CFA_register: {
        const reg = r.uleb();
        state.regs.set(reg, { kind: RuleKind.Register, n: r.uleb() });
        break;
      }
      case CFA_remember_state:
        stack.push(cloneState(state));
        break;
      case CFA_restore_state: {
        const s = stack.pop();
        if (!s) throw new CfiError('DW_CFA_restore_state without a remembered state');
        // the CFA rule is part of the remembered state (DWARF 5 §6.4.2.4)
        state.cfa = s.cfa;
        state.regs = s.regs;
        break;
      }
      case CFA_def_cfa:
        state.cfa = { reg: r.uleb(), offset: r.uleb() };
        break;
      case CFA_def_cfa_sf:
        state.cfa = { reg: r.uleb(), offset: r.sleb() * cie.dataAlign };
        break;
      case CFA_def_cfa_register:
        state.cfa = { reg: r.uleb(), offset: state.cfa.expr ? 0 : state.cfa.offset };
        break;
      case CFA_def_cfa_offset:
        state.cfa = { reg: state.cfa.reg, offset: r.uleb() };
        break;
      case CFA_def_cfa_offset_sf:
        state.cfa = { reg: state.cfa.reg, offset: r.sleb() * cie.dataAlign };
        break;
      case CFA_def_cfa_expression: {
        const n = r.uleb();
        state.cfa = { reg: -1, offset: 0, expr: ins.subarray(r.pos, r.pos + n) };
        r.pos += n;
        break;
      }
      case CFA_expression:
      case CFA_val_expression: {
        const reg = r.uleb();
        const n = r.uleb();
        state.regs.set(reg, { kind: op === CFA_expression ? RuleKind.Expression : RuleKind.ValExpression, n: 0, expr: ins.subarray(r.pos, r.pos + n) });
        r.pos += n;
        break;
      }
      case CFA_offset_extended_sf: {
        const reg = r.uleb();
        state.regs.set(reg, { kind: RuleKind.Offset, n: r.sleb() * cie.dataAlign });
        break;
      }
      case CFA_val_offset: {
        const reg = r.uleb();
        state.regs.set(reg, { kind: RuleKind.ValOffset, n: r.uleb() * cie.dataAlign });
        break;
      }
      case CFA_val_offset_sf: {
        const reg = r.uleb();
        state.regs.set(reg, { kind: RuleKind.ValOffset, n: r.sleb() * cie.dataAlign });
        break;
      }
      case CFA_GNU_args_size:
        r.uleb();
        break;
      case CFA_GNU_window_save:
        break;
      case CFA_GNU_negative_offset_extended: {
        const reg = r.uleb();
        state.regs.set(reg, { kind: RuleKind.Offset, n: -r.uleb() * cie.dataAlign });
        break;
      }
      default:
        throw new CfiError(`unknown CFA instruction 0x${op.toString(16)}`);
    }
  }
  return loc;
}
