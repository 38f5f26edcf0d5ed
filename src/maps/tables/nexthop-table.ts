/**
 * NextHopTable: vr_nexthops, an array by id; a slot of type UNSPEC (all
 * zero) is empty.
 */
import type { KernelMap } from '../kernel.ts';
import { NH, decodeU32Key, u32Key, type NhValue } from '../codecs.ts';
import { NhType } from '../layout.ts';

export class NextHopTable {
  private readonly map: KernelMap;

  constructor(map: KernelMap) {
    this.map = map;
  }

  get capacity(): number {
    return this.map.maxEntries;
  }

  /** get: the next hop in slot id, or undefined when the slot is empty. */
  get(id: number): NhValue | undefined {
    const raw = this.map.lookup(u32Key(id));
    return raw && raw[0] !== NhType.UNSPEC ? NH.decode(raw) : undefined;
  }

  put(id: number, v: NhValue): void {
    this.map.update(u32Key(id), NH.encode(v));
  }

  /** clear: empties slot id (an array slot cannot be deleted). */
  clear(id: number): void {
    this.map.update(u32Key(id), Buffer.alloc(NH.size));
  }

  *all(): Generator<[number, NhValue]> {
    for (const [k, v] of this.map.entries()) if (v[0] !== NhType.UNSPEC) yield [decodeU32Key(k), NH.decode(v)];
  }
}
