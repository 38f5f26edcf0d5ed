/**
 * Layout v4 → v5: tunnels. struct vr_nh (the value of vr_nexthops) grows
 * from 32 to 80 bytes: its first 30 bytes keep their places (type, output
 * vif, MACs, VRF, MTU) and what follows is new (tunnel type and family,
 * underlay addresses, label / VNI, composite room), zero for every next hop
 * an older daemon made. New maps, created empty: vr_mpls, vr_vxlan (the
 * decap tables), vr_comp (composite members) and vr_tctr (tunnel
 * counters); vr_drops grows by the tunnel drop reasons (layout-sized: its
 * old slots are copied). Every other map keeps its entries as they are.
 *
 * Layout v4 (exact-match host routes, vr_host4 / vr_host6) is another
 * branch's; until the two meet, this tree's registry runs this step from
 * v3 (tunnelsStep(3, V3_SHAPES) in migrate.ts): v4 left vr_nh alone, so
 * the converter is the same from either. At the merge the step becomes
 * tunnelsStep(4, V4_SHAPES), V4_SHAPES being V3_SHAPES plus the v4 maps
 * (whatever the first step of a chain lists is what gets copied).
 *
 * The encodings here are frozen copies of both layouts, not the codecs of
 * src/maps/codecs.ts: those follow the newest layout and will move on.
 */
import type { LayoutMigration } from './migrate.ts';

/** vr_nh before v5 (v1..v4) and from v5 */
export const NH_V4 = { valueSize: 32, kept: 30 } as const;
export const NH_V5 = { valueSize: 80 } as const;

/** nhV4ToV5: one next hop; its first 30 bytes as they were (the 2 bytes after were padding), the new fields zero. */
export function nhV4ToV5(value: Buffer): Buffer {
  if (value.length !== NH_V4.valueSize) throw new Error(`a v4 next hop is ${NH_V4.valueSize} bytes, not ${value.length}`);
  const out = Buffer.alloc(NH_V5.valueSize);
  value.copy(out, 0, 0, NH_V4.kept);
  return out;
}

/**
 * the maps of layout v3 that carry state: what a migration from v3 copies
 * (vr_scratch and the ring buffers hold none: the new ones start empty)
 */
export const V3_SHAPES: LayoutMigration['shapes'] = {
  vr_meta: { keySize: 4, valueSize: 16 },
  vr_vifs: { keySize: 4, valueSize: 44 },
  vr_nexthops: { keySize: 4, valueSize: NH_V4.valueSize },
  vr_rt4: { keySize: 12, valueSize: 12 },
  vr_rt6: { keySize: 24, valueSize: 12 },
  vr_vif_stats: { keySize: 4, valueSize: 56 },
  vr_drops: { keySize: 4, valueSize: 8 },
  vr_flows: { keySize: 44, valueSize: 96 },
  vr_config: { keySize: 4, valueSize: 16 },
  vr_fctr: { keySize: 4, valueSize: 8 },
};

/** tunnelsStep: the step to layout v5 from `from` (3 in this tree; 4 once layout v4 is merged), whose maps are `shapes`. */
export function tunnelsStep(from: number, shapes: LayoutMigration['shapes']): LayoutMigration {
  return {
    from,
    to: 5,
    shapes,
    convert: { vr_nexthops: (key, value) => [key, nhV4ToV5(value)] },
  };
}
