/**
 * NextHopManager: the next hops. Their values live in the vr_nexthops
 * array; the daemon keeps per id only what the map cannot tell it cheaply:
 * the kind (is the slot in use), how many routes point at it, and which
 * next hops output on each vif (an ENCAP next hop carries a copy of its
 * output vif's state and MTU, rewritten when the vif changes).
 */
import type { Logger } from 'pino';
import type { NhValue } from '../maps/codecs.ts';
import { NH_DISCARD_ID, NhType, VIF_F_ENABLED, VIF_F_PEER, VIF_F_SKB } from '../maps/layout.ts';
import type { NextHopTable } from '../maps/tables/nexthop-table.ts';
import { exists, invalid, notFound, precondition } from './errors.ts';
import type { Journal } from './journal.ts';
import type { NextHop, NextHopSpec, NhKind, Vif } from './model.ts';
import type { VifManager } from './vif-manager.ts';

const NH_TYPE_CODES: Record<NhKind, number> = { encap: NhType.ENCAP, receive: NhType.RECEIVE, discard: NhType.DISCARD };
const NH_TYPE_NAMES = new Map(Object.entries(NH_TYPE_CODES).map(([k, v]) => [v, k as NhKind]));
const ZERO_MAC = Buffer.alloc(6);

export class NextHopManager {
  private readonly table: NextHopTable;
  private readonly vifs: VifManager;
  private readonly log: Logger;
  /** type code per id; 0 = empty slot */
  private readonly kinds: Uint8Array;
  /** routes per next hop */
  private readonly refs: Uint32Array;
  private readonly outputs = new Map<number, Set<number>>();
  private count = 0;

  constructor(table: NextHopTable, vifs: VifManager, log: Logger) {
    this.table = table;
    this.vifs = vifs;
    this.log = log;
    this.kinds = new Uint8Array(table.capacity);
    this.refs = new Uint32Array(table.capacity);
  }

  get capacity(): number {
    return this.table.capacity;
  }

  get size(): number {
    return this.count;
  }

  /** load: the next hops from the map; next hop 0 (the built-in discard) is installed if missing. */
  load(): void {
    for (const [id, v] of this.table.all()) this.remember(id, v.type, v.type === NhType.ENCAP ? v.oifVif : undefined);
    if (!this.kinds[NH_DISCARD_ID]) {
      const nh: NextHop = { id: NH_DISCARD_ID, vrf: 0, kind: 'discard' };
      this.table.put(NH_DISCARD_ID, this.valueOf(nh));
      this.remember(NH_DISCARD_ID, NhType.DISCARD, undefined);
    }
  }

  has(id: number): boolean {
    return id < this.kinds.length && this.kinds[id] !== 0;
  }

  get(id: number, field = 'id'): NextHop {
    const v = this.has(id) ? this.table.get(id) : undefined;
    if (!v) throw notFound(field, `no next hop with id ${id}`);
    return nextHopOf(id, v);
  }

  /** ids: every id in use, ascending. */
  *ids(): Generator<number> {
    for (let id = 0; id < this.kinds.length; id++) if (this.kinds[id]) yield id;
  }

  refCount(id: number): number {
    return this.refs[id] ?? 0;
  }

  /** ref: n more (or, negative, fewer) routes point at id. */
  ref(id: number, n: number): void {
    this.refs[id] = this.refs[id]! + n;
  }

  /** usersOf: the next hops that output on a vif. */
  usersOf(vifIndex: number): number[] {
    return [...(this.outputs.get(vifIndex) ?? [])].sort((a, b) => a - b);
  }

  /** check: a spec as the next hop it would make, validated. */
  check(spec: NextHopSpec): NextHop {
    if (spec.id === NH_DISCARD_ID) throw invalid('id', 'next hop 0 is the built-in discard next hop; use ids from 1');
    if (spec.id >= this.table.capacity) throw invalid('id', `${spec.id} is out of range (max_next_hops is ${this.table.capacity})`);
    this.vifs.checkVrf(spec.vrf, 'vrf');
    if (!spec.kind) throw invalid('kind', 'one of encap, receive or discard is required');
    const nh: NextHop = { id: spec.id, vrf: spec.vrf, kind: spec.kind };
    if (spec.kind === 'encap') {
      const e = spec.encap;
      if (!e) throw invalid('encap', 'an encap next hop needs its output interface and destination MAC');
      const vif = this.vifs.find(e.vifIndex);
      if (!vif) throw notFound('encap.vifIndex', `no interface with index ${e.vifIndex}`);
      if (!e.dmac) throw invalid('encap.dmac', 'the destination MAC is required');
      nh.encap = { vifIndex: e.vifIndex, dmac: e.dmac, smac: e.smac ?? vif.mac };
    }
    return nh;
  }

  add(spec: NextHopSpec, j: Journal): NextHop {
    const nh = this.check(spec);
    if (this.has(nh.id)) throw exists('id', `next hop ${nh.id} already exists`);
    this.write(nh, undefined, j);
    this.log.info({ nh: nh.id, kind: nh.kind }, 'next hop added');
    return nh;
  }

  update(spec: NextHopSpec, j: Journal): NextHop {
    const nh = this.check(spec);
    const cur = this.get(nh.id, 'id');
    if (cur.kind !== nh.kind) throw precondition(`next hop ${nh.id} is ${cur.kind}; its kind cannot change (delete and add it)`, 'kind');
    this.write(nh, cur, j);
    this.log.info({ nh: nh.id, kind: nh.kind }, 'next hop updated');
    return nh;
  }

  /** same: whether a spec would leave next hop id as it is. */
  same(nh: NextHop): boolean {
    const cur = this.has(nh.id) ? this.table.get(nh.id) : undefined;
    return cur !== undefined && nhEqual(this.valueOf(nh), cur);
  }

  delete(id: number, j: Journal): void {
    if (id === NH_DISCARD_ID) throw precondition('next hop 0 is the built-in discard next hop and cannot be deleted', 'id');
    const cur = this.get(id);
    const refs = this.refCount(id);
    if (refs > 0) throw precondition(`next hop ${id} is used by ${refs} route(s); delete or repoint them first`, 'id');
    j.run('clear next hop', () => this.table.clear(id), () => this.table.put(id, this.valueOf(cur)));
    this.forget(id, cur.encap?.vifIndex);
    j.record('forget next hop', () => this.remember(id, NH_TYPE_CODES[cur.kind], cur.encap?.vifIndex));
    this.log.info({ nh: id }, 'next hop deleted');
  }

  /** refreshOutputs: rewrites the copy of a vif's state and MTU in the next hops that output on it. */
  refreshOutputs(vif: Vif, j: Journal): void {
    for (const id of this.outputs.get(vif.index) ?? []) {
      const old = this.table.get(id);
      if (!old) continue;
      const next: NhValue = { ...old, oifState: oifStateOf(vif), oifMtu: vif.mtu, oifIfindex: vif.ifindex };
      j.run('refresh next hop', () => this.table.put(id, next), () => this.table.put(id, old));
    }
  }

  private write(nh: NextHop, cur: NextHop | undefined, j: Journal): void {
    const old = cur ? this.table.get(nh.id) : undefined;
    j.run('write next hop', () => this.table.put(nh.id, this.valueOf(nh)), () => (old ? this.table.put(nh.id, old) : this.table.clear(nh.id)));
    if (cur) this.forget(cur.id, cur.encap?.vifIndex);
    this.remember(nh.id, NH_TYPE_CODES[nh.kind], nh.encap?.vifIndex);
    j.record('remember next hop', () => {
      this.forget(nh.id, nh.encap?.vifIndex);
      if (cur) this.remember(cur.id, NH_TYPE_CODES[cur.kind], cur.encap?.vifIndex);
    });
  }

  valueOf(nh: NextHop): NhValue {
    const vif = nh.encap ? this.vifs.find(nh.encap.vifIndex) : undefined;
    return {
      type: NH_TYPE_CODES[nh.kind],
      oifState: vif ? oifStateOf(vif) : 0,
      flags: 0,
      oifIfindex: vif?.ifindex ?? 0,
      oifVif: nh.encap?.vifIndex ?? 0,
      dmac: nh.encap?.dmac ?? ZERO_MAC,
      smac: nh.encap?.smac ?? ZERO_MAC,
      vrf: nh.vrf,
      oifMtu: vif?.mtu ?? 0,
    };
  }

  private remember(id: number, type: number, oifVif: number | undefined): void {
    if (!this.kinds[id]) this.count++;
    this.kinds[id] = type;
    if (oifVif !== undefined) {
      const s = this.outputs.get(oifVif) ?? new Set<number>();
      s.add(id);
      this.outputs.set(oifVif, s);
    }
  }

  private forget(id: number, oifVif: number | undefined): void {
    if (this.kinds[id]) this.count--;
    this.kinds[id] = 0;
    if (oifVif !== undefined) this.outputs.get(oifVif)?.delete(id);
  }
}

const nhEqual = (a: NhValue, b: NhValue): boolean =>
  a.type === b.type && a.oifState === b.oifState && a.flags === b.flags && a.oifIfindex === b.oifIfindex && a.oifVif === b.oifVif &&
  a.dmac.equals(b.dmac) && a.smac.equals(b.smac) && a.vrf === b.vrf && a.oifMtu === b.oifMtu;

export function nextHopOf(id: number, v: NhValue): NextHop {
  const kind = NH_TYPE_NAMES.get(v.type) ?? 'discard';
  const nh: NextHop = { id, vrf: v.vrf, kind };
  if (kind === 'encap') nh.encap = { vifIndex: v.oifVif, dmac: v.dmac, smac: v.smac };
  return nh;
}

/**
 * oifStateOf: what an ENCAP next hop copies of its output vif: admin state,
 * peer delivery (TC: bpf_redirect_peer), and whether it is on the TC hook
 * (XDP then hands the packet to TC, which delivers it as an skb)
 */
function oifStateOf(vif: Vif): number {
  return (vif.disabled ? 0 : VIF_F_ENABLED) | (vif.peer ? VIF_F_PEER : 0) | (vif.hook === 'tc' ? VIF_F_SKB : 0);
}
