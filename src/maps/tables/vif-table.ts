/**
 * VifTable: vr_vifs (by kernel ifindex) and vr_vif_stats (per-CPU, by vif
 * index) as typed values.
 */
import { BPF_ANY } from '../../bpf/map.ts';
import type { KernelMap } from '../kernel.ts';
import { VIF, VIF_STATS_SIZE, decodeU32Key, decodeVifStats, u32Key, type VifStats, type VifValue } from '../codecs.ts';

export class VifTable {
  private readonly map: KernelMap;
  private readonly stats: KernelMap;

  constructor(map: KernelMap, stats: KernelMap) {
    this.map = map;
    this.stats = stats;
  }

  get capacity(): number {
    return this.map.maxEntries;
  }

  get(ifindex: number): VifValue | undefined {
    const raw = this.map.lookup(u32Key(ifindex));
    return raw && VIF.decode(raw);
  }

  put(ifindex: number, v: VifValue, flags = BPF_ANY): void {
    this.map.update(u32Key(ifindex), VIF.encode(v), flags);
  }

  remove(ifindex: number): boolean {
    return this.map.delete(u32Key(ifindex));
  }

  *all(): Generator<[number, VifValue]> {
    for (const [k, v] of this.map.entries()) yield [decodeU32Key(k), VIF.decode(v)];
  }

  /** zeroStats: counters of a vif index start from zero. */
  zeroStats(vifIdx: number): void {
    this.stats.update(u32Key(vifIdx), Buffer.alloc(this.stats.valueBytes));
  }

  readStats(vifIdx: number): VifStats | undefined {
    const raw = this.stats.lookup(u32Key(vifIdx));
    return raw && raw.length >= VIF_STATS_SIZE ? decodeVifStats(raw) : undefined;
  }
}
