/**
 * DecapManager: one decap table, the MPLS labels (vr_mpls) or the VNIs
 * (vr_vxlan): which next hop a tunnelled packet arriving on the fabric is
 * run through. The daemon keeps the entries in a Map (tens of thousands at
 * most) and counts, per next hop, the entries leading to it: a next hop an
 * entry leads to cannot be deleted. An entry leads to a local next hop only
 * (encap, receive, discard, vrf): the datapath sends nothing it decapsulated
 * back into a tunnel.
 */
import type { Logger } from 'pino';
import { BPF_EXIST, BPF_NOEXIST } from '../bpf/map.ts';
import { MAX_LABEL, MAX_VNI } from '../maps/layout.ts';
import type { DecapTable } from '../maps/tables/decap-table.ts';
import { exhausted, exists, invalid, notFound, precondition } from './errors.ts';
import type { Journal } from './journal.ts';
import type { DecapEntry, DecapTableName } from './model.ts';
import { DECAP_TARGETS, type NextHopManager } from './nexthop-manager.ts';
import { writeError } from './route-manager.ts';

const WHAT: Record<DecapTableName, { what: string; max: number }> = {
  mpls: { what: 'MPLS label', max: MAX_LABEL },
  vxlan: { what: 'VNI', max: MAX_VNI },
};

export class DecapManager {
  readonly name: DecapTableName;
  private readonly table: DecapTable;
  private readonly nhs: NextHopManager;
  private readonly log: Logger;
  private readonly what: string;
  private readonly max: number;
  private readonly entries = new Map<number, number>();

  constructor(name: DecapTableName, table: DecapTable, nhs: NextHopManager, log: Logger) {
    this.name = name;
    this.table = table;
    this.nhs = nhs;
    this.log = log;
    ({ what: this.what, max: this.max } = WHAT[name]);
  }

  get size(): number {
    return this.entries.size;
  }

  get capacity(): number {
    return this.table.capacity;
  }

  /** load: the entries from the map, with the next hops' counts. */
  load(): void {
    for (const [key, nhId] of this.table.all()) {
      this.entries.set(key, nhId);
      this.nhs.decapRef(nhId, 1);
    }
  }

  has(key: number): boolean {
    return this.entries.has(key);
  }

  get(key: number, field = 'key'): DecapEntry {
    const nhId = this.entries.get(key);
    if (nhId === undefined) throw notFound(field, `no ${this.what} ${key}`);
    return { key, nhId };
  }

  /** list: every entry, by key. */
  list(): DecapEntry[] {
    return [...this.entries].sort((a, b) => a[0] - b[0]).map(([key, nhId]) => ({ key, nhId }));
  }

  /** check: the entry is valid and leads to a next hop that exists and is local. */
  check(e: DecapEntry): DecapEntry {
    if (e.key > this.max) throw invalid('key', `${e.key} is out of range (a ${this.what} is at most ${this.max})`);
    const kind = this.nhs.kindOf(e.nhId);
    if (!kind) throw notFound('nhId', `no next hop with id ${e.nhId}`);
    if (!DECAP_TARGETS.includes(kind))
      throw precondition(`next hop ${e.nhId} is a ${kind} next hop; a ${this.what} leads to ${DECAP_TARGETS.join(', ')} next hops`, 'nhId');
    return e;
  }

  /** same: whether the entry is there as it is. */
  same(e: DecapEntry): boolean {
    return this.entries.get(e.key) === e.nhId;
  }

  add(e: DecapEntry, j: Journal): void {
    this.check(e);
    if (this.entries.has(e.key)) throw exists('key', `${this.what} ${e.key} already exists`);
    if (this.entries.size >= this.table.capacity)
      throw exhausted(`the ${this.what} table is full (${this.table.capacity} entries, ${this.table.name})`);
    this.write(e, undefined, BPF_NOEXIST, j);
    this.log.info({ table: this.name, key: e.key, nh: e.nhId }, `${this.what} added`);
  }

  update(e: DecapEntry, j: Journal): void {
    this.check(e);
    const cur = this.entries.get(e.key);
    if (cur === undefined) throw notFound('key', `no ${this.what} ${e.key}`);
    this.write(e, cur, BPF_EXIST, j);
    this.log.info({ table: this.name, key: e.key, nh: e.nhId }, `${this.what} updated`);
  }

  delete(key: number, j: Journal): void {
    const cur = this.entries.get(key);
    if (cur === undefined) throw notFound('key', `no ${this.what} ${key}`);
    j.run(`delete ${this.what}`, () => this.table.remove(key), () => this.table.put(key, cur, BPF_NOEXIST));
    j.changed({ object: this.name, action: 'delete', key, nhId: undefined });
    this.entries.delete(key);
    this.nhs.decapRef(cur, -1);
    j.record(`forget ${this.what}`, () => {
      this.entries.set(key, cur);
      this.nhs.decapRef(cur, 1);
    });
    this.log.info({ table: this.name, key }, `${this.what} deleted`);
  }

  /** sweep: removes every entry whose key is not in `seen` (the end of a sync epoch); how many went. */
  sweep(seen: Set<number>, j: Journal): number {
    let n = 0;
    for (const key of [...this.entries.keys()])
      if (!seen.has(key)) {
        this.delete(key, j);
        n++;
      }
    return n;
  }

  private write(e: DecapEntry, cur: number | undefined, flags: number, j: Journal): void {
    try {
      j.run(
        `write ${this.what}`,
        () => this.table.put(e.key, e.nhId, flags),
        () => (cur === undefined ? this.table.remove(e.key) : this.table.put(e.key, cur, BPF_EXIST)),
      );
    } catch (err) {
      throw writeError(err, `${this.what} (${this.table.name})`);
    }
    j.changed({ object: this.name, action: cur === undefined ? 'add' : 'update', key: e.key, nhId: e.nhId });
    this.entries.set(e.key, e.nhId);
    this.nhs.decapRef(e.nhId, 1);
    if (cur !== undefined) this.nhs.decapRef(cur, -1);
    j.record(`remember ${this.what}`, () => {
      this.nhs.decapRef(e.nhId, -1);
      if (cur === undefined) this.entries.delete(e.key);
      else {
        this.entries.set(e.key, cur);
        this.nhs.decapRef(cur, 1);
      }
    });
  }
}
