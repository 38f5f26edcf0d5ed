/**
 * Codecs: the key/value structs of bpf/shared/vr_kern_user.h as field
 * tables (struct.ts), one per C struct; map-layout.test.ts holds each table
 * against the object's BTF. Helpers here shape what the tables need (route
 * keys, per-CPU sums) and nothing else.
 */
import { numPossibleCpus } from '../bpf/map.ts';
import { Struct, type StructValue } from './struct.ts';

/** u32 keys (vr_vifs by ifindex, vr_nexthops by id, arrays by index) */
export function u32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function decodeU32Key(b: Buffer): number {
  return b.readUInt32LE(0);
}

export const VIF = new Struct('vr_vif', 44, {
  vifIdx: { off: 0, type: 'u32' },
  vrf: { off: 4, type: 'u32' },
  flags: { off: 8, type: 'u32' },
  mtu: { off: 12, type: 'u16' },
  type: { off: 14, type: 'u8' },
  attachMode: { off: 15, type: 'u8' },
  mac: { off: 16, type: { bytes: 6 } },
  hookPolicy: { off: 22, type: 'u8' },
  ip4: { off: 24, type: { bytes: 4 } }, // network order; zero = none
  ip6: { off: 28, type: { bytes: 16 } }, // zero = none
});
export type VifValue = StructValue<typeof VIF.fields>;

/** vr_nh: 80 bytes since layout v5 (the first 30 as in v1..v4; migrate-v4.ts) */
export const NH = new Struct('vr_nh', 80, {
  type: { off: 0, type: 'u8' },
  oifState: { off: 1, type: 'u8' },
  flags: { off: 2, type: 'u16' },
  oifIfindex: { off: 4, type: 'u32' },
  oifVif: { off: 8, type: 'u32' },
  dmac: { off: 12, type: { bytes: 6 } }, // ENCAP: rewrite; TUNNEL VXLAN: the inner frame's
  smac: { off: 18, type: { bytes: 6 } },
  vrf: { off: 24, type: 'u32' },
  oifMtu: { off: 28, type: 'u16' },
  // layout v5: tunnels (and room for composites)
  tunType: { off: 30, type: 'u8' }, // TunType
  tunFamily: { off: 31, type: 'u8' }, // 4
  tunSip: { off: 32, type: { bytes: 16 } }, // IPv4 in the first 4 bytes
  tunDip: { off: 48, type: { bytes: 16 } },
  label: { off: 64, type: 'u32' },
  compFirst: { off: 68, type: 'u32' },
  compCount: { off: 72, type: 'u16' },
  compKind: { off: 74, type: 'u8' },
});
export type NhValue = StructValue<typeof NH.fields>;

export const RT4_KEY = new Struct('vr_rt4_key', 12, {
  prefixlen: { off: 0, type: 'u32' },
  vrf: { off: 4, type: 'u32be' },
  addr: { off: 8, type: { bytes: 4 } },
});
export const RT6_KEY = new Struct('vr_rt6_key', 24, {
  prefixlen: { off: 0, type: 'u32' },
  vrf: { off: 4, type: 'u32be' },
  addr: { off: 8, type: { bytes: 16 } },
});
export const RT4_KEY_SIZE = RT4_KEY.size;
export const RT6_KEY_SIZE = RT6_KEY.size;
/** host route keys (layout v4): the LPM key's bytes after its prefixlen */
export const HOST4_KEY = new Struct('vr_host4_key', 8, {
  vrf: { off: 0, type: 'u32be' },
  addr: { off: 4, type: { bytes: 4 } },
});
export const HOST6_KEY = new Struct('vr_host6_key', 20, {
  vrf: { off: 0, type: 'u32be' },
  addr: { off: 4, type: { bytes: 16 } },
});
/** the prefixlen in front of an LPM key, which a host key lacks */
export const LPM_PREFIX_BYTES = 4;

export const RT = new Struct('vr_rt', 12, {
  nhId: { off: 0, type: 'u32' },
  flags: { off: 4, type: 'u16' },
  plen: { off: 6, type: 'u8' }, // the route's own prefix length (layout v2)
  label: { off: 8, type: 'u32' },
});
export type RtValue = StructValue<typeof RT.fields>;
export const RT_VALUE_SIZE = RT.size;

/** A route key: vrf + address bytes (4 or 16) + prefix length. */
export interface RouteKeyValue {
  vrf: number;
  addr: Buffer;
  plen: number;
}

/** encodeRouteKey: LPM key; prefixlen counts the 32 VRF bits, vrf is big-endian. */
export function encodeRouteKey(k: RouteKeyValue, into?: Buffer, at = 0): Buffer {
  const s = k.addr.length === 4 ? RT4_KEY : RT6_KEY;
  return s.encode({ prefixlen: 32 + k.plen, vrf: k.vrf, addr: k.addr }, into, at);
}

export function decodeRouteKey(b: Buffer, at = 0, size = b.length - at): RouteKeyValue {
  const k = (size === RT4_KEY_SIZE ? RT4_KEY : RT6_KEY).decode(b, at);
  return { plen: k.prefixlen - 32, vrf: k.vrf, addr: k.addr };
}

export const encodeRt = (v: RtValue, into?: Buffer, at = 0) => RT.encode(v, into, at);
export const decodeRt = (b: Buffer, at = 0) => RT.decode(b, at);

export const VIF_STATS_FIELDS = ['rxPackets', 'rxBytes', 'txPackets', 'txBytes', 'drops', 'toHost', 'proxied'] as const;
export type VifStats = Record<(typeof VIF_STATS_FIELDS)[number], bigint>;
export const VIF_STATS = new Struct(
  'vr_vif_stats',
  VIF_STATS_FIELDS.length * 8,
  Object.fromEntries(VIF_STATS_FIELDS.map((f, i) => [f, { off: i * 8, type: 'u64' as const }])) as Record<
    (typeof VIF_STATS_FIELDS)[number],
    { off: number; type: 'u64' }
  >,
);
export const VIF_STATS_SIZE = VIF_STATS.size;

/** sumPerCpu: a per-CPU lookup buffer summed u64 by u64. */
export function sumPerCpu(buf: Buffer, valueSize: number): bigint[] {
  const stride = Math.ceil(valueSize / 8) * 8;
  const n = valueSize / 8;
  const sums: bigint[] = new Array<bigint>(n).fill(0n);
  for (let cpu = 0; cpu < numPossibleCpus(); cpu++) {
    for (let i = 0; i < n; i++) sums[i]! += buf.readBigUInt64LE(cpu * stride + i * 8);
  }
  return sums;
}

/** perCpuU64: one u64 per CPU from a per-CPU lookup of a u64 value. */
export function perCpuU64(buf: Buffer): bigint[] {
  const out: bigint[] = [];
  for (let cpu = 0; cpu < numPossibleCpus(); cpu++) out.push(buf.readBigUInt64LE(cpu * 8));
  return out;
}

export function decodeVifStats(buf: Buffer): VifStats {
  const s = sumPerCpu(buf, VIF_STATS_SIZE);
  return Object.fromEntries(VIF_STATS_FIELDS.map((f, i) => [f, s[i] ?? 0n])) as VifStats;
}

export const META = new Struct('vr_meta', 16, {
  magic: { off: 0, type: 'u32' },
  layoutVersion: { off: 4, type: 'u32' },
  loadedAtNs: { off: 8, type: 'u64' },
});
export type MetaValue = StructValue<typeof META.fields>;
export const encodeMeta = (v: MetaValue) => META.encode(v);
export const decodeMeta = (b: Buffer) => META.decode(b);

/* ---- flows (layout v3) ---- */

export const FLOW_KEY = new Struct('vr_flow_key', 44, {
  vrf: { off: 0, type: 'u32' },
  family: { off: 4, type: 'u8' }, // 4 or 6
  proto: { off: 5, type: 'u8' },
  sport: { off: 6, type: 'u16be' },
  dport: { off: 8, type: 'u16be' },
  src: { off: 12, type: { bytes: 16 } }, // IPv4 in the first 4 bytes
  dst: { off: 28, type: { bytes: 16 } },
});
export type FlowKeyValue = StructValue<typeof FLOW_KEY.fields>;

export const FLOW = new Struct('vr_flow', 96, {
  action: { off: 0, type: 'u8' },
  flags: { off: 1, type: 'u8' },
  tcpFlags: { off: 4, type: 'u32' },
  holdCount: { off: 8, type: 'u32' },
  holdId: { off: 16, type: 'u64' },
  createdNs: { off: 24, type: 'u64' },
  lastNs: { off: 32, type: 'u64' },
  packets: { off: 40, type: 'u64' },
  bytes: { off: 48, type: 'u64' },
  natSrc: { off: 56, type: { bytes: 16 } },
  natDst: { off: 72, type: { bytes: 16 } },
  natSport: { off: 88, type: 'u16be' },
  natDport: { off: 90, type: 'u16be' },
});
export type FlowValue = StructValue<typeof FLOW.fields>;

export const CONFIG = new Struct('vr_config', 16, {
  holdPerFlow: { off: 0, type: 'u32' },
  trapMask: { off: 4, type: 'u32' },
});
export type ConfigValue = StructValue<typeof CONFIG.fields>;

/** ring records: the header, then cap_len bytes of the frame */
export const MISS = new Struct('vr_miss', 80, {
  type: { off: 0, type: 'u16' },
  hook: { off: 2, type: 'u8' }, // 0 XDP, 1 TC
  flags: { off: 3, type: 'u8' }, // MISS_F
  ifindex: { off: 4, type: 'u32' },
  vifIdx: { off: 8, type: 'u32' },
  pktLen: { off: 12, type: 'u32' },
  holdId: { off: 16, type: 'u64' },
  tsNs: { off: 24, type: 'u64' },
  key: { off: 32, type: { bytes: 44 } }, // a FLOW_KEY
  capLen: { off: 76, type: 'u16' },
});
export type MissRecord = StructValue<typeof MISS.fields>;

export const TRAP = new Struct('vr_trap', 32, {
  type: { off: 0, type: 'u16' },
  hook: { off: 2, type: 'u8' },
  reason: { off: 3, type: 'u8' }, // TrapReasonCode
  ifindex: { off: 4, type: 'u32' },
  vifIdx: { off: 8, type: 'u32' },
  vrf: { off: 12, type: 'u32' },
  pktLen: { off: 16, type: 'u32' },
  capLen: { off: 20, type: 'u16' },
  tsNs: { off: 24, type: 'u64' },
});
export type TrapRecord = StructValue<typeof TRAP.fields>;

/** vr_rt_probe's packet: a header, then one record per key (bpf/lib/route_probe.h) */
export const PROBE_HDR = new Struct('vr_probe_hdr', 8, {
  family: { off: 0, type: 'u32' },
  count: { off: 4, type: 'u32' },
});
export const PROBE_REC = new Struct('vr_probe_rec', 40, {
  key: { off: 0, type: { bytes: 24 } },
  value: { off: 24, type: { bytes: 12 } }, // a struct vr_rt
  found: { off: 36, type: 'u32' },
});
/** VR_PROBE_MAX: keys per probe run */
export const PROBE_MAX = 1024;

/** vr_trace_rec: what a trace run recorded (bpf/lib/trace.h); its counters are scratch */
export const TRACE_REC = new Struct('vr_trace_rec', 32 + VIF_STATS_SIZE, {
  flags: { off: 0, type: 'u32' },
  reason: { off: 4, type: 'u32' },
  inVif: { off: 8, type: 'u32' },
  nhId: { off: 12, type: 'u32' },
  oifVif: { off: 16, type: 'u32' },
  oifIfindex: { off: 20, type: 'u32' },
  flowAction: { off: 24, type: 'u8' },
  flowFlags: { off: 25, type: 'u8' },
  trapReason: { off: 26, type: 'u8' },
  scratch: { off: 32, type: { bytes: VIF_STATS_SIZE } },
});
export type TraceRec = StructValue<typeof TRACE_REC.fields>;
export const TRACE_F = { RAN: 1, DROP: 2, NEXTHOP: 4, OUT: 8, PEER: 16, PROXIED: 32, TO_HOST: 64, TO_TC: 128, FLOW: 256, MISS: 512, TRAP: 1024 } as const;

/** the structs of the trace object (bpf/vr_trace.c), checked against its BTF */
export const TRACE_STRUCTS = [TRACE_REC] as const;

/* ---- the bridge table (layout v5) ---- */

/** vr_bridge_key: VRF + MAC (2 bytes of padding, zero) */
export const BRIDGE_KEY = new Struct('vr_bridge_key', 12, {
  vrf: { off: 0, type: 'u32' },
  mac: { off: 4, type: { bytes: 6 } },
});
export type BridgeKeyValue = StructValue<typeof BRIDGE_KEY.fields>;

/** vr_bridge: the entry's next hop, flags (BE_F_*) and label (a VNI, with BE_F_LABEL) */
export const BRIDGE = new Struct('vr_bridge', 12, {
  nhId: { off: 0, type: 'u32' },
  flags: { off: 4, type: 'u16' },
  label: { off: 8, type: 'u32' },
});
export type BridgeValue = StructValue<typeof BRIDGE.fields>;

/** nhValue: a next-hop value with every field not given zero */
export function nhValue(v: Partial<NhValue> & Pick<NhValue, 'type'>): NhValue {
  const z6 = Buffer.alloc(6);
  const z16 = Buffer.alloc(16);
  return {
    oifState: 0, flags: 0, oifIfindex: 0, oifVif: 0, dmac: z6, smac: z6, vrf: 0, oifMtu: 0,
    tunType: 0, tunFamily: 0, tunSip: z16, tunDip: z16, label: 0, compFirst: 0, compCount: 0, compKind: 0, ...v,
  };
}

/** every struct shared with C, for the BTF check */
export const STRUCTS = [VIF, NH, RT4_KEY, RT6_KEY, HOST4_KEY, HOST6_KEY, RT, VIF_STATS, META, PROBE_HDR, PROBE_REC, FLOW_KEY, FLOW, CONFIG, MISS, TRAP, BRIDGE_KEY, BRIDGE] as const;
