/**
 * ConfigTable: vr_config, the datapath's run-time settings (an ARRAY of
 * one): how many packets a flow miss holds and which packets of interest
 * go to the agent (VR_TRAP_* bits). The daemon writes it at start (loaded
 * or adopted datapath alike) and SetTrapRules changes the trap mask while
 * the datapath runs; the programs read it per packet.
 */
import type { KernelMap } from '../kernel.ts';
import { CONFIG, u32Key, type ConfigValue } from '../codecs.ts';
import { VR_DEF_HOLD_PER_FLOW } from '../layout.ts';

const KEY = u32Key(0);

export class ConfigTable {
  private readonly map: KernelMap;

  constructor(map: KernelMap) {
    this.map = map;
  }

  /** read: the settings in the map (an ARRAY slot always exists: all zero until written). */
  read(): ConfigValue {
    const raw = this.map.lookup(KEY);
    return raw ? CONFIG.decode(raw) : { holdPerFlow: 0, trapMask: 0 };
  }

  /** holdPerFlow: what the datapath applies (0 in the map means the default). */
  holdPerFlow(): number {
    return this.read().holdPerFlow || VR_DEF_HOLD_PER_FLOW;
  }

  write(v: ConfigValue): void {
    this.map.update(KEY, CONFIG.encode(v));
  }

  /**
   * setTrapMask: the trap mask changed, hold_per_flow kept. A read then a
   * write of one slot: the daemon is the only writer and calls it from one
   * thread.
   */
  setTrapMask(mask: number): void {
    this.write({ ...this.read(), trapMask: mask >>> 0 });
  }
}
