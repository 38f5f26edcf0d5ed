/**
 * Codecs: the key/value structs of bpf/shared/vr_kern_user.h as bytes.
 * Offsets are written out so that a reader can hold them against the C
 * struct; map-layout.test.ts holds them against BTF.
 */
import { numPossibleCpus } from '../bpf/map.ts';

/** u32 keys (vr_vifs by ifindex, vr_nexthops by id, arrays by index) */
export function u32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function decodeU32Key(b: Buffer): number {
  return b.readUInt32LE(0);
}

// ---------------------------------------------------------------- vr_vif
export interface VifValue {
  vifIdx: number;
  vrf: number;
  flags: number;
  mtu: number;
  type: number;
  attachMode: number;
  mac: Buffer; // 6 bytes
  ip4: Buffer; // 4 bytes, network order; zero = none
  ip6: Buffer; // 16 bytes; zero = none
}

export const VIF_VALUE_SIZE = 44;
export const VifOffsets = { vif_idx: 0, vrf: 4, flags: 8, mtu: 12, type: 14, attach_mode: 15, mac: 16, ip4: 24, ip6: 28 };

export function encodeVif(v: VifValue): Buffer {
  const b = Buffer.alloc(VIF_VALUE_SIZE);
  b.writeUInt32LE(v.vifIdx, 0);
  b.writeUInt32LE(v.vrf, 4);
  b.writeUInt32LE(v.flags, 8);
  b.writeUInt16LE(v.mtu, 12);
  b.writeUInt8(v.type, 14);
  b.writeUInt8(v.attachMode, 15);
  v.mac.copy(b, 16, 0, 6);
  v.ip4.copy(b, 24, 0, 4);
  v.ip6.copy(b, 28, 0, 16);
  return b;
}

export function decodeVif(b: Buffer): VifValue {
  return {
    vifIdx: b.readUInt32LE(0),
    vrf: b.readUInt32LE(4),
    flags: b.readUInt32LE(8),
    mtu: b.readUInt16LE(12),
    type: b.readUInt8(14),
    attachMode: b.readUInt8(15),
    mac: Buffer.from(b.subarray(16, 22)),
    ip4: Buffer.from(b.subarray(24, 28)),
    ip6: Buffer.from(b.subarray(28, 44)),
  };
}

// ---------------------------------------------------------------- vr_nh
export interface NhValue {
  type: number;
  oifState: number;
  flags: number;
  oifIfindex: number;
  oifVif: number;
  dmac: Buffer;
  smac: Buffer;
  vrf: number;
  oifMtu: number;
}

export const NH_VALUE_SIZE = 32;
export const NhOffsets = { type: 0, oif_state: 1, flags: 2, oif_ifindex: 4, oif_vif: 8, dmac: 12, smac: 18, vrf: 24, oif_mtu: 28 };

export function encodeNh(v: NhValue): Buffer {
  const b = Buffer.alloc(NH_VALUE_SIZE);
  b.writeUInt8(v.type, 0);
  b.writeUInt8(v.oifState, 1);
  b.writeUInt16LE(v.flags, 2);
  b.writeUInt32LE(v.oifIfindex, 4);
  b.writeUInt32LE(v.oifVif, 8);
  v.dmac.copy(b, 12, 0, 6);
  v.smac.copy(b, 18, 0, 6);
  b.writeUInt32LE(v.vrf, 24);
  b.writeUInt16LE(v.oifMtu, 28);
  return b;
}

export function decodeNh(b: Buffer): NhValue {
  return {
    type: b.readUInt8(0),
    oifState: b.readUInt8(1),
    flags: b.readUInt16LE(2),
    oifIfindex: b.readUInt32LE(4),
    oifVif: b.readUInt32LE(8),
    dmac: Buffer.from(b.subarray(12, 18)),
    smac: Buffer.from(b.subarray(18, 24)),
    vrf: b.readUInt32LE(24),
    oifMtu: b.readUInt16LE(28),
  };
}

// ---------------------------------------------------------------- routes
/** A route key: vrf + address bytes (4 or 16) + prefix length. */
export interface RouteKeyValue {
  vrf: number;
  addr: Buffer;
  plen: number;
}

export const RT4_KEY_SIZE = 12;
export const RT6_KEY_SIZE = 24;
export const RtKeyOffsets = { prefixlen: 0, vrf: 4, addr: 8 };

/** encodeRouteKey: LPM key; prefixlen counts the 32 VRF bits, vrf is big-endian. */
export function encodeRouteKey(k: RouteKeyValue, into?: Buffer, at = 0): Buffer {
  const size = k.addr.length === 4 ? RT4_KEY_SIZE : RT6_KEY_SIZE;
  const b = into ?? Buffer.alloc(size);
  b.writeUInt32LE(32 + k.plen, at);
  b.writeUInt32BE(k.vrf, at + 4);
  k.addr.copy(b, at + 8);
  return b;
}

export function decodeRouteKey(b: Buffer): RouteKeyValue {
  return { plen: b.readUInt32LE(0) - 32, vrf: b.readUInt32BE(4), addr: Buffer.from(b.subarray(8)) };
}

export interface RtValue {
  nhId: number;
  flags: number;
  label: number;
}

export const RT_VALUE_SIZE = 12;
export const RtOffsets = { nh_id: 0, flags: 4, label: 8 };

export function encodeRt(v: RtValue, into?: Buffer, at = 0): Buffer {
  const b = into ?? Buffer.alloc(RT_VALUE_SIZE);
  b.writeUInt32LE(v.nhId, at);
  b.writeUInt32LE(v.flags, at + 4);
  b.writeUInt32LE(v.label, at + 8);
  return b;
}

export function decodeRt(b: Buffer): RtValue {
  return { nhId: b.readUInt32LE(0), flags: b.readUInt32LE(4), label: b.readUInt32LE(8) };
}

// ---------------------------------------------------------------- stats
export const VIF_STATS_FIELDS = ['rxPackets', 'rxBytes', 'txPackets', 'txBytes', 'drops', 'toHost', 'proxied'] as const;
export type VifStats = Record<(typeof VIF_STATS_FIELDS)[number], bigint>;
export const VIF_STATS_SIZE = VIF_STATS_FIELDS.length * 8;

/** sumPerCpuU64s: a per-CPU lookup buffer summed field by field. */
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

// ---------------------------------------------------------------- meta
export interface MetaValue {
  magic: number;
  layoutVersion: number;
  loadedAtNs: bigint;
}

export const META_VALUE_SIZE = 16;

export function encodeMeta(v: MetaValue): Buffer {
  const b = Buffer.alloc(META_VALUE_SIZE);
  b.writeUInt32LE(v.magic, 0);
  b.writeUInt32LE(v.layoutVersion, 4);
  b.writeBigUInt64LE(v.loadedAtNs, 8);
  return b;
}

export function decodeMeta(b: Buffer): MetaValue {
  return { magic: b.readUInt32LE(0), layoutVersion: b.readUInt32LE(4), loadedAtNs: b.readBigUInt64LE(8) };
}
