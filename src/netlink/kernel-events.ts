/**
 * KernelEvents: the daemon's view of its network namespace kept current
 * from rtnetlink (src/bpf/rtnetlink-reader.ts), without polling. A vif's
 * kernel interface going operationally down or up reaches the datapath
 * (Vif.linkDown: the vif's entry and the next hops that output on it), a
 * rename renames the vif in the manager's view, a delete marks the vif
 * orphaned (kept: deleting it is the agent's call). Every event is counted,
 * logged and fanned out to WatchKernelEvents watchers (src/events/fanout.ts).
 */
import type { Logger } from 'pino';
import { Fanout, type Batch, type Watcher } from '../events/fanout.ts';
import type { RtnetlinkMessage } from '../bpf/rtnetlink-parse.ts';
import type { DatapathManager } from '../manager/datapath-manager.ts';

export const KERNEL_EVENT_TYPES = [
  'link_up', 'link_down', 'link_rename', 'link_delete', 'address_add', 'address_delete',
  'neighbour_update', 'neighbour_delete', 'route_add', 'route_delete', 'overrun',
] as const;
export type KernelEventType = (typeof KERNEL_EVENT_TYPES)[number];

export interface KernelEvent {
  type: KernelEventType;
  timeMs: number;
  ifindex: number;
  /** the vif on that ifindex, if any */
  vif: number | undefined;
  name: string;
  oldName?: string;
  operState?: string;
  address?: string;
  prefixLen?: number;
  lladdr?: string;
  neighState?: string;
  prefix?: string;
  gateway?: string;
  table?: number;
}

export class KernelEventBatch implements Batch {
  readonly events: KernelEvent[];
  constructor(events: KernelEvent[]) {
    this.events = events;
  }
  get count(): number {
    return this.events.length;
  }
  slice(start: number, end?: number): this {
    return new KernelEventBatch(this.events.slice(start, end)) as this;
  }
}

/** the source of rtnetlink messages: the reader, or a test feeding messages */
export interface KernelEventSource {
  close(): Promise<void>;
}

export class KernelEvents {
  private readonly mgr: DatapathManager;
  private readonly log: Logger;
  private readonly fanout = new Fanout<KernelEventBatch>();
  private readonly counts = new Map<KernelEventType, number>(KERNEL_EVENT_TYPES.map((t) => [t, 0]));
  /** what the last RTM_NEWLINK said of each link seen */
  private readonly links = new Map<number, { name: string; operUp: boolean }>();
  /** messages are handled one datagram after another: a vif's datapath write is made before its event is published */
  private chain: Promise<void> = Promise.resolve();
  private source: KernelEventSource | undefined;

  constructor(mgr: DatapathManager, log: Logger) {
    this.mgr = mgr;
    this.log = log;
  }

  /** attach: the source whose close() ends this hub's input */
  attach(source: KernelEventSource): void {
    this.source = source;
  }

  /** handle: one datagram's messages (called by the reader, in the kernel's order). */
  handle(msgs: RtnetlinkMessage[]): void {
    this.chain = this.chain.then(() => this.process(msgs)).catch((err: unknown) => this.log.error({ err }, 'kernel event not applied'));
  }

  /** settled: resolves once every message handed over so far is applied and published */
  settled(): Promise<void> {
    return this.chain;
  }

  watch(max: number): Watcher<KernelEventBatch> {
    return this.fanout.subscribe({ max });
  }

  /** stats: events by type since start, and the watchers open now */
  stats(): { counts: ReadonlyMap<KernelEventType, number>; watchers: number } {
    return { counts: this.counts, watchers: this.fanout.size };
  }

  async close(): Promise<void> {
    await this.source?.close();
    await this.chain;
    this.fanout.end();
  }

  private async process(msgs: RtnetlinkMessage[]): Promise<void> {
    const out: KernelEvent[] = [];
    for (const m of msgs) {
      const timeMs = Date.now();
      if (m.kind === 'overrun') {
        this.log.warn('rtnetlink socket overrun: kernel events were lost; the view of links may be stale until their next change');
        out.push({ type: 'overrun', timeMs, ifindex: 0, vif: undefined, name: '' });
        continue;
      }
      if (m.kind === 'link') {
        await this.link(m, timeMs, out);
        continue;
      }
      const vif = this.mgr.vifs.byIfindexOf(m.ifindex);
      const name = this.links.get(m.ifindex)?.name ?? vif?.name ?? '';
      const base = { timeMs, ifindex: m.ifindex, vif: vif?.index, name };
      if (m.kind === 'addr') {
        const e: KernelEvent = { ...base, type: m.deleted ? 'address_delete' : 'address_add', address: m.address, prefixLen: m.prefixLen };
        this.log.info({ ifindex: m.ifindex, vif: vif?.index, name, address: `${m.address}/${m.prefixLen}` }, m.deleted ? 'address deleted' : 'address added');
        out.push(e);
      } else if (m.kind === 'neigh') {
        // neighbours and routes change often (IPv6 multicast, probes): debug
        this.log.debug({ ifindex: m.ifindex, name, address: m.address, lladdr: m.lladdr, state: m.state }, m.deleted ? 'neighbour deleted' : 'neighbour updated');
        out.push({ ...base, type: m.deleted ? 'neighbour_delete' : 'neighbour_update', address: m.address, lladdr: m.lladdr, neighState: m.state });
      } else {
        this.log.debug({ ifindex: m.ifindex, name, prefix: m.prefix, gateway: m.gateway, table: m.table }, m.deleted ? 'route deleted' : 'route added');
        out.push({ ...base, type: m.deleted ? 'route_delete' : 'route_add', prefix: m.prefix, gateway: m.gateway, table: m.table });
      }
    }
    for (const e of out) this.counts.set(e.type, (this.counts.get(e.type) ?? 0) + 1);
    if (out.length) this.fanout.publish(new KernelEventBatch(out));
  }

  /**
   * link: up / down on a change of operational state (a link first seen
   * counts as up: its vif's state for a vif), rename on a new name, delete.
   */
  private async link(m: Extract<RtnetlinkMessage, { kind: 'link' }>, timeMs: number, out: KernelEvent[]): Promise<void> {
    const vif = this.mgr.vifs.byIfindexOf(m.ifindex);
    const prev = this.links.get(m.ifindex);
    const base = { timeMs, ifindex: m.ifindex, vif: vif?.index, name: m.name, operState: m.operState };
    if (m.deleted) {
      this.links.delete(m.ifindex);
      out.push({ ...base, type: 'link_delete' });
      if (!vif) return this.log.info({ ifindex: m.ifindex, name: m.name }, 'link deleted');
      this.log.warn({ ifindex: m.ifindex, vif: vif.index, name: m.name }, 'kernel interface of vif deleted: the vif is orphaned (delete it through the API)');
      this.mgr.vifs.orphaned(vif.index);
      // what still goes to it is counted, not redirected to an ifindex that is gone
      await this.applyLinkState(vif.index, true);
      return;
    }
    this.links.set(m.ifindex, { name: m.name, operUp: m.operUp });
    const oldName = prev?.name ?? vif?.name;
    if (oldName !== undefined && oldName !== '' && oldName !== m.name) {
      if (vif) this.mgr.vifs.renamed(vif.index, m.name);
      this.log.info({ ifindex: m.ifindex, vif: vif?.index, name: m.name, oldName }, 'link renamed');
      out.push({ ...base, type: 'link_rename', oldName });
    }
    const wasUp = prev?.operUp ?? (vif ? !vif.linkDown : true);
    if (wasUp === m.operUp) return;
    this.log.info({ ifindex: m.ifindex, vif: vif?.index, name: m.name, operState: m.operState }, m.operUp ? 'link up' : 'link down');
    if (vif) await this.applyLinkState(vif.index, !m.operUp);
    out.push({ ...base, type: m.operUp ? 'link_up' : 'link_down' });
  }

  private async applyLinkState(vif: number, down: boolean): Promise<void> {
    try {
      await this.mgr.setLinkState(vif, down);
    } catch (err) {
      this.log.error({ err, vif, linkDown: down }, 'link state of vif not written to the datapath');
    }
  }
}
