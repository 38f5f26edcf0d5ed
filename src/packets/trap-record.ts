/**
 * decodeTrap: one vr_trap_rb record (struct vr_trap, then cap_len bytes of
 * the frame) as a TrappedPacket, the frame copied out of the batch buffer
 * (a packet kept by a slow watcher must not pin a whole batch).
 */
import { TRAP } from '../maps/codecs.ts';
import { EventType } from '../maps/layout.ts';
import { TRAP_REASONS, type TrapReasonName } from '../maps/trap-reasons.ts';

export type TrapHook = 'xdp' | 'tc';

/** TrappedPacket: a packet of interest the datapath handed to the agent. */
export interface TrappedPacket {
  reason: TrapReasonName;
  /** the arrival hook */
  hook: TrapHook;
  /** the arrival vif's index, its kernel interface and its VRF */
  vifIdx: number;
  ifindex: number;
  vrf: number;
  /** CLOCK_MONOTONIC at arrival (bpf_ktime_get_ns) */
  tsNs: bigint;
  /** the frame's whole length; frame holds its first bytes (shorter: truncated) */
  pktLen: number;
  frame: Buffer;
}

/** decodeTrap: the record's packet, or undefined when it is not a whole trap record. */
export function decodeTrap(rec: Uint8Array): TrappedPacket | undefined {
  if (rec.length < TRAP.size) return undefined;
  const b = Buffer.from(rec.buffer, rec.byteOffset, rec.byteLength);
  const h = TRAP.decode(b);
  if (h.type !== EventType.TRAP || TRAP.size + h.capLen > b.length) return undefined;
  return {
    reason: TRAP_REASONS[h.reason] ?? 'unspecified',
    hook: h.hook === 1 ? 'tc' : 'xdp',
    vifIdx: h.vifIdx,
    ifindex: h.ifindex,
    vrf: h.vrf,
    tsNs: h.tsNs,
    pktLen: h.pktLen,
    frame: Buffer.from(b.subarray(TRAP.size, TRAP.size + h.capLen)),
  };
}

/** encodeTrap: a record as the datapath writes it (tests and fixtures). */
export function encodeTrap(p: TrappedPacket): Buffer {
  const b = Buffer.alloc(TRAP.size + p.frame.length);
  TRAP.encode({
    type: EventType.TRAP,
    hook: p.hook === 'tc' ? 1 : 0,
    reason: TRAP_REASONS.indexOf(p.reason),
    ifindex: p.ifindex,
    vifIdx: p.vifIdx,
    vrf: p.vrf,
    pktLen: p.pktLen,
    capLen: p.frame.length,
    tsNs: p.tsNs,
  }, b);
  p.frame.copy(b, TRAP.size);
  return b;
}
