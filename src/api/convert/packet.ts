/** Packet messages ⇄ the packet layer's values: trap reasons, send modes, trapped packets. */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { SendMode, TrapReason, type TrappedPacketSchema } from '../../gen/vrouter/ebpf/v1/packet_pb.js';
import { AttachHook } from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import { invalid } from '../../manager/errors.ts';
import { TRAP_REASONS, TRAP_RULES, type TrapReasonName, type TrapRuleName } from '../../maps/trap-reasons.ts';
import type { SendMode as Mode } from '../../packets/packet-io.ts';
import type { TrappedPacket } from '../../packets/trap-record.ts';

/** the proto enum's numbers are the datapath's reason codes (map-layout.test.ts checks) */
export function trapReasonToProto(r: TrapReasonName): TrapReason {
  return TRAP_REASONS.indexOf(r) as TrapReason;
}

/** trapRulesFromProto: reasons of a request (`field`[i] names a bad one); repeats dropped. */
export function trapRulesFromProto(rs: readonly TrapReason[], field: string): TrapRuleName[] {
  const out: TrapRuleName[] = [];
  rs.forEach((r, i) => {
    if (r === TrapReason.UNSPECIFIED) throw invalid(`${field}[${i}]`, 'TRAP_REASON_UNSPECIFIED is not a trap reason');
    const name: TrapReasonName | undefined = TRAP_REASONS[r as number];
    if (name === undefined || name === 'unspecified') throw invalid(`${field}[${i}]`, `unknown trap reason ${r} (known: ${TRAP_RULES.map((n) => TRAP_REASONS.indexOf(n)).join(', ')})`);
    if (!out.includes(name)) out.push(name);
  });
  return out;
}

export function sendModeFromProto(m: SendMode, field: string): Mode {
  switch (m) {
    case SendMode.UNSPECIFIED:
    case SendMode.OUT:
      return 'out';
    case SendMode.INTO:
      return 'into';
    default:
      throw invalid(field, `unknown send mode ${m}`);
  }
}

export function trappedPacketToProto(p: TrappedPacket): MessageInitShape<typeof TrappedPacketSchema> {
  return {
    interfaceIndex: p.vifIdx,
    vrf: p.vrf,
    reason: trapReasonToProto(p.reason),
    hook: p.hook === 'tc' ? AttachHook.TC : AttachHook.XDP,
    timestampNs: p.tsNs,
    packetLength: p.pktLen,
    frame: p.frame,
    osIndex: p.ifindex,
  };
}
