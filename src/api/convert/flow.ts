/**
 * Flow messages ⇄ flow specs and entries. Addresses are parsed here (the
 * family is the source address's; the manager checks the rest, naming
 * its own fields, which FLOW_RENAMES turns into the proto's).
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  FlowAction as FlowActionMsg, FlowEventKind,
  type FlowEventSchema, type FlowKey as FlowKeyMsg, type FlowKeySchema, type FlowMissSchema, type FlowSchema, type FlowSpec as FlowSpecMsg,
  type Nat as NatMsg, type NatSchema,
} from '../../gen/vrouter/ebpf/v1/flow_pb.js';
import { AttachHook } from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import { invalid } from '../../manager/errors.ts';
import type { Flow, FlowAction, FlowEvent, FlowEventKind as EventKind, FlowKey, FlowMiss, FlowSpec, NatSpec } from '../../manager/flow-model.ts';
import { formatIp, parseIp } from '../../manager/net-addr.ts';
import type { Renames } from './locate.ts';

/** the manager's field names (FlowKey, NatSpec) as the proto's */
export const FLOW_RENAMES: Renames = {
  'key.src': 'key.src_ip',
  'key.dst': 'key.dst_ip',
  'key.sport': 'key.src_port',
  'key.dport': 'key.dst_port',
  'key.proto': 'key.protocol',
  'nat.src': 'nat.src_ip',
  'nat.dst': 'nat.dst_ip',
  'nat.sport': 'nat.src_port',
  'nat.dport': 'nat.dst_port',
};

const ACTION_OF: Record<number, FlowAction | undefined> = {
  [FlowActionMsg.UNSPECIFIED]: undefined,
  [FlowActionMsg.FORWARD]: 'forward',
  [FlowActionMsg.DROP]: 'drop',
  [FlowActionMsg.NAT]: 'nat',
  [FlowActionMsg.HOLD]: 'hold',
};
const ACTION_MSG: Record<FlowAction, FlowActionMsg> = {
  forward: FlowActionMsg.FORWARD, drop: FlowActionMsg.DROP, nat: FlowActionMsg.NAT, hold: FlowActionMsg.HOLD,
};
const EVENT_KIND: Record<EventKind, FlowEventKind> = {
  aged: FlowEventKind.AGED, closed: FlowEventKind.CLOSED, deleted: FlowEventKind.DELETED, hold_expired: FlowEventKind.HOLD_EXPIRED,
};

/** actionFromProto: an action as given (UNSPECIFIED: undefined; the manager judges it), or INVALID_ARGUMENT for an unknown number. */
export function actionFromProto(a: FlowActionMsg, field: string): FlowAction | undefined {
  if (!(a in ACTION_OF)) throw invalid(field, `unknown flow action ${a}`);
  return ACTION_OF[a];
}

export function actionToProto(a: FlowAction): FlowActionMsg {
  return ACTION_MSG[a];
}

/** flowKeyFromProto: `at` is the key's path, ending in "." ("flow.key.", "key."). */
export function flowKeyFromProto(k: FlowKeyMsg | undefined, at: string): FlowKey {
  if (!k) throw invalid(at.replace(/\.$/, ''), 'a flow key is required');
  const src = parseIp(k.srcIp, `${at}src_ip`);
  const dst = parseIp(k.dstIp, `${at}dst_ip`);
  return { vrf: k.vrf, family: src.family, proto: k.protocol, src: src.bytes, dst: dst.bytes, sport: k.srcPort, dport: k.dstPort };
}

function natFromProto(n: NatMsg | undefined, at: string): NatSpec | undefined {
  if (!n) return undefined;
  return {
    src: n.srcIp ? parseIp(n.srcIp, `${at}src_ip`).bytes : undefined,
    sport: n.srcPort || undefined,
    dst: n.dstIp ? parseIp(n.dstIp, `${at}dst_ip`).bytes : undefined,
    dport: n.dstPort || undefined,
  };
}

/** flowSpecFromProto: `at` is the spec's path, ending in "." ("flow.", "flows[3]."). */
export function flowSpecFromProto(f: FlowSpecMsg | undefined, at: string): FlowSpec {
  if (!f) throw invalid(at.replace(/\.$/, ''), 'the flow is required');
  return {
    key: flowKeyFromProto(f.key, `${at}key.`),
    action: actionFromProto(f.action, `${at}action`),
    nat: natFromProto(f.nat, `${at}nat.`),
    reverseAction: actionFromProto(f.reverseAction, `${at}reverse_action`),
    noReverse: f.noReverse,
    holdId: f.holdId ? f.holdId : undefined,
  };
}

export function flowKeyToProto(k: FlowKey): MessageInitShape<typeof FlowKeySchema> {
  return { vrf: k.vrf, protocol: k.proto, srcIp: formatIp(k.src), dstIp: formatIp(k.dst), srcPort: k.sport, dstPort: k.dport };
}

function natToProto(n: NatSpec): MessageInitShape<typeof NatSchema> {
  return { srcIp: n.src ? formatIp(n.src) : '', srcPort: n.sport ?? 0, dstIp: n.dst ? formatIp(n.dst) : '', dstPort: n.dport ?? 0 };
}

const msSince = (now: bigint, ns: bigint) => (now > ns ? (now - ns) / 1_000_000n : 0n);

/** flowToProto: an entry; age and idle time against `now` (CLOCK_MONOTONIC ns, the datapath's clock). */
export function flowToProto(f: Flow, now = process.hrtime.bigint()): MessageInitShape<typeof FlowSchema> {
  return {
    key: flowKeyToProto(f.key),
    action: ACTION_MSG[f.action],
    nat: f.nat && natToProto(f.nat),
    reverseKey: flowKeyToProto(f.reverseKey),
    isReverse: f.reverse,
    holdId: f.holdId,
    holdCount: f.holdCount,
    tcpFlags: f.tcpFlags,
    packets: f.packets,
    bytes: f.bytes,
    createdNs: f.createdNs,
    lastUsedNs: f.lastNs,
    ageMs: msSince(now, f.createdNs),
    idleMs: msSince(now, f.lastNs),
  };
}

export function missToProto(m: FlowMiss): MessageInitShape<typeof FlowMissSchema> {
  return {
    holdId: m.holdId,
    key: flowKeyToProto(m.key),
    interfaceIndex: m.vifIdx,
    vrf: m.key.vrf,
    osIfindex: m.ifindex,
    hook: m.hook === 'xdp' ? AttachHook.XDP : AttachHook.TC,
    timestampNs: m.tsNs,
    packetLength: m.pktLen,
    head: m.head,
  };
}

export function eventToProto(e: FlowEvent, now?: bigint): MessageInitShape<typeof FlowEventSchema> {
  return { kind: EVENT_KIND[e.kind], flow: flowToProto(e.flow, now), timeUnixNs: e.atNs };
}
