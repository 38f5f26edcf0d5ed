/**
 * readFlowCounters: vr_fctr (per-CPU u64 by enum vr_flow_counter) summed
 * over CPUs, read at call time (metrics scrape).
 */
import type { KernelMap } from '../kernel.ts';
import { perCpuU64, u32Key } from '../codecs.ts';
import { FlowCounter } from '../layout.ts';

export type FlowCounterName = Lowercase<keyof typeof FlowCounter>;

export function readFlowCounters(map: KernelMap): Record<FlowCounterName, bigint> {
  const out = {} as Record<FlowCounterName, bigint>;
  for (const [name, idx] of Object.entries(FlowCounter)) {
    const raw = map.lookup(u32Key(idx));
    out[name.toLowerCase() as FlowCounterName] = raw ? perCpuU64(raw).reduce((a, b) => a + b, 0n) : 0n;
  }
  return out;
}
