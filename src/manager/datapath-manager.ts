/**
 * DatapathManager: the datapath model, split by table (vifs, next hops,
 * routes, flows) over the kernel interface. It owns the one serial command queue
 * every write goes through, the journal that undoes a failed change or
 * transaction, and the sync epochs of an agent's resync. Reads do not
 * queue: they read the maps.
 */
import type { Logger } from 'pino';
import type { DatapathKernel } from '../maps/kernel.ts';
import { perCpuU64, u32Key, type VifStats } from '../maps/codecs.ts';
import { DROP_REASONS, type DropReasonName } from '../maps/drop-reasons.ts';
import { VR_COMP_BLOCK, type MapName } from '../maps/layout.ts';
import { NextHopTable } from '../maps/tables/nexthop-table.ts';
import { RouteTable } from '../maps/tables/route-table.ts';
import { RouteBatch } from '../maps/tables/route-pack.ts';
import { VifTable } from '../maps/tables/vif-table.ts';
import { FlowTable } from '../maps/tables/flow-table.ts';
import { DecapTable } from '../maps/tables/decap-table.ts';
import { CompTable } from '../maps/tables/comp-table.ts';
import { DecapManager } from './decap-manager.ts';
import { BridgeManager, bridgeKeyId } from './bridge-manager.ts';
import { BridgeTable } from '../maps/tables/bridge-table.ts';
import { CommandQueue } from './command-queue.ts';
import { DatapathError, invalid, precondition } from './errors.ts';
import { BpfError } from '../bpf/errors.ts';
import type { TraceResult } from '../maps/tables/packet-tracer.ts';
import { Journal } from './journal.ts';
import { ChangeLog } from './change-log.ts';
import type { BridgeEntry, BridgeKey, DecapEntry, DecapTableName, Hook, NextHop, NextHopSpec, Op, Route, RouteKey, Vif, VifChange, VifSpec } from './model.ts';
import type { Flow, FlowKey, FlowSpec } from './flow-model.ts';
import { FlowManager, newFlowNotes, type FlowNotes, type FlowSetResult } from './flow-manager.ts';

/** the largest frame TracePacket runs: a 9000-byte MTU's frame and then some */
const MAX_TRACE_FRAME = 16384;
import { NextHopManager } from './nexthop-manager.ts';
import { RouteManager, writeError, type BatchOutcome, type RouteMarks } from './route-manager.ts';
import { SyncEpochs, type SyncEpoch, type SyncState } from './sync-epochs.ts';

export type { SyncState } from './sync-epochs.ts';
import { VifManager } from './vif-manager.ts';

export interface ManagerLimits {
  maxVrfs: number;
}

export interface DropCount {
  reason: number;
  name: DropReasonName;
  /** the kernel's per-CPU counts summed, plus the daemon's */
  packets: bigint;
  perCpu: bigint[];
  /** counted by the daemon (see extraDrops) */
  daemon: bigint;
}

/** BULK: a write of at least this many items counts as bulk (see onBulk) */
const BULK = 10_000;

/**
 * the order a transaction applies its operations in: no dangling reference
 * at any point (composites name their members; routes, labels, VNIs and
 * bridge entries name next hops; flows name no other object). isComposite:
 * whether a next hop deleted is a composite (deleted before the next hops it
 * may use).
 */
function phase(op: Op, isComposite: (id: number) => boolean): number {
  if (op.kind === 'vif') return op.action === 'delete' ? 5 : 0;
  if (op.kind === 'nh') {
    if (op.action === 'delete') return isComposite(op.id) ? 3.5 : 4;
    return op.spec.kind === 'composite' ? 1.5 : 1;
  }
  if (op.kind === 'member') return 1.6;
  return op.action === 'delete' ? 3 : 2;
}

export class DatapathManager {
  readonly kernel: DatapathKernel;
  readonly vifs: VifManager;
  readonly nhs: NextHopManager;
  readonly routes: RouteManager;
  readonly flows: FlowManager;
  /** the decap tables: MPLS labels (vr_mpls) and VNIs (vr_vxlan) */
  readonly labels: DecapManager;
  readonly vnis: DecapManager;
  /** the bridge (MAC) table (vr_bridge) */
  readonly bridge: BridgeManager;
  readonly queue = new CommandQueue();
  private readonly log: Logger;
  /** onBulk: called after a write that touched many routes (the daemon reclaims memory then) */
  onBulk: (() => void) | undefined;
  private readonly syncs: SyncEpochs;
  /** every committed change, at debug with its key (the one place the datapath's changes are logged) */
  private readonly changes: ChangeLog;

  constructor(kernel: DatapathKernel, limits: ManagerLimits, log: Logger) {
    this.kernel = kernel;
    this.log = log;
    this.changes = new ChangeLog(log);
    this.syncs = new SyncEpochs(log);
    const m = kernel.maps;
    this.vifs = new VifManager(kernel, new VifTable(m.vr_vifs, m.vr_vif_stats), limits.maxVrfs, log);
    this.nhs = new NextHopManager(new NextHopTable(m.vr_nexthops), this.vifs, log, new CompTable(m.vr_comp));
    this.routes = new RouteManager(
      new RouteTable({ rt4: m.vr_rt4, host4: m.vr_host4, rt6: m.vr_rt6, host6: m.vr_host6 }, kernel.routeLookups),
      this.nhs,
      this.vifs,
      log,
    );
    this.flows = new FlowManager(new FlowTable(m.vr_flows), limits.maxVrfs, log);
    this.labels = new DecapManager('mpls', new DecapTable(m.vr_mpls), this.nhs, log);
    this.vnis = new DecapManager('vxlan', new DecapTable(m.vr_vxlan), this.nhs, log);
    this.bridge = new BridgeManager(new BridgeTable(m.vr_bridge), this.nhs, this.vifs, log);
    this.flowCounter = () => this.flows.count();
  }

  /**
   * load: what the daemon keeps beside the maps, rebuilt from them; installs
   * next hop 0. Vifs and next hops are read at once; the route tries and
   * the flow table are counted by the first command of the queue, so reads (and health) are
   * answered while it runs and writes wait for it. Resolves when all is read.
   */
  load(): Promise<void> {
    const t0 = performance.now();
    this.vifs.load();
    this.nhs.load();
    this.labels.load();
    this.vnis.load();
    this.bridge.load();
    return this.queue.run(async () => {
      await this.routes.load();
      const flows = await this.flows.recount();
      this.log.info(
        { vifs: this.vifs.size, nexthops: this.nhs.size, labels: this.labels.size, vnis: this.vnis.size, bridge: this.bridge.size, routes4: this.routes.count(4), routes6: this.routes.count(6), flows, ms: Math.round(performance.now() - t0) },
        'datapath state read from the maps',
      );
    });
  }

  // ------------------------------------------------------------ writes

  /** write: fn on the command queue with a journal of its own, undone if fn throws, its changes logged if not. */
  private write<T>(fn: (j: Journal) => T | Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      const j = new Journal();
      try {
        const r = await fn(j);
        this.changes.committed(j.changes);
        return r;
      } catch (err) {
        this.undo(j);
        throw writeError(err, 'datapath');
      }
    });
  }

  private undo(j: Journal): void {
    for (const f of j.rollback()) this.log.error({ err: f.err, step: f.what }, 'undo step failed; the datapath may differ from what was asked');
  }

  addInterface(spec: VifSpec): Promise<Vif> {
    return this.write((j) => this.seen('vif', this.vifs.add(spec, j)));
  }

  /**
   * seen: what a single call writes while a sync epoch is open counts as
   * re-sent (the sweep at its end removes only what nobody wrote).
   */
  private seen<T extends Vif | NextHop>(kind: 'vif' | 'nh', x: T): T {
    const s = this.syncs.marking();
    if (s) (kind === 'vif' ? s.vifs : s.nhs).add('index' in x ? x.index : x.id);
    return x;
  }

  private marks(): RouteMarks | undefined {
    return this.syncs.marking()?.routes;
  }

  updateInterface(index: number, change: VifChange): Promise<Vif> {
    return this.write((j) => this.updateVif(index, change, j));
  }

  /**
   * setLinkState: a vif's kernel interface went operationally down or up
   * (rtnetlink): its entry and the next hops that output on it say so, and
   * the datapath drops what goes there as interface_link_down. Undefined
   * when there is no such vif or nothing changes.
   */
  setLinkState(index: number, down: boolean): Promise<Vif | undefined> {
    return this.write((j) => {
      const cur = this.vifs.find(index);
      if (!cur || (cur.linkDown ?? false) === down) return undefined;
      const next: Vif = { ...cur };
      if (down) next.linkDown = true;
      else delete next.linkDown;
      this.vifs.replace(next, j);
      this.nhs.refreshOutputs(next, j);
      return next;
    });
  }

  deleteInterface(index: number): Promise<void> {
    return this.write((j) => this.deleteVif(index, j));
  }

  addNextHop(spec: NextHopSpec): Promise<NextHop> {
    return this.write((j) => this.seen('nh', this.nhs.add(spec, j)));
  }

  updateNextHop(spec: NextHopSpec): Promise<NextHop> {
    return this.write((j) => this.seen('nh', this.nhs.update(spec, j)));
  }

  deleteNextHop(id: number): Promise<void> {
    return this.write((j) => this.nhs.delete(id, j));
  }

  /** addCompositeMember: one member more for a composite; the composite as it is then. */
  addCompositeMember(id: number, member: number): Promise<NextHop> {
    return this.write((j) => this.nhs.addMember(id, member, j));
  }

  /** removeCompositeMember: one member less (an ECMP composite moves only that member's flows). */
  removeCompositeMember(id: number, member: number): Promise<NextHop> {
    return this.write((j) => this.nhs.removeMember(id, member, j));
  }

  /** decap: the manager of a decap table. */
  decap(table: DecapTableName): DecapManager {
    return table === 'mpls' ? this.labels : this.vnis;
  }

  /** addDecap: an MPLS label or a VNI and the next hop its packets are run through. */
  addDecap(table: DecapTableName, e: DecapEntry): Promise<DecapEntry> {
    return this.write((j) => {
      this.decap(table).add(e, j);
      this.syncs.marking()?.[table === 'mpls' ? 'labels' : 'vnis'].add(e.key);
      return e;
    });
  }

  /** updateDecap: points an existing label or VNI at another next hop. */
  updateDecap(table: DecapTableName, e: DecapEntry): Promise<DecapEntry> {
    return this.write((j) => {
      this.decap(table).update(e, j);
      this.syncs.marking()?.[table === 'mpls' ? 'labels' : 'vnis'].add(e.key);
      return e;
    });
  }

  deleteDecap(table: DecapTableName, key: number): Promise<void> {
    return this.write((j) => this.decap(table).delete(key, j));
  }

  /** addBridge: a MAC of a VRF and the next hop its frames are bridged to. */
  addBridge(e: BridgeEntry): Promise<BridgeEntry> {
    return this.write((j) => {
      this.bridge.add(e, j);
      this.syncs.marking()?.bridge.add(bridgeKeyId(e));
      return e;
    });
  }

  /** updateBridge: points an existing entry at another next hop (or label). */
  updateBridge(e: BridgeEntry): Promise<BridgeEntry> {
    return this.write((j) => {
      this.bridge.update(e, j);
      this.syncs.marking()?.bridge.add(bridgeKeyId(e));
      return e;
    });
  }

  deleteBridge(k: BridgeKey): Promise<void> {
    return this.write((j) => this.bridge.delete(k, j));
  }

  /** addRoutes: all or nothing. */
  addRoutes(specs: Route[] | RouteBatch): Promise<number> {
    const b = specs instanceof RouteBatch ? specs : RouteBatch.of(specs);
    return this.write(async (j) => {
      await this.routes.addBatch(b, { mode: 'atomic', journal: j, marks: this.marks() });
      return b.size;
    }).finally(() => this.bulk(b.size));
  }

  private bulkItems = 0;

  /** bulk: counts items written (or listed); every BULK of them (in one call or many) calls onBulk. */
  bulk(items: number): void {
    this.bulkItems += items;
    if (this.bulkItems < BULK) return;
    this.bulkItems = 0;
    this.onBulk?.();
  }

  updateRoute(spec: Route): Promise<void> {
    return this.write((j) => this.routes.update(spec, j));
  }

  /** deleteRoutes: all or nothing; every key must exist (a batch's next hops are ignored). */
  deleteRoutes(keys: RouteKey[] | RouteBatch): Promise<number> {
    const b = keys instanceof RouteBatch ? keys : RouteBatch.of(keys.map((k) => ({ ...k, nhId: 0, proxyArp: false })));
    return this.write(async (j) => {
      await this.routes.deleteBatch(b, { mode: 'atomic', journal: j });
      return b.size;
    }).finally(() => this.bulk(b.size));
  }

  /** setFlow: one flow (both halves), an upsert; held packets are re-injected once it is written. */
  setFlow(spec: FlowSpec): Promise<FlowSetResult> {
    return this.writeFlows((j, notes) => this.flows.setOne(spec, j, notes));
  }

  /** setFlows: all or nothing; how many there were under no entry before. */
  setFlows(specs: FlowSpec[]): Promise<{ applied: number; created: number }> {
    return this.writeFlows(async (j, notes) => ({ applied: specs.length, created: (await this.flows.set(specs, j, notes)).created })).finally(() =>
      this.bulk(specs.length),
    );
  }

  /** deleteFlow: the entry under the key and the other half of its pair. */
  deleteFlow(key: FlowKey): Promise<{ flow: Flow; entries: number }> {
    return this.writeFlows((j, notes) => this.flows.delete(key, j, notes));
  }

  /** writeFlows: a write that tells the flow-miss side what it did once it committed (not if it was undone). */
  private writeFlows<T>(fn: (j: Journal, notes: FlowNotes) => T | Promise<T>): Promise<T> {
    return this.write(async (j) => {
      const notes = newFlowNotes();
      const r = await fn(j, notes);
      this.flows.notify(notes);
      return r;
    });
  }

  private updateVif(index: number, change: VifChange, j: Journal): Vif {
    const next = this.vifs.next(index, change);
    this.vifs.replace(next, j);
    this.nhs.refreshOutputs(next, j);
    this.log.info({ vif: index }, 'interface updated');
    return next;
  }

  private deleteVif(index: number, j: Journal): void {
    this.vifs.get(index);
    const users = this.nhs.usersOf(index);
    if (users.length) throw precondition(`interface ${index} is the output of next hop(s) ${users.join(', ')}; delete them first`, 'index');
    this.vifs.remove(index, j);
  }

  /**
   * apply: a list of operations. Atomic: applied in dependency order (vifs,
   * next hops, routes added; then routes, next hops, vifs removed), all or
   * nothing: the failing operation gets its error, the others ABORTED, and
   * everything done is undone in reverse. Not atomic: in the order given,
   * each on its own. Consecutive route adds (or deletes) share batch writes.
   */
  apply(ops: Op[], atomic: boolean): Promise<BatchOutcome> {
    return this.queue.run(() => this.applyNow(ops, atomic)).finally(() => this.bulk(ops.length));
  }

  private async applyNow(ops: Op[], atomic: boolean): Promise<BatchOutcome> {
    const order = ops.map((_, i) => i);
    const isComposite = (id: number) => this.nhs.kindOf(id) === 'composite';
    if (atomic) order.sort((a, b) => phase(ops[a]!, isComposite) - phase(ops[b]!, isComposite) || a - b);
    const out: BatchOutcome = new Array(ops.length);
    const tx = new Journal();
    const txNotes = newFlowNotes();
    const marks = this.syncs.open();
    try {
      for (let p = 0; p < order.length; ) {
        const op = ops[order[p]!]!;
        if (op.kind === 'route' && op.action !== 'update') {
          let q = p + 1;
          while (q < order.length && ops[order[q]!]!.kind === 'route' && ops[order[q]!]!.action === op.action) q++;
          const idx = order.slice(p, q);
          const opts = { mode: atomic ? ('atomic' as const) : ('each' as const), journal: atomic ? tx : new Journal(), marks: marks?.routes, upsert: !!marks };
          try {
            const res =
              op.action === 'add'
                ? await this.routes.add(idx.map((i) => (ops[i] as { spec: Route }).spec), opts)
                : await this.routes.delete(idx.map((i) => (ops[i] as { key: RouteKey }).key), opts);
            res.forEach((e, k) => {
              if (e) out[idx[k]!] = relocate(e, idx[k]!);
            });
            // each on its own: what was written stays (a failed item wrote nothing)
            if (!atomic) this.changes.committed(opts.journal.changes);
          } catch (err) {
            if (err instanceof DatapathError && err.index !== undefined) err.index = idx[err.index];
            throw err;
          }
          p = q;
          continue;
        }
        const i = order[p++]!;
        const j = atomic ? tx : new Journal();
        const notes = atomic ? txNotes : newFlowNotes();
        try {
          const r = this.applyOne(op, j, marks, notes);
          if (r) await r; // only flow sets are async: other operations take no extra turn
          if (!atomic) {
            this.flows.notify(notes);
            this.changes.committed(j.changes);
          }
        } catch (err) {
          const e = domain(err).at(i);
          if (atomic) throw e;
          this.undo(j);
          out[i] = e;
        }
      }
      if (atomic) {
        this.flows.notify(txNotes);
        this.changes.committed(tx.changes);
      }
    } catch (err) {
      this.undo(tx);
      const e = domain(err);
      for (let i = 0; i < ops.length; i++) out[i] = i === e.index ? e : new DatapathError('aborted', 'not applied: another operation of the transaction failed');
      if (e.index === undefined) out.fill(e);
      this.log.info({ ops: ops.length, code: e.code, at: e.index }, 'transaction failed and was undone');
    }
    return out;
  }

  private applyOne(op: Op, j: Journal, sync: SyncEpoch | undefined, notes: FlowNotes): Promise<unknown> | void {
    switch (op.kind) {
      case 'flow':
        if (op.action === 'set') return this.flows.set([op.spec], j, notes);
        this.flows.delete(op.key, j, notes);
        return;
      case 'vif':
        if (op.action === 'add') {
          const cur = sync && this.vifs.find(op.spec.index);
          if (cur && sync) {
            sync.vifs.add(cur.index);
            if (cur.name !== op.spec.name) throw precondition(`interface ${cur.index} is ${cur.name}; delete it to move it to ${op.spec.name}`, 'name');
            const change = { vrf: op.spec.vrf, mac: op.spec.mac ?? cur.mac, ip4: op.spec.ip4 ?? Buffer.alloc(0), ip6: op.spec.ip6 ?? Buffer.alloc(0),
              mtu: op.spec.mtu || cur.mtu, policyEnabled: op.spec.policyEnabled, disabled: op.spec.disabled,
              hookPolicy: op.spec.hookPolicy ?? 'auto' };
            // re-sent unchanged: no write at all (the datapath is not touched)
            if (!sameVif(this.vifs.next(cur.index, change), cur)) this.updateVif(cur.index, change, j);
            return;
          }
          this.vifs.add(op.spec, j);
          sync?.vifs.add(op.spec.index);
        } else if (op.action === 'update') this.updateVif(op.index, op.change, j);
        else this.deleteVif(op.index, j);
        return;
      case 'nh':
        if (op.action === 'add' && sync && this.nhs.has(op.spec.id)) {
          sync.nhs.add(op.spec.id);
          if (!this.nhs.same(this.nhs.check(op.spec))) this.nhs.update(op.spec, j);
          return;
        }
        if (op.action === 'delete') this.nhs.delete(op.id, j);
        else if (op.action === 'update') this.nhs.update(op.spec, j);
        else {
          this.nhs.add(op.spec, j);
          sync?.nhs.add(op.spec.id);
        }
        return;
      case 'member':
        if (op.action === 'add') this.nhs.addMember(op.id, op.member, j);
        else this.nhs.removeMember(op.id, op.member, j);
        return;
      case 'route':
        if (op.action === 'update') this.routes.update(op.spec, j);
        return;
      case 'mpls':
      case 'vxlan': {
        const t = this.decap(op.kind);
        const marks = sync?.[op.kind === 'mpls' ? 'labels' : 'vnis'];
        if (op.action === 'delete') t.delete(op.key, j);
        else if (op.action === 'update') t.update(op.entry, j);
        else if (sync && t.has(op.entry.key)) {
          // re-sent: an upsert (unchanged: nothing written)
          if (!t.same(t.check(op.entry))) t.update(op.entry, j);
        } else t.add(op.entry, j);
        if (op.action !== 'delete') marks?.add(op.entry.key);
        return;
      }
      case 'bridge': {
        const t = this.bridge;
        if (op.action === 'delete') t.delete(op.key, j);
        else if (op.action === 'update') t.update(op.entry, j);
        else if (sync && t.has(op.entry)) {
          // re-sent: an upsert (unchanged: nothing written)
          if (!t.same(t.check(op.entry))) t.update(op.entry, j);
        } else t.add(op.entry, j);
        if (op.action !== 'delete') sync?.bridge.add(bridgeKeyId(op.entry));
        return;
      }
    }
  }

  // ------------------------------------------------------------ sync epochs

  /** beginSync: opens an epoch; an open one of another owner is abandoned (nothing removed). */
  beginSync(owner: string, orphanTimeoutMs: number): Promise<SyncState> {
    return this.queue.run(() => this.syncs.begin(owner, orphanTimeoutMs));
  }

  /** orphanSync: the owner went away mid-sync; the epoch is abandoned after a timeout, removing nothing. */
  orphanSync(epoch: number): void {
    this.syncs.orphan(epoch);
  }

  /** endSync: removes what the epoch did not see (routes, then next hops, then vifs). */
  endSync(epoch: number): Promise<SyncState> {
    return this.write(async (j) => {
      const s = this.syncs.expect(epoch);
      const routes = await this.routes.sweep(s.routes, j);
      const labels = this.labels.sweep(s.labels, j);
      const vnis = this.vnis.sweep(s.vnis, j);
      const bridge = this.bridge.sweep(s.bridge, j);
      let nextHops = 0;
      // composites first: their members are then free to go
      const ids = [...this.nhs.ids()];
      const comp = (id: number) => (this.nhs.kindOf(id) === 'composite' ? 0 : 1);
      ids.sort((a, b) => comp(a) - comp(b) || a - b);
      for (const id of ids)
        if (!s.nhs.has(id)) {
          if (this.nhs.refCount(id) > 0 || this.nhs.decapRefCount(id) > 0 || this.nhs.bridgeRefCount(id) > 0 || this.nhs.compositeRefCount(id) > 0)
            this.log.warn({ nh: id }, 'sync: next hop not re-sent but still used by re-sent routes, labels, VNIs, bridge entries or composites; kept');
          else {
            this.nhs.delete(id, j);
            nextHops++;
          }
        }
      let vifs = 0;
      for (const v of this.vifs.list())
        if (!s.vifs.has(v.index)) {
          if (this.nhs.usersOf(v.index).length) this.log.warn({ vif: v.index }, 'sync: interface not re-sent but still used; kept');
          else {
            this.vifs.remove(v.index, j);
            vifs++;
          }
        }
      return this.syncs.complete(s, { vifs, nextHops, routes, labels, vnis, bridge });
    });
  }

  /** syncStatus: the open epoch, if any, and the last one that ended. */
  syncStatus(): { current: SyncState | undefined; last: SyncState | undefined } {
    return this.syncs.status();
  }

  // ------------------------------------------------------------ reads

  mapUsage(): Record<MapName, number> {
    return {
      vr_meta: 1,
      vr_vifs: this.vifs.size,
      vr_nexthops: this.nhs.size,
      vr_rt4: this.routes.countIn('rt4'),
      vr_rt6: this.routes.countIn('rt6'),
      vr_vif_stats: this.vifs.size,
      vr_drops: this.kernel.maps.vr_drops.maxEntries,
      vr_flows: this.flowCount(),
      vr_config: 1,
      vr_fctr: this.kernel.maps.vr_fctr.maxEntries,
      vr_scratch: 1,
      vr_miss_rb: 0,
      vr_trap_rb: 0,
      vr_host4: this.routes.countIn('host4'),
      vr_host6: this.routes.countIn('host6'),
      vr_mpls: this.labels.size,
      vr_vxlan: this.vnis.size,
      vr_comp: this.nhs.comps.size * VR_COMP_BLOCK,
      vr_tctr: this.kernel.maps.vr_tctr.maxEntries,
      vr_bridge: this.bridge.size,
    };
  }

  /** flowCount: entries in the flow table (forward and reverse halves), counted by the flow layer when it is there */
  flowCount(): number {
    return this.flowCounter?.() ?? 0;
  }

  /** set by the flow layer: how many entries vr_flows holds */
  flowCounter: (() => number) | undefined;

  /**
   * set by the flow layer: drops the daemon makes under the datapath's reasons
   * (held frames expired or refused by the hold queue), added to the kernel's
   * counts; they are no CPU's, so they appear in `packets` and in `daemon`, not in `perCpu`
   */
  extraDrops: (() => Partial<Record<DropReasonName, bigint>>) | undefined;

  dropStats(): DropCount[] {
    const map = this.kernel.maps.vr_drops;
    const extra = this.extraDrops?.() ?? {};
    return DROP_REASONS.map((name, reason) => {
      const raw = map.lookup(u32Key(reason));
      const perCpu = raw ? perCpuU64(raw) : [];
      const daemon = extra[name] ?? 0n;
      return { reason, name, packets: perCpu.reduce((a, b) => a + b, 0n) + daemon, perCpu, daemon };
    });
  }

  /**
   * tracePacket: `frame` as if it arrived on vif `index`, through the hook
   * the vif runs on (or the one asked for): what the datapath would do,
   * with nothing sent, counted or written. Reads the live tables; not
   * queued behind writes (a trace during a long write sees it half done).
   */
  tracePacket(index: number, frame: Buffer, hook?: Hook): TraceResult {
    const vif = this.vifs.get(index, 'interfaceIndex');
    if (frame.length < 14) throw invalid('frame', `${frame.length} bytes is not an Ethernet frame (at least 14)`);
    if (frame.length > MAX_TRACE_FRAME) throw invalid('frame', `${frame.length} bytes is more than a trace takes (${MAX_TRACE_FRAME})`);
    const tracer = this.kernel.tracer;
    if (!tracer) throw precondition('packet tracing is not available: the trace object (vr_trace.o) was not loaded');
    const run = hook ?? vif.hook;
    try {
      return tracer.trace(run, vif.ifindex, frame);
    } catch (err) {
      // the kernel's skb test run refuses some frames (a cut IP header, more than a page)
      if (err instanceof BpfError && err.code === 'EINVAL') throw invalid('frame', `the kernel refuses to run this frame on the ${run} hook (EINVAL)`);
      throw err;
    }
  }

  interfaceStats(index: number): VifStats {
    this.vifs.get(index);
    const s = this.vifs.readStats(index);
    if (!s) throw new DatapathError('internal', `no counters for interface ${index}`);
    return s;
  }
}

function sameVif(a: Vif, b: Vif): boolean {
  const eq = (x: Buffer | undefined, y: Buffer | undefined) => (x && y ? x.equals(y) : x === y);
  return a.vrf === b.vrf && a.mac.equals(b.mac) && eq(a.ip4, b.ip4) && eq(a.ip6, b.ip6) && a.mtu === b.mtu &&
    a.policyEnabled === b.policyEnabled && a.disabled === b.disabled && a.hookPolicy === b.hookPolicy && a.hook === b.hook;
}

function domain(err: unknown): DatapathError {
  return err instanceof DatapathError ? err : new DatapathError('internal', err instanceof Error ? err.message : String(err), { cause: err });
}

/** relocate: an item error of a sub-batch, as its own error at its operation's index. */
function relocate(e: DatapathError, index: number): DatapathError {
  // one error object may stand for several items (a full table, a failed chunk): each operation gets its own
  return new DatapathError(e.code, e.detail, { field: e.field, index, cause: e.cause });
}
