/**
 * Layout v3 → v4: host routes. The /32 and /128 routes move out of the
 * tries (vr_rt4 / vr_rt6) into the new exact-match hashes (vr_host4 /
 * vr_host6), sized like the tries they come from (the pinned max-routes);
 * the hash key is the LPM key without its prefixlen, the value the same
 * struct vr_rt. Every other entry of every v3 map is copied as is: the flow
 * table, its counters and the run-time config with it. The ring buffers and
 * vr_scratch carry nothing across (a record in flight is lost, as at any
 * restart of the reader).
 *
 * The encodings here are frozen copies of the v3 layout, not the codecs of
 * src/maps/codecs.ts: those follow the newest layout and will move on.
 */
import type { LayoutMigration, MapConverter } from './migrate.ts';

/** the LPM key: u32 prefixlen (32 VRF bits + the route's), be32 vrf, address */
const PREFIXLEN_BYTES = 4;
const VRF_BITS = 32;

/** hostMove: a route of a trie whose prefix is the whole address goes to the host hash, keyed without its prefixlen. */
function hostMove(addrBytes: 4 | 16, to: string): MapConverter {
  return (key, value) => (key.readUInt32LE(0) === VRF_BITS + addrBytes * 8 ? [key.subarray(PREFIXLEN_BYTES), value, to] : [key, value]);
}

export const V3_TO_V4: LayoutMigration = {
  from: 3,
  to: 4,
  shapes: {
    vr_meta: { keySize: 4, valueSize: 16 },
    vr_vifs: { keySize: 4, valueSize: 44 },
    vr_nexthops: { keySize: 4, valueSize: 32 },
    vr_rt4: { keySize: 12, valueSize: 12 },
    vr_rt6: { keySize: 24, valueSize: 12 },
    vr_vif_stats: { keySize: 4, valueSize: 56 },
    vr_drops: { keySize: 4, valueSize: 8 },
    vr_flows: { keySize: 44, valueSize: 96 },
    vr_config: { keySize: 4, valueSize: 16 },
    vr_fctr: { keySize: 4, valueSize: 8 },
  },
  convert: {
    vr_rt4: hostMove(4, 'vr_host4'),
    vr_rt6: hostMove(16, 'vr_host6'),
  },
  sizedLike: { vr_host4: 'vr_rt4', vr_host6: 'vr_rt6' },
};

/** the maps of layout v4 as the next step reads them (what the first step of a chain lists is what is copied) */
export const V4_SHAPES: LayoutMigration['shapes'] = {
  ...V3_TO_V4.shapes,
  vr_host4: { keySize: 8, valueSize: 12 },
  vr_host6: { keySize: 20, valueSize: 12 },
};
