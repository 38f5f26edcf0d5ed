/**
 * TRAP_REASONS: enum vr_trap_reason in order; the index is the reason code.
 * The trap rule bit of reason r (r >= 1) is 1 << (r - 1) (VR_TRAP_* in
 * vr_kern_user.h: TRAP_F in layout.ts); map-layout.test.ts holds the two
 * lists together. The names are the daemon's --trap words, the CLI's words
 * and the proto's TrapReason suffixes.
 */
import { TRAP_F } from './layout.ts';

export const TRAP_REASONS = ['unspecified', 'arp', 'dhcp', 'dns', 'nd', 'rs', 'own'] as const;

export type TrapReasonName = (typeof TRAP_REASONS)[number];
/** TrapRuleName: a reason that can be switched on (every one but unspecified) */
export type TrapRuleName = Exclude<TrapReasonName, 'unspecified'>;

export const TRAP_RULES: readonly TrapRuleName[] = TRAP_REASONS.slice(1) as TrapRuleName[];

/** trapBit: the vr_config.trap_mask bit of a rule. */
export function trapBit(name: TrapRuleName): number {
  return 1 << (TRAP_REASONS.indexOf(name) - 1);
}

/** trapMask: the vr_config.trap_mask of a set of rules. */
export function trapMask(names: readonly TrapRuleName[]): number {
  return names.reduce((m, n) => m | trapBit(n), 0);
}

/** trapRulesOf: the rules a mask switches on, in reason order (unknown bits ignored). */
export function trapRulesOf(mask: number): TrapRuleName[] {
  return TRAP_RULES.filter((n) => (mask & trapBit(n)) !== 0);
}

/** TRAP_MASK_ALL: every bit this daemon knows */
export const TRAP_MASK_ALL = Object.values(TRAP_F).reduce((m, b) => m | b, 0);

export function isTrapRule(s: string): s is TrapRuleName {
  return (TRAP_RULES as readonly string[]).includes(s);
}

/**
 * parseTrapRules: a comma list of rule names ("arp,dhcp"); "" and "none"
 * are the empty list. Throws naming `what` and the first unknown word.
 */
export function parseTrapRules(what: string, s: string): TrapRuleName[] {
  const words = s.split(',').map((w) => w.trim().toLowerCase()).filter((w) => w !== '');
  if (words.length === 1 && words[0] === 'none') return [];
  const out: TrapRuleName[] = [];
  for (const w of words) {
    if (!isTrapRule(w)) throw new Error(`${what}: ${JSON.stringify(w.slice(0, 32))} is not one of ${TRAP_RULES.join(', ')} (or none)`);
    if (!out.includes(w)) out.push(w);
  }
  return out.sort((a, b) => TRAP_REASONS.indexOf(a) - TRAP_REASONS.indexOf(b));
}
