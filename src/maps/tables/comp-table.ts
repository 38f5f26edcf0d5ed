/**
 * CompTable: vr_comp, an array of next-hop ids cut into blocks of
 * VR_COMP_BLOCK slots, one per composite next hop: its members from the
 * block's first slot, and (ECMP) its buckets from slot VR_COMP_MEMBERS.
 */
import type { KernelMap } from '../kernel.ts';
import { decodeU32Key, u32Key } from '../codecs.ts';
import { VR_COMP_BLOCK } from '../layout.ts';

export class CompTable {
  private readonly map: KernelMap;

  constructor(map: KernelMap) {
    this.map = map;
  }

  get name(): string {
    return this.map.name;
  }

  /** blocks: how many composites the map holds */
  get blocks(): number {
    return Math.floor(this.map.maxEntries / VR_COMP_BLOCK);
  }

  get(slot: number): number {
    return this.map.lookup(u32Key(slot))?.readUInt32LE(0) ?? 0;
  }

  put(slot: number, nhId: number): void {
    this.map.update(u32Key(slot), u32Key(nhId));
  }

  /** all: every slot's value (one walk of the map, for a start-up read) */
  all(): Uint32Array {
    const out = new Uint32Array(this.map.maxEntries);
    for (const [k, v] of this.map.entries()) {
      const slot = decodeU32Key(k);
      if (slot < out.length) out[slot] = v.readUInt32LE(0);
    }
    return out;
  }
}
