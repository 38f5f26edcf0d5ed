/**
 * DecapTable: vr_mpls (MPLS label → next-hop id) or vr_vxlan (VNI →
 * next-hop id), hashes of u32 keys and u32 values: what a tunnelled packet
 * arriving on the fabric is run through.
 */
import { BPF_ANY } from '../../bpf/map.ts';
import type { KernelMap } from '../kernel.ts';
import { decodeU32Key, u32Key } from '../codecs.ts';

export class DecapTable {
  private readonly map: KernelMap;

  constructor(map: KernelMap) {
    this.map = map;
  }

  get name(): string {
    return this.map.name;
  }

  get capacity(): number {
    return this.map.maxEntries;
  }

  /** get: the next hop of a label / VNI, or undefined. */
  get(key: number): number | undefined {
    const raw = this.map.lookup(u32Key(key));
    return raw?.readUInt32LE(0);
  }

  /** put: flags BPF_NOEXIST / BPF_EXIST / BPF_ANY; a full table fails with E2BIG. */
  put(key: number, nhId: number, flags = BPF_ANY): void {
    this.map.update(u32Key(key), u32Key(nhId), flags);
  }

  /** remove: false when the key was absent. */
  remove(key: number): boolean {
    return this.map.delete(u32Key(key));
  }

  *all(): Generator<[number, number]> {
    for (const [k, v] of this.map.entries()) yield [decodeU32Key(k), v.readUInt32LE(0)];
  }
}
