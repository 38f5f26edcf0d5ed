/**
 * Layout v1 → v2: struct vr_rt (the value of vr_rt4 / vr_rt6) went from
 * { u32 nh_id; u32 flags; u32 label } to
 * { u32 nh_id; u16 flags; u8 plen; u8 pad; u32 label }: the value names its
 * route's own prefix length, which is the key's prefixlen less the 32 VRF
 * bits. Every other map is the same in both layouts and copied as is.
 *
 * The encodings here are frozen copies of both layouts, not the codecs of
 * src/maps/codecs.ts: those follow the newest layout and will move on.
 */
import type { LayoutMigration } from './migrate.ts';

/** v1 and v2 share the LPM key: u32 prefixlen (32 + plen), be32 vrf, address. */
const RT_KEY_PREFIXLEN = 0;
const VRF_BITS = 32;

export const RT_V1 = { valueSize: 12, nh_id: 0, flags: 4, label: 8 } as const;
export const RT_V2 = { valueSize: 12, nh_id: 0, flags: 4, plen: 6, pad: 7, label: 8 } as const;

/** routeV1ToV2: one route value, its prefix length taken from its key. */
export function routeV1ToV2(key: Buffer, value: Buffer, addrBytes: 4 | 16): Buffer {
  const plen = key.readUInt32LE(RT_KEY_PREFIXLEN) - VRF_BITS;
  if (plen < 0 || plen > addrBytes * 8) throw new Error(`route key prefixlen ${plen + VRF_BITS} out of range`);
  const flags = value.readUInt32LE(RT_V1.flags);
  if (flags > 0xffff) throw new Error(`route flags 0x${flags.toString(16)} do not fit the v2 u16`);
  const out = Buffer.alloc(RT_V2.valueSize);
  out.writeUInt32LE(value.readUInt32LE(RT_V1.nh_id), RT_V2.nh_id);
  out.writeUInt16LE(flags, RT_V2.flags);
  out.writeUInt8(plen, RT_V2.plen);
  out.writeUInt32LE(value.readUInt32LE(RT_V1.label), RT_V2.label);
  return out;
}

export const V1_TO_V2: LayoutMigration = {
  from: 1,
  to: 2,
  shapes: {
    vr_meta: { keySize: 4, valueSize: 16 },
    vr_vifs: { keySize: 4, valueSize: 44 },
    vr_nexthops: { keySize: 4, valueSize: 32 },
    vr_rt4: { keySize: 12, valueSize: RT_V1.valueSize },
    vr_rt6: { keySize: 24, valueSize: RT_V1.valueSize },
    vr_vif_stats: { keySize: 4, valueSize: 56 },
    vr_drops: { keySize: 4, valueSize: 8 },
  },
  convert: {
    vr_rt4: (key, value) => [key, routeV1ToV2(key, value, 4)],
    vr_rt6: (key, value) => [key, routeV1ToV2(key, value, 16)],
  },
};
