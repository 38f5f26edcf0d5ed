/**
 * readTunnelCounters: vr_tctr (per-CPU u64 by enum vr_tun_counter) summed
 * over CPUs, read at call time (metrics scrape, tests).
 */
import type { KernelMap } from '../kernel.ts';
import { perCpuU64, u32Key } from '../codecs.ts';
import { TunCounter } from '../layout.ts';

export type TunnelCounterName = Lowercase<keyof typeof TunCounter>;

export function readTunnelCounters(map: KernelMap): Record<TunnelCounterName, bigint> {
  const out = {} as Record<TunnelCounterName, bigint>;
  for (const [name, idx] of Object.entries(TunCounter)) {
    const raw = map.lookup(u32Key(idx));
    out[name.toLowerCase() as TunnelCounterName] = raw ? perCpuU64(raw).reduce((a, b) => a + b, 0n) : 0n;
  }
  return out;
}
