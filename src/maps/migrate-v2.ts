/**
 * Layout v2 → v3: flows. New maps only (vr_flows, vr_config, vr_fctr,
 * vr_scratch and the two ring buffers), created empty; vr_drops grows by the
 * flow drop reasons (a layout-sized map: its old slots are copied, the new
 * ones start at zero). Every v2 map keeps its entries as they are.
 */
import type { LayoutMigration } from './migrate.ts';

export const V2_TO_V3: LayoutMigration = {
  from: 2,
  to: 3,
  shapes: {
    vr_meta: { keySize: 4, valueSize: 16 },
    vr_vifs: { keySize: 4, valueSize: 44 },
    vr_nexthops: { keySize: 4, valueSize: 32 },
    vr_rt4: { keySize: 12, valueSize: 12 },
    vr_rt6: { keySize: 24, valueSize: 12 },
    vr_vif_stats: { keySize: 4, valueSize: 56 },
    vr_drops: { keySize: 4, valueSize: 8 },
  },
  convert: {},
};
