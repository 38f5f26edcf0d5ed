/**
 * flow-bytes: vr_flows keys and values (codecs FLOW_KEY / FLOW) as the
 * daemon's words (flow-model.ts FlowKey / Flow), and back for keys.
 */
import { FLOW, FLOW_KEY } from '../maps/codecs.ts';
import { FLOW_F, FlowActionCode } from '../maps/layout.ts';
import { reverseOf, type Flow, type FlowAction, type FlowKey, type NatSpec } from '../manager/flow-model.ts';

/** ACTIONS: enum vr_flow_action by code */
export const ACTIONS: readonly FlowAction[] = ['hold', 'forward', 'drop', 'nat'];

const ZERO16 = Buffer.alloc(16);

/** encodeFlowKey: the 44 key bytes (IPv4 addresses in the first 4 of 16, the rest and the padding zero). */
export function encodeFlowKey(k: FlowKey, into?: Buffer, at = 0): Buffer {
  into?.fill(0, at, at + FLOW_KEY.size);
  return FLOW_KEY.encode({ vrf: k.vrf, family: k.family, proto: k.proto, sport: k.sport, dport: k.dport, src: k.src, dst: k.dst }, into, at);
}

/** decodeFlowKey: addresses of 4 bytes for IPv4 (the map keeps them in the first 4 of 16). */
export function decodeFlowKey(b: Buffer, at = 0): FlowKey {
  const v = FLOW_KEY.decode(b, at);
  const family = v.family === 4 ? 4 : 6;
  const len = family === 4 ? 4 : 16;
  return { vrf: v.vrf, family, proto: v.proto, sport: v.sport, dport: v.dport, src: v.src.subarray(0, len), dst: v.dst.subarray(0, len) };
}

/** flowActionCode: the action byte of a vr_flow value, without decoding the rest. */
export function flowActionCode(value: Buffer, at = 0): number {
  return value[at + FLOW.fields.action.off]!;
}

/** decodeFlow: one entry of vr_flows as a Flow. */
export function decodeFlow(key: FlowKey, value: Buffer, at = 0): Flow {
  const v = FLOW.decode(value, at);
  const len = key.family === 4 ? 4 : 16;
  const nat: NatSpec | undefined =
    v.action === FlowActionCode.NAT
      ? {
          src: v.flags & FLOW_F.SNAT && !v.natSrc.equals(ZERO16) ? v.natSrc.subarray(0, len) : undefined,
          sport: v.flags & FLOW_F.SNAT && v.natSport ? v.natSport : undefined,
          dst: v.flags & FLOW_F.DNAT && !v.natDst.equals(ZERO16) ? v.natDst.subarray(0, len) : undefined,
          dport: v.flags & FLOW_F.DNAT && v.natDport ? v.natDport : undefined,
        }
      : undefined;
  return {
    key,
    action: ACTIONS[v.action] ?? 'drop',
    nat,
    reverse: (v.flags & FLOW_F.REVERSE) !== 0,
    reverseKey: reverseOf(key, nat),
    holdId: v.holdId,
    holdCount: v.holdCount,
    tcpFlags: v.tcpFlags,
    packets: v.packets,
    bytes: v.bytes,
    createdNs: v.createdNs,
    lastNs: v.lastNs,
  };
}

/** holdFlow: what a hold looked like when its entry is gone (no counters). */
export function holdFlow(key: FlowKey, holdId: bigint, held: number): Flow {
  return {
    key, action: 'hold', nat: undefined, reverse: false, reverseKey: reverseOf(key), holdId, holdCount: held,
    tcpFlags: 0, packets: 0n, bytes: 0n, createdNs: 0n, lastNs: 0n,
  };
}
