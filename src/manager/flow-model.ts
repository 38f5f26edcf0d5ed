/**
 * flow-model: the daemon's words for flows, flow misses and flow events,
 * between the datapath codecs (src/maps/codecs.ts FLOW_KEY / FLOW / MISS)
 * and the API converters. Addresses are Buffers of 4 or 16 bytes.
 */

export type FlowFamily = 4 | 6;

/** FlowKey: VRF + 5-tuple. ICMP echo: sport = the echo id, dport = 0. */
export interface FlowKey {
  vrf: number;
  family: FlowFamily;
  proto: number;
  src: Buffer;
  dst: Buffer;
  sport: number;
  dport: number;
}

export type FlowAction = 'hold' | 'forward' | 'drop' | 'nat';

/** NatSpec: what a NAT flow rewrites; a port of 0 (or absent) keeps the packet's. */
export interface NatSpec {
  src?: Buffer | undefined;
  sport?: number | undefined;
  dst?: Buffer | undefined;
  dport?: number | undefined;
}

/**
 * FlowSpec: what the agent sets. The reverse half is derived (key swapped
 * after NAT) unless `noReverse`. The actions are checked by the manager
 * (undefined and 'hold' are refused there, naming the field), so the edge
 * passes them as the request gave them.
 */
export interface FlowSpec {
  key: FlowKey;
  action: FlowAction | undefined;
  nat?: NatSpec | undefined;
  /** the reverse half's action; default the forward one (NAT: the reverse rewrite) */
  reverseAction?: FlowAction | undefined;
  noReverse?: boolean | undefined;
  /** answers this miss: the entry must still be its HOLD entry (else NOT_FOUND / FAILED_PRECONDITION on hold_id) */
  holdId?: bigint | undefined;
}

/** Flow: one entry as the datapath holds it. */
export interface Flow {
  key: FlowKey;
  action: FlowAction;
  nat: NatSpec | undefined;
  /** true for the half the daemon derived */
  reverse: boolean;
  /** the other half's key (derived: swapped after NAT) */
  reverseKey: FlowKey;
  holdId: bigint;
  holdCount: number;
  tcpFlags: number;
  packets: bigint;
  bytes: bigint;
  createdNs: bigint;
  lastNs: bigint;
}

/** FlowMiss: a packet with no flow on a policy-enabled vif (the first one of a new HOLD entry). */
export interface FlowMiss {
  holdId: bigint;
  key: FlowKey;
  vifIdx: number;
  ifindex: number;
  hook: 'xdp' | 'tc';
  /** CLOCK_MONOTONIC ns of the packet's arrival (bpf_ktime_get_ns) */
  tsNs: bigint;
  pktLen: number;
  /** the first bytes of the packet */
  head: Buffer;
}

export type FlowEventKind = 'aged' | 'closed' | 'deleted' | 'hold_expired';

/** FlowEvent: a flow removed, with its final counters. */
export interface FlowEvent {
  kind: FlowEventKind;
  flow: Flow;
  /** CLOCK_REALTIME ns of the removal */
  atNs: bigint;
}

export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;

/** reverseOf: the key the other direction's packets carry after this half's NAT. */
export function reverseOf(key: FlowKey, nat?: NatSpec): FlowKey {
  const src = nat?.src ?? key.src;
  const dst = nat?.dst ?? key.dst;
  const sport = nat?.sport || key.sport;
  const dport = nat?.dport || key.dport;
  const icmp = key.proto === IPPROTO.ICMP || key.proto === IPPROTO.ICMPV6;
  // ICMP echo: the id is the reply's too, so the reverse keeps sport = id, dport = 0
  return icmp
    ? { vrf: key.vrf, family: key.family, proto: key.proto, src: dst, dst: src, sport, dport }
    : { vrf: key.vrf, family: key.family, proto: key.proto, src: dst, dst: src, sport: dport, dport: sport };
}

/** reverseNat: the rewrite of the reverse half of a NAT flow (SNAT ↔ DNAT of the original addresses). */
export function reverseNat(key: FlowKey, nat: NatSpec): NatSpec {
  return {
    src: nat.dst ? key.dst : undefined,
    sport: nat.dst && nat.dport ? key.dport : undefined,
    dst: nat.src ? key.src : undefined,
    dport: nat.src && nat.sport ? key.sport : undefined,
  };
}

export function flowKeyString(k: FlowKey): string {
  const a = (b: Buffer) => (k.family === 4 ? [...b.subarray(0, 4)].join('.') : b.toString('hex'));
  return `vrf${k.vrf} ${k.proto} ${a(k.src)}:${k.sport} > ${a(k.dst)}:${k.dport}`;
}
