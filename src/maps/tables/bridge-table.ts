/**
 * BridgeTable: vr_bridge, the bridge (MAC) table: {VRF, MAC} → {next-hop
 * id, flags, label}, a preallocated hash (lib/bridge.h reads it per
 * bridged frame).
 */
import { BPF_ANY } from '../../bpf/map.ts';
import type { KernelMap } from '../kernel.ts';
import { BRIDGE, BRIDGE_KEY, type BridgeValue } from '../codecs.ts';

export interface BridgeRow {
  vrf: number;
  mac: Buffer;
  value: BridgeValue;
}

export class BridgeTable {
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

  private key(vrf: number, mac: Buffer): Buffer {
    return BRIDGE_KEY.encode({ vrf, mac });
  }

  get(vrf: number, mac: Buffer): BridgeValue | undefined {
    const raw = this.map.lookup(this.key(vrf, mac));
    return raw ? BRIDGE.decode(raw) : undefined;
  }

  /** put: flags BPF_NOEXIST / BPF_EXIST / BPF_ANY; a full table fails with E2BIG. */
  put(vrf: number, mac: Buffer, v: BridgeValue, flags = BPF_ANY): void {
    this.map.update(this.key(vrf, mac), BRIDGE.encode(v), flags);
  }

  /** remove: false when the key was absent. */
  remove(vrf: number, mac: Buffer): boolean {
    return this.map.delete(this.key(vrf, mac));
  }

  *all(): Generator<BridgeRow> {
    for (const [k, v] of this.map.entries()) {
      const key = BRIDGE_KEY.decode(k);
      yield { vrf: key.vrf, mac: Buffer.from(key.mac), value: BRIDGE.decode(v) };
    }
  }
}
