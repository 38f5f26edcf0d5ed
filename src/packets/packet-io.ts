/**
 * PacketIo: the agent's packet interface in domain terms, what the
 * PacketService calls: watch trapped packets (PacketHub), send a frame out
 * of a vif (AF_PACKET) or into the datapath as received on one
 * (LiveInjector), and read or change the trap rules (vr_config). It
 * validates what it is given and reports DatapathErrors naming domain
 * fields (interfaceIndex, frame); the API edge turns them into statuses.
 */
import { BpfError } from '../bpf/errors.ts';
import { PacketSocket } from '../bpf/packet-socket.ts';
import type { Watcher } from '../events/fanout.ts';
import { DatapathError, invalid, precondition } from '../manager/errors.ts';
import type { Vif } from '../manager/model.ts';
import type { PinnedDatapath } from '../maps/pinned-datapath.ts';
import { ConfigTable } from '../maps/tables/config-table.ts';
import { VR_CAP_MAX } from '../maps/layout.ts';
import { trapMask, trapRulesOf, type TrapRuleName } from '../maps/trap-reasons.ts';
import { LiveInjector, type FrameInjector } from './live-injector.ts';
import { PacketHub, type PacketHubStats, type PacketWatchOptions, type TrapBatch } from './packet-hub.ts';

export type SendMode = 'out' | 'into';

const ETH_HLEN = 14;

/** FrameSender: a frame out of a kernel interface as is (PacketSocket) */
export interface FrameSender {
  send(ifindex: number, frame: Buffer): void;
  close(): void;
}

/** VifLookup: the vif of an index, or a not_found DatapathError naming `field` (the manager's VifManager) */
export interface VifLookup {
  get(index: number, field?: string): Vif;
}

export interface PacketIoDeps {
  vifs: VifLookup;
  config: ConfigTable;
  hub: PacketHub;
  sender: FrameSender;
  injector: FrameInjector;
}

/** maxFrame: the longest frame a vif takes: its MTU and an Ethernet header, at most VR_CAP_MAX. */
export function maxFrame(mtu: number): number {
  return mtu > 0 ? Math.min(mtu + ETH_HLEN, VR_CAP_MAX) : VR_CAP_MAX;
}

export class PacketIo {
  private readonly d: PacketIoDeps;

  constructor(deps: PacketIoDeps) {
    this.d = deps;
  }

  /**
   * open: the packet interface of a pinned datapath: a reader on its trap
   * ring, an AF_PACKET socket and its XDP entry for live runs, all in the
   * calling thread's network namespace. onError: the ring reader failed.
   */
  static open(dp: PinnedDatapath, vifs: VifLookup, onError?: (err: Error) => void): PacketIo {
    const sender = PacketSocket.open();
    try {
      const hub = PacketHub.open(dp.maps.vr_trap_rb.fd, onError);
      return new PacketIo({ vifs, config: new ConfigTable(dp.maps.vr_config), hub, sender, injector: new LiveInjector(dp.xdp) });
    } catch (err) {
      sender.close();
      throw err;
    }
  }

  /** watch: the packets trapped from now on (see PacketHub.watch). */
  watch(opts: PacketWatchOptions = {}): Watcher<TrapBatch> {
    return this.d.hub.watch(opts);
  }

  /** send: frame out of vif `index` ('out') or into the datapath as received on it ('into'). */
  send(index: number, frame: Buffer, mode: SendMode): void {
    const vif = this.d.vifs.get(index, 'interfaceIndex');
    if (frame.length < ETH_HLEN) throw invalid('frame', `${frame.length} bytes is not an Ethernet frame (at least ${ETH_HLEN})`);
    const max = maxFrame(vif.mtu);
    if (frame.length > max) throw invalid('frame', `${frame.length} bytes is more than vif ${index} takes (${max}: its MTU ${vif.mtu} and an Ethernet header, at most ${VR_CAP_MAX})`);
    try {
      if (mode === 'out') this.d.sender.send(vif.ifindex, frame);
      else this.d.injector.inject(vif.ifindex, frame);
    } catch (err) {
      throw sendError(err, vif, mode);
    }
  }

  /** trapRules: the rules in force (read from the map: what the datapath applies). */
  trapRules(): TrapRuleName[] {
    return trapRulesOf(this.d.config.read().trapMask);
  }

  /** setTrapRules: these rules from now on; returns the rules in force. */
  setTrapRules(rules: readonly TrapRuleName[]): TrapRuleName[] {
    this.d.config.setTrapMask(trapMask(rules));
    return this.trapRules();
  }

  stats(): PacketHubStats {
    return this.d.hub.stats();
  }

  async close(): Promise<void> {
    this.d.sender.close();
    await this.d.hub.close();
  }
}

/** sendError: a kernel refusal as a domain error (an unexpected one stays as it is: INTERNAL). */
function sendError(err: unknown, vif: Vif, mode: SendMode): unknown {
  if (!(err instanceof BpfError)) return err;
  const dev = `kernel interface ${vif.name} (ifindex ${vif.ifindex})`;
  switch (err.code) {
    case 'ENETDOWN':
      return precondition(`${dev} of vif ${vif.index} is down`, 'interfaceIndex');
    case 'ENXIO':
    case 'ENODEV':
      return precondition(`${dev} of vif ${vif.index} is gone`, 'interfaceIndex');
    case 'EMSGSIZE':
      return invalid('frame', `${dev} refuses a frame this long (EMSGSIZE)`);
    case 'EAGAIN':
    case 'ENOBUFS':
      return new DatapathError('resource_exhausted', `the transmit queue of ${dev} is full (${err.code}): send again later`, { field: 'interfaceIndex', cause: err });
    case 'EINVAL':
      if (mode === 'into') return invalid('frame', 'the kernel refuses to run this frame into the datapath (EINVAL): a live run takes at most about a page');
      return err;
    default:
      return err;
  }
}
