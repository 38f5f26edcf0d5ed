/**
 * RouteManager: the per-VRF IPv4 / IPv6 routes. The maps are the only copy
 * of the routes (host routes in the host hashes, other prefixes in the
 * tries: RouteTable): the daemon keeps a count per map and, in the next-hop
 * manager, a reference count per next hop. Batches are validated whole,
 * then written in chunks with bpf_map_update_batch, one map at a time,
 * breathing between chunks so that reads are answered meanwhile; every
 * write is journaled.
 */
import type { Logger } from 'pino';
import { BpfError } from '../bpf/errors.ts';
import { BPF_EXIST } from '../bpf/map.ts';
import { RT, RT_VALUE_SIZE, decodeRouteKey } from '../maps/codecs.ts';
import { RouteTable } from '../maps/tables/route-table.ts';
import { FAMILY_SLOTS, ROUTE_SLOTS, RouteBatch, RoutePack, isHostSlot, routeOf, slotFamily, slotOf, type RouteSlot } from '../maps/tables/route-pack.ts';
import { CHUNK, breathe } from './command-queue.ts';
import { DatapathError, exhausted, exists, invalid, notFound } from './errors.ts';
import type { Journal } from './journal.ts';
import { KeySet } from './key-set.ts';
import { familyOf, type Family, type Route, type RouteKey } from './model.ts';
import type { NextHopManager } from './nexthop-manager.ts';
import type { VifManager } from './vif-manager.ts';
import { formatPrefix } from './net-addr.ts';

/** How a batch treats its items: all or nothing, or each on its own (stream operations). */
export type BatchMode = 'atomic' | 'each';

/** Marks: the routes a sync epoch has seen, per family. */
export type RouteMarks = Record<Family, KeySet>;

export interface RouteBatchOptions {
  mode: BatchMode;
  journal: Journal;
  /** in a sync epoch: every route added or re-sent is marked as seen */
  marks?: RouteMarks | undefined;
  /** an add of an existing route updates it (or leaves it, if equal) instead of ALREADY_EXISTS (the agent's resync) */
  upsert?: boolean;
}

/** BatchOutcome: per item, undefined (done) or the error; atomic batches throw instead. */
export type BatchOutcome = (DatapathError | undefined)[];

export class RouteManager {
  readonly table: RouteTable;
  private readonly nhs: NextHopManager;
  private readonly vifs: VifManager;
  private readonly log: Logger;
  private readonly counts: Record<RouteSlot, number> = { rt4: 0, host4: 0, rt6: 0, host6: 0 };

  constructor(table: RouteTable, nhs: NextHopManager, vifs: VifManager, log: Logger) {
    this.table = table;
    this.nhs = nhs;
    this.vifs = vifs;
    this.log = log;
  }

  /** count: the routes of a family (host routes and prefixes). */
  count(family: Family): number {
    const [rt, host] = FAMILY_SLOTS[family];
    return this.counts[rt] + this.counts[host];
  }

  /** countIn: the routes one map holds. */
  countIn(slot: RouteSlot): number {
    return this.counts[slot];
  }

  /**
   * load: counts the routes and the references to each next hop (one pass
   * over each map, ~0.7 s of kernel time at 1M routes in a trie: it breathes
   * between chunks, and the daemon queues it as its first write so reads
   * are served meanwhile).
   */
  async load(): Promise<void> {
    for (const slot of ROUTE_SLOTS)
      for (const { ids } of this.table.scanNextHops(slot)) {
        this.counts[slot] += ids.length;
        for (const id of ids) this.nhs.ref(id, 1);
        await breathe();
      }
  }

  get(k: RouteKey): Route {
    const r = this.table.exact(k);
    if (!r) throw notFound('prefix', `no route ${fmt(k)} in vrf ${k.vrf}`);
    return r;
  }

  lookup(vrf: number, addr: Buffer): Route {
    const r = this.table.match(vrf, addr);
    if (!r) throw notFound('address', `no route for the address in vrf ${vrf}`);
    return r;
  }

  /** list: the routes in the maps' own order, a chunk at a time (no sort, no copy of the table). */
  *list(vrf?: number, chunk = 1024): Generator<Route[]> {
    for (const family of [4, 6] as const) {
      let out: Route[] = [];
      for (const [k, v] of this.table.scan(family, chunk)) {
        const key = decodeRouteKey(k);
        if (vrf !== undefined && key.vrf !== vrf) continue;
        out.push(routeOf(key, RT.decode(v)));
        if (out.length >= chunk) {
          yield out;
          out = [];
        }
      }
      if (out.length) yield out;
    }
  }

  /** add: creates routes given as specs (see addBatch). */
  add(specs: Route[], opts: RouteBatchOptions): Promise<BatchOutcome> {
    return this.addBatch(RouteBatch.of(specs), opts);
  }

  /**
   * addBatch: creates routes. Atomic: any invalid item fails the whole batch
   * before anything is written, and a failed write undoes the batch.
   * Each: invalid items get their own error and the rest are written.
   * Existence is checked for a whole chunk at once (RouteTable.exactMany).
   */
  async addBatch(b: RouteBatch, opts: RouteBatchOptions): Promise<BatchOutcome> {
    const out: BatchOutcome = new Array(b.size);
    const fail = (i: number, err: unknown) => {
      const e = err instanceof DatapathError ? err : internal(err);
      if (opts.mode === 'atomic') throw e.at(i);
      out[i] = e.at(i);
    };
    const adds = {} as Record<RouteSlot, RoutePack>;
    const addIdx = {} as Record<RouteSlot, number[]>;
    const updates: { i: number; family: Family; key: Buffer; value: Buffer; old: Buffer }[] = [];
    for (const slot of ROUTE_SLOTS) {
      const family = b.packs[slot].family;
      // pass 1: what can be told without the kernel (VRF, next hop, duplicates)
      const { cand, candIdx } = await this.distinct(b, slot, fail, 'duplicate of an earlier route in the same batch', (vrf, nhId) => {
        this.vifs.checkVrf(vrf, 'vrf');
        if (!this.nhs.has(nhId)) throw notFound('nhId', `no next hop with id ${nhId}`);
      });
      // pass 2: which exist already (in a sync epoch: update them if they differ)
      const existing = new Uint8Array(cand.count);
      let nExisting = 0;
      await this.eachExact(cand, (k, old) => {
        if (!old) return;
        existing[k] = 1;
        nExisting++;
        const i = candIdx[k]!;
        if (!opts.upsert) {
          const r = cand.route(k);
          fail(i, exists('prefix', `route ${fmt(r)} already exists in vrf ${r.vrf}`));
        } else {
          opts.marks?.[family].add(cand.key(k));
          if (!old.equals(cand.value(k))) updates.push({ i, family, key: Buffer.from(cand.key(k)), value: Buffer.from(cand.value(k)), old: Buffer.from(old) });
        }
      });
      // the usual case: none exists, the candidates are the adds as they are
      if (!nExisting) {
        adds[slot] = cand;
        addIdx[slot] = candIdx;
        continue;
      }
      adds[slot] = new RoutePack(slot, cand.count - nExisting);
      addIdx[slot] = [];
      for (let k = 0; k < cand.count; k++)
        if (!existing[k]) {
          adds[slot].pushFrom(cand, k);
          addIdx[slot].push(candIdx[k]!);
        }
    }
    for (const slot of ROUTE_SLOTS) {
      const n = adds[slot].count;
      const cap = this.table.capacity(slot);
      if (n && this.counts[slot] + n > cap) {
        const e = exhausted(`${tableName(slot)} full: ${this.counts[slot]} of ${cap} used, ${n} asked for`);
        if (opts.mode === 'atomic') throw e;
        for (const i of addIdx[slot]) out[i] = e;
        adds[slot].count = 0;
      }
    }
    for (const slot of ROUTE_SLOTS) await this.writeAdds(adds[slot], addIdx[slot], opts, out);
    for (const u of updates) {
      try {
        this.replace(u.family, u.key, u.value, u.old, opts.journal);
      } catch (err) {
        fail(u.i, err);
      }
    }
    const added = ROUTE_SLOTS.reduce((n, slot) => n + adds[slot].count, 0);
    if (added > 1) this.log.info({ count: added, updated: updates.length }, 'routes added');
    return out;
  }

  private async writeAdds(p: RoutePack, index: number[], opts: RouteBatchOptions, out: BatchOutcome): Promise<void> {
    for (let from = 0; from < p.count; from += CHUNK) {
      const part = p.slice(from, Math.min(p.count, from + CHUNK));
      try {
        this.table.writePack(part);
      } catch (err) {
        const written = (err as { written?: number }).written ?? 0;
        if (written) this.table.deleteKeys(p.slot, part.keys, written);
        const e = writeError(err, tableName(p.slot));
        if (opts.mode === 'atomic') throw e.at(index[Math.min(from + written, p.count - 1)]!); // the item the kernel stopped at
        for (let i = from; i < from + part.count; i++) out[index[i]!] = e;
        continue;
      }
      this.account(part, +1);
      if (opts.marks) for (let i = 0; i < part.count; i++) opts.marks[p.family].add(part.key(i));
      opts.journal.changed({ object: 'route', action: 'add', pack: part });
      opts.journal.record(`add ${part.count} to ${tableName(p.slot)}`, () => {
        this.table.deleteKeys(p.slot, part.keys, part.count);
        this.account(part, -1);
      });
      if (from + CHUNK < p.count) await breathe();
    }
  }

  /** update: changes the next hop or flags of an existing route. */
  update(spec: Route, j: Journal): void {
    this.vifs.checkVrf(spec.vrf, 'vrf');
    if (!this.nhs.has(spec.nhId)) throw notFound('nhId', `no next hop with id ${spec.nhId}`);
    const family = familyOf(spec.addr);
    const pack = new RoutePack(slotOf(family, spec.plen), 1);
    pack.push(spec);
    const old = this.table.exactRaw(family, pack.key(0));
    if (!old) throw notFound('prefix', `no route ${fmt(spec)} in vrf ${spec.vrf}`);
    this.replace(family, Buffer.from(pack.key(0)), Buffer.from(pack.value(0)), Buffer.from(old), j);
  }

  /** replace: writes a route's new value over its old one (same key), moving its next-hop reference. */
  private replace(family: Family, key: Buffer, value: Buffer, old: Buffer, j: Journal): void {
    const oldNh = old.readUInt32LE(0);
    const newNh = value.readUInt32LE(0);
    j.run('update route', () => this.table.putRaw(family, key, value, BPF_EXIST), () => this.table.putRaw(family, key, old, BPF_EXIST));
    j.changed({ object: 'route', action: 'update', key, value });
    this.nhs.ref(oldNh, -1);
    this.nhs.ref(newNh, 1);
    j.record('move route reference', () => {
      this.nhs.ref(newNh, -1);
      this.nhs.ref(oldNh, 1);
    });
  }

  /** delete: removes routes by key (see deleteBatch). */
  delete(keys: RouteKey[], opts: RouteBatchOptions): Promise<BatchOutcome> {
    return this.deleteBatch(RouteBatch.of(keys.map((k) => ({ ...k, nhId: 0, proxyArp: false }))), opts);
  }

  /** deleteBatch: removes the routes of a batch by key (values ignored); atomic batches need every key to exist. */
  async deleteBatch(b: RouteBatch, opts: RouteBatchOptions): Promise<BatchOutcome> {
    const out: BatchOutcome = new Array(b.size);
    const fail = (i: number, e: DatapathError) => {
      if (opts.mode === 'atomic') throw e.at(i);
      out[i] = e.at(i);
    };
    for (const slot of ROUTE_SLOTS) {
      const { cand, candIdx } = await this.distinct(b, slot, fail, 'duplicate key in the same batch');
      // the routes that exist, with their current values (for the undo and the references)
      const victims = new RoutePack(slot, cand.count);
      const index: number[] = [];
      await this.eachExact(cand, (k, old) => {
        const i = candIdx[k]!;
        if (!old) {
          const r = cand.route(k);
          fail(i, notFound('prefix', `no route ${fmt(r)} in vrf ${r.vrf}`));
        } else {
          victims.pushRaw(cand.key(k), old);
          index.push(i);
        }
      });
      for (let from = 0; from < victims.count; from += CHUNK) {
        const part = victims.slice(from, Math.min(victims.count, from + CHUNK));
        try {
          this.table.deleteKeys(slot, part.keys, part.count);
        } catch (err) {
          const written = (err as { written?: number }).written ?? 0;
          if (written) this.table.writePack(part.slice(0, written));
          const e = writeError(err, tableName(slot));
          if (opts.mode === 'atomic') throw e.at(index[Math.min(from + written, victims.count - 1)]!); // the item the kernel stopped at
          for (let i = from; i < from + part.count; i++) out[index[i]!] = e;
          continue;
        }
        this.account(part, -1);
        opts.journal.changed({ object: 'route', action: 'delete', pack: part });
        opts.journal.record(`delete ${part.count} from ${tableName(slot)}`, () => {
          this.table.writePack(part);
          this.account(part, +1);
        });
        if (from + CHUNK < victims.count) await breathe();
      }
    }
    return out;
  }

  /**
   * distinct: the routes of one slot of a batch whose key does not repeat
   * an earlier one (`check` may refuse a route by throwing), with their
   * positions in the request; refusals go to `fail`.
   */
  private async distinct(
    b: RouteBatch,
    slot: RouteSlot,
    fail: (i: number, e: DatapathError) => void,
    dupMessage: string,
    check?: (vrf: number, nhId: number) => void,
  ): Promise<{ cand: RoutePack; candIdx: number[] }> {
    const all = b.packs[slot];
    const ks = all.keySize;
    const refused = new Uint8Array(all.count);
    let nRefused = 0;
    const seen = new KeySet(ks, all.count);
    for (let k = 0; k < all.count; k++) {
      if (k % CHUNK === CHUNK - 1) await breathe();
      try {
        check?.(all.keys.readUInt32BE(k * ks + 4), all.nhId(k));
        if (!seen.add(all.keys, k * ks)) throw invalid('prefix', dupMessage);
      } catch (err) {
        refused[k] = 1;
        nRefused++;
        fail(b.index[slot][k]!, err instanceof DatapathError ? err : internal(err));
      }
    }
    // the usual case: nothing refused, the batch's own pack goes on as it is
    if (!nRefused) return { cand: all, candIdx: b.index[slot] };
    const cand = new RoutePack(slot, all.count - nRefused);
    const candIdx: number[] = [];
    for (let k = 0; k < all.count; k++)
      if (!refused[k]) {
        cand.pushFrom(all, k);
        candIdx.push(b.index[slot][k]!);
      }
    return { cand, candIdx };
  }

  /** eachExact: fn(k, the current value of route k of the pack, or undefined when it does not exist), a chunk at a time. */
  private async eachExact(p: RoutePack, fn: (k: number, old: Buffer | undefined) => void): Promise<void> {
    for (let from = 0; from < p.count; from += CHUNK) {
      const to = Math.min(p.count, from + CHUNK);
      const { values, found } = this.table.exactMany(p, from, to);
      for (let k = from; k < to; k++) fn(k, found[k - from] ? values.subarray((k - from) * RT_VALUE_SIZE, (k - from + 1) * RT_VALUE_SIZE) : undefined);
      await breathe();
    }
  }

  /**
   * sweep: removes every route the marks do not hold (the end of a sync
   * epoch); returns how many went.
   */
  async sweep(marks: RouteMarks, j: Journal): Promise<number> {
    let removed = 0;
    for (const family of [4, 6] as const) {
      const stale: RouteKey[] = [];
      let n = 0;
      for (const [k] of this.table.scan(family)) {
        if (!marks[family].has(k)) stale.push(decodeRouteKey(k));
        if (++n % CHUNK === 0) await breathe();
      }
      if (stale.length) await this.delete(stale, { mode: 'atomic', journal: j });
      removed += stale.length;
    }
    return removed;
  }

  private account(p: RoutePack, sign: 1 | -1): void {
    this.counts[p.slot] += sign * p.count;
    for (let i = 0; i < p.count; i++) this.nhs.ref(p.nhId(i), sign);
  }
}

const fmt = (k: RouteKey): string => formatPrefix(k);

/** tableName: a slot as errors and logs name it ("IPv4 host routes (vr_host4)") */
function tableName(slot: RouteSlot): string {
  return `IPv${slotFamily(slot)} ${isHostSlot(slot) ? 'host routes' : 'routes'} (vr_${slot})`;
}

function internal(err: unknown): DatapathError {
  return new DatapathError('internal', (err as Error).message ?? String(err), { cause: err });
}

/** writeError: a map write failure as a domain error ("table full" errnos: RESOURCE_EXHAUSTED). */
export function writeError(err: unknown, what: string): DatapathError {
  if (err instanceof DatapathError) return err;
  if (err instanceof BpfError && (err.code === 'E2BIG' || err.code === 'ENOSPC' || err.code === 'ENOMEM'))
    return new DatapathError('resource_exhausted', `${what} table is full (${err.code})`, { cause: err });
  return new DatapathError('internal', `writing ${what}: ${(err as Error).message}`, { cause: err });
}
