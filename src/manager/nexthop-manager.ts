/**
 * NextHopManager: the next hops. Their values live in the vr_nexthops
 * array; the daemon keeps per id only what the map cannot tell it cheaply:
 * the kind (is the slot in use), how many routes and how many MPLS labels /
 * VNIs point at it, and which next hops output on each vif (an ENCAP or
 * TUNNEL next hop carries a copy of its output vif's state and MTU,
 * rewritten when the vif changes).
 */
import type { Logger } from 'pino';
import { NH, nhValue, type NhValue } from '../maps/codecs.ts';
import { MAX_LABEL, MAX_VNI, NH_DISCARD_ID, NH_F_L2, NhType, TunType, VIF_F_ENABLED, VIF_F_LINK_DOWN, VIF_F_PEER, VIF_F_SKB } from '../maps/layout.ts';
import type { NextHopTable } from '../maps/tables/nexthop-table.ts';
import type { CompTable } from '../maps/tables/comp-table.ts';
import { COMP_KIND_CODES, CompositeManager } from './composite-manager.ts';
import { exists, invalid, notFound, precondition } from './errors.ts';
import type { Journal } from './journal.ts';
import type { Composite, NextHop, NextHopSpec, NhKind, Tunnel, TunnelType, Vif } from './model.ts';
import type { VifManager } from './vif-manager.ts';

const NH_TYPE_CODES: Record<NhKind, number> = {
  encap: NhType.ENCAP, receive: NhType.RECEIVE, discard: NhType.DISCARD, tunnel: NhType.TUNNEL, vrf: NhType.VRF, composite: NhType.COMPOSITE,
};
const NH_TYPE_NAMES = new Map(Object.entries(NH_TYPE_CODES).map(([k, v]) => [v, k as NhKind]));
const TUN_TYPE_CODES: Record<TunnelType, number> = { mplsoudp: TunType.MPLSOUDP, mplsogre: TunType.MPLSOGRE, vxlan: TunType.VXLAN };
const TUN_TYPE_NAMES = new Map(Object.entries(TUN_TYPE_CODES).map(([k, v]) => [v, k as TunnelType]));
const ZERO_MAC = Buffer.alloc(6);
/** the kinds a tunnelled packet's label or VNI may lead to (the datapath runs no tunnel or composite after a decap) */
export const DECAP_TARGETS: readonly NhKind[] = ['encap', 'receive', 'discard', 'vrf'];

/** outputOf: the vif a next hop sends out of (ENCAP, TUNNEL) */
const outputOf = (nh: NextHop): number | undefined => nh.encap?.vifIndex ?? nh.tunnel?.vifIndex;

export class NextHopManager {
  private readonly table: NextHopTable;
  private readonly vifs: VifManager;
  private readonly log: Logger;
  /** type code per id; 0 = empty slot */
  private readonly kinds: Uint8Array;
  /** routes per next hop */
  private readonly refs: Uint32Array;
  /** MPLS labels and VNIs per next hop */
  private readonly decapRefs: Uint32Array;
  /** bridge (MAC) entries per next hop */
  private readonly bridgeRefs: Uint32Array;
  /** bridgeTarget: why a next hop cannot be a bridge entry's (undefined: it can); set by the bridge table's manager */
  bridgeTarget: ((nh: NextHop) => string | undefined) | undefined;
  /** floodMemberTarget: why a next hop cannot be a member of a flood a bridge entry leads to; set by the bridge table's manager */
  floodMemberTarget: ((nh: NextHop) => string | undefined) | undefined;
  private readonly outputs = new Map<number, Set<number>>();
  private count = 0;
  /** the members of composite next hops (vr_comp) */
  readonly comps: CompositeManager;

  constructor(table: NextHopTable, vifs: VifManager, log: Logger, comp: CompTable) {
    this.table = table;
    this.comps = new CompositeManager(comp, table, log);
    this.vifs = vifs;
    this.log = log;
    this.kinds = new Uint8Array(table.capacity);
    this.refs = new Uint32Array(table.capacity);
    this.decapRefs = new Uint32Array(table.capacity);
    this.bridgeRefs = new Uint32Array(table.capacity);
  }

  get capacity(): number {
    return this.table.capacity;
  }

  get size(): number {
    return this.count;
  }

  /** load: the next hops from the map; next hop 0 (the built-in discard) is installed if missing. */
  load(): void {
    const all = [...this.table.all()];
    for (const [id, v] of all)
      this.remember(id, v.type, v.type === NhType.ENCAP || v.type === NhType.TUNNEL ? v.oifVif : undefined);
    this.comps.load(all);
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
    const nh = nextHopOf(id, v);
    if (nh.kind === 'composite') nh.composite = this.comps.get(id) ?? { kind: 'ecmp', members: [] };
    return nh;
  }

  /** compositeRefCount: how many composites next hop id is a member of. */
  compositeRefCount(id: number): number {
    return this.comps.refCount(id);
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

  /** decapRefCount: how many MPLS labels and VNIs lead to id. */
  decapRefCount(id: number): number {
    return this.decapRefs[id] ?? 0;
  }

  /** decapRef: n more (or fewer) labels / VNIs lead to id. */
  decapRef(id: number, n: number): void {
    this.decapRefs[id] = this.decapRefs[id]! + n;
  }

  /** bridgeRefCount: how many bridge entries lead to id. */
  bridgeRefCount(id: number): number {
    return this.bridgeRefs[id] ?? 0;
  }

  /** bridgeRef: n more (or fewer) bridge entries lead to id. */
  bridgeRef(id: number, n: number): void {
    this.bridgeRefs[id] = this.bridgeRefs[id]! + n;
  }

  /** kindOf: the kind of next hop id, undefined when the slot is empty (no map read). */
  kindOf(id: number): NhKind | undefined {
    return id < this.kinds.length ? NH_TYPE_NAMES.get(this.kinds[id]!) : undefined;
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
    if (!spec.kind) throw invalid('kind', 'one of encap, receive, discard, tunnel, vrf or composite is required');
    const nh: NextHop = { id: spec.id, vrf: spec.vrf, kind: spec.kind };
    if (spec.l2) {
      if (spec.kind !== 'encap' && spec.kind !== 'vrf') throw invalid('l2', `a ${spec.kind} next hop has no L2 variant (encap and vrf do)`);
      nh.l2 = true;
    }
    if (spec.kind === 'tunnel') nh.tunnel = this.checkTunnel(spec);
    if (spec.kind === 'composite') nh.composite = this.checkComposite(spec);
    if (spec.kind === 'encap') {
      const e = spec.encap;
      if (!e) throw invalid('encap', 'an encap next hop needs its output interface and destination MAC');
      const vif = this.vifs.find(e.vifIndex);
      if (!vif) throw notFound('encap.vifIndex', `no interface with index ${e.vifIndex}`);
      // an L2 encap rewrites no MAC: the frame keeps its own
      if (!e.dmac && !nh.l2) throw invalid('encap.dmac', 'the destination MAC is required');
      nh.encap = { vifIndex: e.vifIndex, dmac: e.dmac ?? ZERO_MAC, smac: e.smac ?? (nh.l2 ? ZERO_MAC : vif.mac) };
    }
    return nh;
  }

  private checkComposite(spec: NextHopSpec): Composite {
    const c = spec.composite;
    if (!c) throw invalid('composite', 'a composite next hop needs its kind (ECMP or flood)');
    if (!c.kind) throw invalid('composite.kind', 'one of ECMP or FLOOD is required');
    this.comps.checkMembers(spec.id, c.members, (id) => this.kindOf(id));
    return { kind: c.kind, members: [...c.members] };
  }

  private checkTunnel(spec: NextHopSpec): Tunnel {
    const t = spec.tunnel;
    if (!t) throw invalid('tunnel', 'a tunnel next hop needs its type, underlay addresses and fabric interface');
    if (!t.type) throw invalid('tunnel.type', 'one of MPLSoUDP, MPLSoGRE or VXLAN is required');
    const addr = (b: Buffer | undefined, field: string, what: string): Buffer => {
      if (!b) throw invalid(field, `the underlay ${what} address is required`);
      if (b.length !== 4) throw invalid(field, 'an IPv4 address is required (IPv6 underlays are not supported yet)');
      if (b.readUInt32BE(0) === 0 || b[0]! >= 224) throw invalid(field, `${b.join('.')} is not a unicast address`);
      return b;
    };
    const src = addr(t.src, 'tunnel.src', 'source');
    const dst = addr(t.dst, 'tunnel.dst', 'destination');
    const max = t.type === 'vxlan' ? MAX_VNI : MAX_LABEL;
    if (t.label > max) throw invalid('tunnel.label', `${t.label} is out of range (${t.type === 'vxlan' ? 'a VNI' : 'an MPLS label'} is at most ${max})`);
    const vif = this.vifs.find(t.vifIndex);
    if (!vif) throw notFound('tunnel.vifIndex', `no interface with index ${t.vifIndex}`);
    if (vif.type !== 'fabric')
      throw precondition(`interface ${t.vifIndex} is a ${vif.type} interface; a tunnel leaves through a fabric interface`, 'tunnel.vifIndex');
    // bpf_fib_lookup answers nothing for a device that does not forward
    if (this.vifs.forwards(vif) === false)
      throw precondition(
        `interface ${t.vifIndex} (${vif.name}) has IPv4 forwarding off; the underlay lookup of a tunnel needs net.ipv4.conf.${vif.name}.forwarding=1`,
        'tunnel.vifIndex',
      );
    if (t.type !== 'vxlan' && (t.innerDmac || t.innerSmac))
      throw invalid(t.innerDmac ? 'tunnel.innerDmac' : 'tunnel.innerSmac', 'only VXLAN carries an inner Ethernet header');
    return { type: t.type, src, dst, label: t.label, vifIndex: t.vifIndex, innerDmac: t.innerDmac ?? ZERO_MAC, innerSmac: t.innerSmac ?? vif.mac };
  }

  add(spec: NextHopSpec, j: Journal): NextHop {
    const nh = this.check(spec);
    if (this.has(nh.id)) throw exists('id', `next hop ${nh.id} already exists`);
    // a composite's block (members, buckets) before the next hop that leads to it
    if (nh.composite) this.comps.create(nh.id, nh.composite, j);
    this.write(nh, undefined, j);
    this.log.info({ nh: nh.id, kind: nh.kind }, 'next hop added');
    return nh;
  }

  update(spec: NextHopSpec, j: Journal): NextHop {
    const nh = this.check(spec);
    const cur = this.get(nh.id, 'id');
    if (cur.kind !== nh.kind) throw precondition(`next hop ${nh.id} is ${cur.kind}; its kind cannot change (delete and add it)`, 'kind');
    const why = this.bridgeRefCount(nh.id) > 0 ? this.bridgeTarget?.(nh) : undefined;
    if (why) throw precondition(`next hop ${nh.id} is where ${this.bridgeRefCount(nh.id)} bridge entry(ies) lead; ${why}`, 'l2');
    this.checkBridgedMember(nh);
    if (nh.composite) return this.updateComposite(nh, cur, j);
    this.write(nh, cur, j);
    this.log.info({ nh: nh.id, kind: nh.kind }, 'next hop updated');
    return nh;
  }

  /**
   * updateComposite: the members as asked, by removing and adding one at a
   * time (the buckets of the members that stay do not move); a composite's
   * kind (ECMP / flood) cannot change.
   */
  private updateComposite(nh: NextHop, cur: NextHop, j: Journal): NextHop {
    const want = nh.composite!;
    const have = cur.composite!;
    if (want.kind !== have.kind)
      throw precondition(`next hop ${nh.id} is an ${have.kind} composite; its kind cannot change (delete and add it)`, 'composite.kind');
    for (const m of have.members) if (!want.members.includes(m)) this.comps.removeMember(nh.id, m, j);
    for (const m of want.members) if (!have.members.includes(m)) this.comps.addMember(nh.id, m, (id) => this.kindOf(id), j);
    if (nh.vrf !== cur.vrf) this.write({ ...this.get(nh.id), vrf: nh.vrf }, this.get(nh.id), j);
    this.log.info({ nh: nh.id, kind: nh.kind }, 'next hop updated');
    return this.get(nh.id);
  }

  /** checkBridgedMember: a member of a flood bridge entries lead to stays one a bridge can copy to. */
  private checkBridgedMember(nh: NextHop): void {
    if (this.compositeRefCount(nh.id) === 0 || !this.floodMemberTarget) return;
    for (const c of this.comps.users(nh.id)) {
      if (this.bridgeRefCount(c) === 0) continue;
      const why = this.floodMemberTarget(nh);
      if (why) throw precondition(`next hop ${nh.id} is a member of composite ${c}, where bridge entries lead; ${why}`, 'l2');
    }
  }

  /** addMember: one member more for composite id. */
  addMember(id: number, member: number, j: Journal): NextHop {
    if (this.kindOf(id) !== 'composite') throw this.has(id) ? precondition(`next hop ${id} is not a composite`, 'id') : notFound('id', `no next hop with id ${id}`);
    const why = this.bridgeRefCount(id) > 0 && this.has(member) ? this.floodMemberTarget?.(this.get(member)) : undefined;
    if (why) throw precondition(`composite ${id} is where ${this.bridgeRefCount(id)} bridge entry(ies) lead; member ${member}: ${why}`, 'memberId');
    this.comps.addMember(id, member, (x) => this.kindOf(x), j);
    return this.get(id);
  }

  /** removeMember: one member less for composite id. */
  removeMember(id: number, member: number, j: Journal): NextHop {
    if (this.kindOf(id) !== 'composite') throw this.has(id) ? precondition(`next hop ${id} is not a composite`, 'id') : notFound('id', `no next hop with id ${id}`);
    this.comps.removeMember(id, member, j);
    return this.get(id);
  }

  /** same: whether a spec would leave next hop id as it is (a composite's members as a set). */
  same(nh: NextHop): boolean {
    const cur = this.has(nh.id) ? this.table.get(nh.id) : undefined;
    if (cur === undefined) return false;
    if (nh.composite) {
      const have = this.get(nh.id);
      const m = have.composite?.members ?? [];
      return have.kind === 'composite' && have.vrf === nh.vrf && have.composite?.kind === nh.composite.kind &&
        m.length === nh.composite.members.length && nh.composite.members.every((x) => m.includes(x));
    }
    return nhEqual(this.valueOf(nh), cur);
  }

  delete(id: number, j: Journal): void {
    if (id === NH_DISCARD_ID) throw precondition('next hop 0 is the built-in discard next hop and cannot be deleted', 'id');
    const cur = this.get(id);
    const refs = this.refCount(id);
    if (refs > 0) throw precondition(`next hop ${id} is used by ${refs} route(s); delete or repoint them first`, 'id');
    const labels = this.decapRefCount(id);
    if (labels > 0) throw precondition(`next hop ${id} is where ${labels} MPLS label(s) / VNI(s) lead; delete or repoint them first`, 'id');
    const macs = this.bridgeRefCount(id);
    if (macs > 0) throw precondition(`next hop ${id} is where ${macs} bridge entry(ies) lead; delete or repoint them first`, 'id');
    if (this.comps.refCount(id) > 0)
      throw precondition(`next hop ${id} is a member of composite(s) ${this.comps.users(id).join(', ')}; remove it from them first`, 'id');
    const old = this.table.get(id)!;
    j.run('clear next hop', () => this.table.clear(id), () => this.table.put(id, old));
    j.changed({ object: 'nh', action: 'delete', id, kind: cur.kind });
    // the composite's block once nothing leads to it
    if (cur.kind === 'composite') this.comps.destroy(id, j);
    this.forget(id, outputOf(cur));
    j.record('forget next hop', () => this.remember(id, NH_TYPE_CODES[cur.kind], outputOf(cur)));
    this.log.info({ nh: id }, 'next hop deleted');
  }

  /** refreshOutputs: rewrites the copy of a vif's state and MTU in the next hops that output on it. */
  refreshOutputs(vif: Vif, j: Journal): void {
    for (const id of this.outputs.get(vif.index) ?? []) {
      const old = this.table.get(id);
      if (!old) continue;
      const next: NhValue = { ...old, oifState: oifStateOf(vif), oifMtu: vif.mtu, oifIfindex: vif.ifindex };
      j.run('refresh next hop', () => this.table.put(id, next), () => this.table.put(id, old));
      j.changed({ object: 'nh', action: 'update', id, kind: this.kindOf(id) ?? 'encap' });
    }
  }

  private write(nh: NextHop, cur: NextHop | undefined, j: Journal): void {
    const old = cur ? this.table.get(nh.id) : undefined;
    j.run('write next hop', () => this.table.put(nh.id, this.valueOf(nh)), () => (old ? this.table.put(nh.id, old) : this.table.clear(nh.id)));
    j.changed({ object: 'nh', action: cur ? 'update' : 'add', id: nh.id, kind: nh.kind });
    if (cur) this.forget(cur.id, outputOf(cur));
    this.remember(nh.id, NH_TYPE_CODES[nh.kind], outputOf(nh));
    j.record('remember next hop', () => {
      this.forget(nh.id, outputOf(nh));
      if (cur) this.remember(cur.id, NH_TYPE_CODES[cur.kind], outputOf(cur));
    });
  }

  valueOf(nh: NextHop): NhValue {
    const out = outputOf(nh);
    const vif = out !== undefined ? this.vifs.find(out) : undefined;
    const t = nh.tunnel;
    const ip16 = (b: Buffer | undefined) => {
      const x = Buffer.alloc(16);
      b?.copy(x);
      return x;
    };
    return nhValue({
      type: NH_TYPE_CODES[nh.kind],
      flags: nh.l2 ? NH_F_L2 : 0,
      oifState: vif ? oifStateOf(vif) : 0,
      oifIfindex: vif?.ifindex ?? 0,
      oifVif: out ?? 0,
      dmac: nh.encap?.dmac ?? t?.innerDmac ?? ZERO_MAC,
      smac: nh.encap?.smac ?? t?.innerSmac ?? ZERO_MAC,
      vrf: nh.vrf,
      oifMtu: vif?.mtu ?? 0,
      compFirst: nh.composite ? this.comps.firstSlot(nh.id) : 0,
      compCount: nh.composite?.members.length ?? 0,
      compKind: nh.composite ? COMP_KIND_CODES[nh.composite.kind] : 0,
      tunType: t ? TUN_TYPE_CODES[t.type] : 0,
      tunFamily: t ? 4 : 0,
      tunSip: ip16(t?.src),
      tunDip: ip16(t?.dst),
      label: t?.label ?? 0,
    });
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

const nhEqual = (a: NhValue, b: NhValue): boolean => NH.encode(a).equals(NH.encode(b));

export function nextHopOf(id: number, v: NhValue): NextHop {
  const kind = NH_TYPE_NAMES.get(v.type) ?? 'discard';
  const nh: NextHop = { id, vrf: v.vrf, kind };
  if (v.flags & NH_F_L2) nh.l2 = true;
  if (kind === 'encap') nh.encap = { vifIndex: v.oifVif, dmac: v.dmac, smac: v.smac };
  if (kind === 'tunnel')
    nh.tunnel = {
      type: TUN_TYPE_NAMES.get(v.tunType) ?? 'mplsoudp',
      src: Buffer.from(v.tunSip.subarray(0, 4)),
      dst: Buffer.from(v.tunDip.subarray(0, 4)),
      label: v.label,
      vifIndex: v.oifVif,
      innerDmac: v.dmac,
      innerSmac: v.smac,
    };
  return nh;
}

/**
 * oifStateOf: what an ENCAP next hop copies of its output vif: admin and link state,
 * peer delivery (TC: bpf_redirect_peer), and whether it is on the TC hook
 * (XDP then hands the packet to TC, which delivers it as an skb)
 */
function oifStateOf(vif: Vif): number {
  return (vif.disabled ? 0 : VIF_F_ENABLED) | (vif.peer ? VIF_F_PEER : 0) | (vif.hook === 'tc' ? VIF_F_SKB : 0) | (vif.linkDown ? VIF_F_LINK_DOWN : 0);
}
