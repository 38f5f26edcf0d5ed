/**
 * DatapathManager: the datapath model. Every call validates the whole
 * request first, then writes the maps in an order the running program can
 * never trip over (next hops before the routes that use them, routes gone
 * before their next hops, a vif's entry before its program is attached),
 * and undoes what it wrote if a later write fails. All calls are
 * synchronous: one runs to completion before the next, so no lock is needed.
 */
import type { Logger } from 'pino';
import { BpfError } from '../bpf/errors.ts';
import { BpfLink, type XdpMode } from '../bpf/link.ts';
import { BPF_EXIST, BPF_NOEXIST } from '../bpf/map.ts';
import { netdev, nameOf } from '../bpf/netdev.ts';
import type { PinnedDatapath, TableSizes } from '../maps/pinned-datapath.ts';
import {
  decodeNh, decodeRouteKey, decodeRt, decodeU32Key, decodeVif, decodeVifStats, encodeNh, encodeRouteKey,
  encodeRt, encodeVif, perCpuU64, RT4_KEY_SIZE, RT6_KEY_SIZE, RT_VALUE_SIZE, u32Key, VIF_STATS_SIZE,
  type NhValue, type VifStats,
} from '../maps/codecs.ts';
import {
  AttachModeCode, NH_DISCARD_ID, NhType, RT_F_PROXY_ARP, VIF_F_ENABLED, VIF_F_POLICY, VifType, type MapName,
} from '../maps/layout.ts';
import { DROP_REASONS, type DropReasonName } from '../maps/drop-reasons.ts';
import { DatapathError, exhausted, exists, invalid, notFound, precondition } from './errors.ts';
import { formatPrefix, maskBytes, parseIp, parseMac, parsePrefix } from './net-addr.ts';
import type { NextHop, NextHopSpec, NhKind, Route, RouteSpec, Vif, VifChange, VifSpec, VifTypeName } from './model.ts';

export interface ManagerLimits extends TableSizes {
  maxVrfs: number;
}

const VIF_TYPE_CODES: Record<VifTypeName, number> = {
  host: VifType.HOST, agent: VifType.AGENT, fabric: VifType.FABRIC, virtual: VifType.VIRTUAL,
};
const VIF_TYPE_NAMES = new Map(Object.entries(VIF_TYPE_CODES).map(([k, v]) => [v, k as VifTypeName]));
const NH_TYPE_CODES: Record<NhKind, number> = { encap: NhType.ENCAP, receive: NhType.RECEIVE, discard: NhType.DISCARD };
const NH_TYPE_NAMES = new Map(Object.entries(NH_TYPE_CODES).map(([k, v]) => [v, k as NhKind]));

/** routeKey: the model's key of a route (the family shows in the address length). */
function routeKey(vrf: number, addr: Buffer, plen: number): string {
  return `${vrf}|${plen}|${addr.toString('latin1')}`;
}

export interface DropCount {
  reason: number;
  name: DropReasonName;
  packets: bigint;
  perCpu: bigint[];
}

export class DatapathManager {
  readonly dp: PinnedDatapath;
  readonly limits: ManagerLimits;
  private readonly log: Logger;
  private readonly vifs = new Map<number, Vif>();
  private readonly vifByIfindex = new Map<number, number>();
  private readonly links = new Map<number, BpfLink>();
  private readonly nexthops = new Map<number, NextHop>();
  private readonly routes = new Map<string, Route>();
  /** routes per next hop, and next hops per output vif: what blocks a delete */
  private readonly nhRouteRefs = new Map<number, number>();
  private readonly vifNhRefs = new Map<number, Set<number>>();
  private routeCount = { 4: 0, 6: 0 };

  constructor(dp: PinnedDatapath, limits: ManagerLimits, log: Logger) {
    this.dp = dp;
    this.limits = limits;
    this.log = log;
  }

  // ------------------------------------------------------------ start-up

  /** load: rebuilds the model from the pinned maps and installs next hop 0. */
  load(): void {
    const m = this.dp.maps;
    for (const [k, raw] of m.vr_vifs.entries()) {
      const v = decodeVif(raw);
      const ifindex = decodeU32Key(k);
      const vif: Vif = {
        index: v.vifIdx,
        type: VIF_TYPE_NAMES.get(v.type) ?? 'virtual',
        name: nameOf(ifindex) ?? '',
        ifindex,
        vrf: v.vrf,
        mac: v.mac,
        ip4: v.ip4.equals(Buffer.alloc(4)) ? undefined : v.ip4,
        ip6: v.ip6.equals(Buffer.alloc(16)) ? undefined : v.ip6,
        mtu: v.mtu,
        policyEnabled: (v.flags & VIF_F_POLICY) !== 0,
        disabled: (v.flags & VIF_F_ENABLED) === 0,
        attachMode: v.attachMode === AttachModeCode.GENERIC ? 'generic' : 'native',
      };
      this.vifs.set(vif.index, vif);
      this.vifByIfindex.set(ifindex, vif.index);
      const link = BpfLink.open(this.dp.linkPath(ifindex));
      if (link) this.links.set(vif.index, link);
      else if (vif.name) {
        this.log.warn({ vif: vif.index, name: vif.name }, 'pinned link missing; attaching again');
        this.links.set(vif.index, BpfLink.attachXdp(this.dp.xdp.fd, ifindex, vif.attachMode, this.dp.linkPath(ifindex)));
      } else this.log.warn({ vif: vif.index, ifindex }, 'kernel interface of vif is gone');
    }
    // an array: every slot exists, the empty ones have type UNSPEC
    for (const [k, raw] of m.vr_nexthops.entries()) {
      if (raw[0] === NhType.UNSPEC) continue;
      this.rememberNh(this.nhFromValue(decodeU32Key(k), decodeNh(raw)));
    }
    for (const [map, family] of [[m.vr_rt4, 4], [m.vr_rt6, 6]] as const) {
      for (const [k, raw] of map.entries()) {
        const key = decodeRouteKey(k);
        const rt = decodeRt(raw);
        this.rememberRoute({ vrf: key.vrf, family, addr: key.addr, plen: key.plen, nhId: rt.nhId, proxyArp: (rt.flags & RT_F_PROXY_ARP) !== 0 });
      }
    }
    if (!this.nexthops.has(NH_DISCARD_ID)) {
      const nh: NextHop = { id: NH_DISCARD_ID, vrf: 0, kind: 'discard' };
      m.vr_nexthops.update(u32Key(NH_DISCARD_ID), this.nhValue(nh));
      this.rememberNh(nh);
    }
    this.log.info(
      { vifs: this.vifs.size, nexthops: this.nexthops.size, routes4: this.routeCount[4], routes6: this.routeCount[6] },
      this.dp.adopted ? 'adopted pinned datapath' : 'loaded new datapath',
    );
  }

  // ------------------------------------------------------------ interfaces

  listInterfaces(): Vif[] {
    return [...this.vifs.values()].sort((a, b) => a.index - b.index);
  }

  getInterface(index: number, field = 'index'): Vif {
    const vif = this.vifs.get(index);
    if (!vif) throw notFound(field, `no interface with index ${index}`);
    return vif;
  }

  addInterface(spec: VifSpec): Vif {
    const f = (n: string) => `interface.${n}`;
    if (spec.index >= this.limits.maxInterfaces)
      throw invalid(f('index'), `${spec.index} is out of range (max_interfaces is ${this.limits.maxInterfaces})`);
    if (!spec.type) throw invalid(f('type'), 'an interface type is required');
    if (!spec.name) throw invalid(f('name'), 'the kernel interface name is required');
    this.checkVrf(spec.vrf, f('vrf'));
    if (this.vifs.has(spec.index)) throw exists(f('index'), `interface ${spec.index} already exists`);
    const dev = netdev(spec.name);
    if (!dev) throw notFound(f('name'), `no kernel interface named ${JSON.stringify(spec.name)}`);
    const owner = this.vifByIfindex.get(dev.ifindex);
    if (owner !== undefined) throw exists(f('name'), `${spec.name} is already interface ${owner}`);
    const vif: Vif = {
      index: spec.index,
      type: spec.type,
      name: spec.name,
      ifindex: dev.ifindex,
      vrf: spec.vrf,
      mac: spec.mac ? parseMac(spec.mac, f('mac')) : dev.mac,
      ip4: this.parseOwnIp(spec.ipv4, 4, f('ipv4_address')),
      ip6: this.parseOwnIp(spec.ipv6, 6, f('ipv6_address')),
      mtu: spec.mtu ? this.checkMtu(spec.mtu, f('mtu')) : Math.min(dev.mtu, 65535),
      policyEnabled: spec.policyEnabled,
      disabled: spec.disabled,
      attachMode: spec.attachMode ?? 'native',
    };

    // counters start from zero; the entry is in place before the program runs
    this.dp.maps.vr_vif_stats.update(u32Key(vif.index), Buffer.alloc(this.dp.maps.vr_vif_stats.valueBytes));
    this.writeMap(() => this.dp.maps.vr_vifs.update(u32Key(vif.ifindex), this.vifValue(vif), BPF_NOEXIST), 'interfaces');
    try {
      const link = this.attach(vif, spec.attachMode);
      this.links.set(vif.index, link);
    } catch (err) {
      this.dp.maps.vr_vifs.delete(u32Key(vif.ifindex));
      throw err;
    }
    this.dp.maps.vr_vifs.update(u32Key(vif.ifindex), this.vifValue(vif), BPF_EXIST);
    this.vifs.set(vif.index, vif);
    this.vifByIfindex.set(vif.ifindex, vif.index);
    this.log.info({ vif: vif.index, name: vif.name, ifindex: vif.ifindex, mode: vif.attachMode }, 'interface added');
    return vif;
  }

  private attach(vif: Vif, asked: XdpMode | undefined): BpfLink {
    const path = this.dp.linkPath(vif.ifindex);
    const modes: XdpMode[] = asked ? [asked] : ['native', 'generic'];
    let last: unknown;
    for (const mode of modes) {
      try {
        const link = BpfLink.attachXdp(this.dp.xdp.fd, vif.ifindex, mode, path);
        vif.attachMode = mode;
        return link;
      } catch (err) {
        last = err;
        this.log.debug({ err, name: vif.name, mode }, 'XDP attach failed');
      }
    }
    const why = last instanceof BpfError ? last.code : String(last);
    const hint = last instanceof BpfError && last.code === 'EBUSY' ? ' (another XDP program is attached)' : '';
    throw new DatapathError('failed_precondition', `cannot attach XDP to ${vif.name} (${modes.join(', then ')}): ${why}${hint}`, {
      field: 'interface.name',
      cause: last,
    });
  }

  updateInterface(index: number, change: VifChange): Vif {
    const cur = this.getInterface(index);
    const next: Vif = { ...cur };
    if (change.vrf !== undefined) next.vrf = this.checkVrf(change.vrf, 'vrf');
    if (change.mac !== undefined) next.mac = parseMac(change.mac, 'mac');
    if (change.ipv4 !== undefined) next.ip4 = this.parseOwnIp(change.ipv4, 4, 'ipv4_address');
    if (change.ipv6 !== undefined) next.ip6 = this.parseOwnIp(change.ipv6, 6, 'ipv6_address');
    if (change.mtu !== undefined) next.mtu = this.checkMtu(change.mtu, 'mtu');
    if (change.policyEnabled !== undefined) next.policyEnabled = change.policyEnabled;
    if (change.disabled !== undefined) next.disabled = change.disabled;
    this.dp.maps.vr_vifs.update(u32Key(cur.ifindex), this.vifValue(next), BPF_EXIST);
    this.vifs.set(index, next);
    // the next hops that output on this vif carry a copy of its state and MTU
    for (const id of this.vifNhRefs.get(index) ?? []) this.dp.maps.vr_nexthops.update(u32Key(id), this.nhValue(this.nexthops.get(id)!));
    this.log.info({ vif: index, change }, 'interface updated');
    return next;
  }

  deleteInterface(index: number): void {
    const vif = this.getInterface(index);
    const users = this.vifNhRefs.get(index);
    if (users && users.size > 0)
      throw precondition(`interface ${index} is the output of next hop(s) ${[...users].sort((a, b) => a - b).join(', ')}; delete them first`, 'index');
    // detach first: no packet arrives on a vif whose entry is gone
    this.links.get(index)?.detach();
    this.links.delete(index);
    this.dp.maps.vr_vifs.delete(u32Key(vif.ifindex));
    this.vifs.delete(index);
    this.vifByIfindex.delete(vif.ifindex);
    this.log.info({ vif: index, name: vif.name }, 'interface deleted');
  }

  linkOf(index: number): BpfLink | undefined {
    return this.links.get(index);
  }

  private vifValue(v: Vif): Buffer {
    return encodeVif({
      vifIdx: v.index,
      vrf: v.vrf,
      flags: (v.disabled ? 0 : VIF_F_ENABLED) | (v.policyEnabled ? VIF_F_POLICY : 0),
      mtu: v.mtu,
      type: VIF_TYPE_CODES[v.type],
      attachMode: v.attachMode === 'generic' ? AttachModeCode.GENERIC : AttachModeCode.NATIVE,
      mac: v.mac,
      ip4: v.ip4 ?? Buffer.alloc(4),
      ip6: v.ip6 ?? Buffer.alloc(16),
    });
  }

  private parseOwnIp(s: string, family: 4 | 6, field: string): Buffer | undefined {
    if (!s) return undefined;
    const ip = parseIp(s, field);
    if (ip.family !== family) throw invalid(field, `${s} is not an IPv${family} address`);
    return ip.bytes;
  }

  private checkMtu(mtu: number, field: string): number {
    if (mtu < 68 || mtu > 65535) throw invalid(field, `${mtu} is out of range (68..65535)`);
    return mtu;
  }

  private checkVrf(vrf: number, field: string): number {
    if (vrf >= this.limits.maxVrfs) throw invalid(field, `vrf ${vrf} is out of range (max_vrfs is ${this.limits.maxVrfs})`);
    return vrf;
  }

  // ------------------------------------------------------------ next hops

  listNextHops(): NextHop[] {
    return [...this.nexthops.values()].sort((a, b) => a.id - b.id);
  }

  getNextHop(id: number, field = 'id'): NextHop {
    const nh = this.nexthops.get(id);
    if (!nh) throw notFound(field, `no next hop with id ${id}`);
    return nh;
  }

  refCount(id: number): number {
    return this.nhRouteRefs.get(id) ?? 0;
  }

  addNextHop(spec: NextHopSpec): NextHop {
    const nh = this.checkNextHop(spec);
    if (this.nexthops.has(nh.id)) throw exists('next_hop.id', `next hop ${nh.id} already exists`);
    // an array slot always exists: the model says whether it is in use
    this.dp.maps.vr_nexthops.update(u32Key(nh.id), this.nhValue(nh));
    this.rememberNh(nh);
    this.log.info({ nh: nh.id, kind: nh.kind }, 'next hop added');
    return nh;
  }

  updateNextHop(spec: NextHopSpec): NextHop {
    const nh = this.checkNextHop(spec);
    const cur = this.getNextHop(nh.id, 'next_hop.id');
    if (cur.kind !== nh.kind)
      throw precondition(`next hop ${nh.id} is ${cur.kind}; its kind cannot change (delete and add it)`, 'next_hop.kind');
    this.dp.maps.vr_nexthops.update(u32Key(nh.id), this.nhValue(nh));
    this.forgetNh(cur);
    this.rememberNh(nh);
    this.log.info({ nh: nh.id, kind: nh.kind }, 'next hop updated');
    return nh;
  }

  deleteNextHop(id: number): void {
    if (id === NH_DISCARD_ID) throw precondition('next hop 0 is the built-in discard next hop and cannot be deleted', 'id');
    const nh = this.getNextHop(id);
    const refs = this.refCount(id);
    if (refs > 0) {
      const example = [...this.routes.values()].find((r) => r.nhId === id);
      throw precondition(
        `next hop ${id} is used by ${refs} route(s)${example ? ` (e.g. vrf ${example.vrf} ${formatPrefix(example)})` : ''}; delete or repoint them first`,
        'id',
      );
    }
    this.dp.maps.vr_nexthops.update(u32Key(id), Buffer.alloc(this.dp.maps.vr_nexthops.info.valueSize)); // UNSPEC: empty
    this.forgetNh(nh);
    this.log.info({ nh: id }, 'next hop deleted');
  }

  private checkNextHop(spec: NextHopSpec): NextHop {
    if (spec.id === NH_DISCARD_ID)
      throw invalid('next_hop.id', 'next hop 0 is the built-in discard next hop; use ids from 1');
    if (spec.id >= this.limits.maxNextHops)
      throw invalid('next_hop.id', `${spec.id} is out of range (max_next_hops is ${this.limits.maxNextHops})`);
    this.checkVrf(spec.vrf, 'next_hop.vrf');
    if (!spec.kind) throw invalid('next_hop.kind', 'one of encap, receive or discard is required');
    const nh: NextHop = { id: spec.id, vrf: spec.vrf, kind: spec.kind };
    if (spec.kind === 'encap') {
      const e = spec.encap!;
      const vif = this.vifs.get(e.vifIndex);
      if (!vif) throw notFound('next_hop.encap.interface_index', `no interface with index ${e.vifIndex}`);
      if (!e.dstMac) throw invalid('next_hop.encap.dst_mac', 'the destination MAC is required');
      nh.encap = {
        vifIndex: e.vifIndex,
        dmac: parseMac(e.dstMac, 'next_hop.encap.dst_mac'),
        smac: e.srcMac ? parseMac(e.srcMac, 'next_hop.encap.src_mac') : vif.mac,
      };
    }
    return nh;
  }

  private nhValue(nh: NextHop): Buffer {
    const vif = nh.encap ? this.vifs.get(nh.encap.vifIndex) : undefined;
    return encodeNh({
      type: NH_TYPE_CODES[nh.kind],
      oifState: vif && !vif.disabled ? VIF_F_ENABLED : 0,
      flags: 0,
      oifIfindex: vif?.ifindex ?? 0,
      oifVif: nh.encap?.vifIndex ?? 0,
      dmac: nh.encap?.dmac ?? Buffer.alloc(6),
      smac: nh.encap?.smac ?? Buffer.alloc(6),
      vrf: nh.vrf,
      oifMtu: vif?.mtu ?? 0,
    });
  }

  private nhFromValue(id: number, v: NhValue): NextHop {
    const kind = NH_TYPE_NAMES.get(v.type) ?? 'discard';
    const nh: NextHop = { id, vrf: v.vrf, kind };
    if (kind === 'encap') nh.encap = { vifIndex: v.oifVif, dmac: v.dmac, smac: v.smac };
    return nh;
  }

  private rememberNh(nh: NextHop): void {
    this.nexthops.set(nh.id, nh);
    if (nh.encap) {
      const s = this.vifNhRefs.get(nh.encap.vifIndex) ?? new Set<number>();
      s.add(nh.id);
      this.vifNhRefs.set(nh.encap.vifIndex, s);
    }
  }

  private forgetNh(nh: NextHop): void {
    this.nexthops.delete(nh.id);
    if (nh.encap) this.vifNhRefs.get(nh.encap.vifIndex)?.delete(nh.id);
  }

  // ------------------------------------------------------------ routes

  routeCounts(): { 4: number; 6: number } {
    return { ...this.routeCount };
  }

  listRoutes(vrf?: number): Route[] {
    const out = [...this.routes.values()].filter((r) => vrf === undefined || r.vrf === vrf);
    return out.sort(
      (a, b) => a.vrf - b.vrf || a.family - b.family || Buffer.compare(a.addr, b.addr) || a.plen - b.plen,
    );
  }

  getRoute(vrf: number, prefix: string): Route {
    const p = parsePrefix(prefix, 'prefix');
    const r = this.routes.get(routeKey(vrf, p.addr, p.plen));
    if (!r) throw notFound('prefix', `no route ${prefix} in vrf ${vrf}`);
    return r;
  }

  /** lookupRoute: the datapath's longest-prefix match for one address. */
  lookupRoute(vrf: number, address: string): Route {
    const ip = parseIp(address, 'address');
    const map = ip.family === 4 ? this.dp.maps.vr_rt4 : this.dp.maps.vr_rt6;
    const max = ip.family === 4 ? 32 : 128;
    const raw = map.lookup(encodeRouteKey({ vrf, addr: ip.bytes, plen: max }));
    if (!raw) throw notFound('address', `no route for ${address} in vrf ${vrf}`);
    const hit = decodeRt(raw);
    // the kernel answers with the value only; the prefix is the longest of ours with that value
    for (let plen = max; plen >= 0; plen--) {
      const r = this.routes.get(routeKey(vrf, maskBytes(ip.bytes, plen), plen));
      if (r && r.nhId === hit.nhId) return r;
    }
    throw new DatapathError('internal', `datapath has a route for ${address} in vrf ${vrf} that the daemon does not know`);
  }

  addRoute(spec: RouteSpec): Route {
    return this.addRoutes([spec], (i, n) => (i === 0 ? `route.${n}` : n))[0]!;
  }

  /**
   * addRoutes: validates the whole batch, then writes it per family with
   * bpf_map_update_batch; a failed write undoes the routes already written.
   */
  addRoutes(specs: RouteSpec[], fieldOf = (i: number, n: string) => `routes[${i}].${n}`): Route[] {
    const batch: Route[] = [];
    const keys: string[] = [];
    const seen = new Map<string, number>();
    const counts = { 4: 0, 6: 0 };
    specs.forEach((s, i) => {
      this.checkVrf(s.vrf, fieldOf(i, 'vrf'));
      const p = parsePrefix(s.prefix, fieldOf(i, 'prefix'));
      if (!this.nexthops.has(s.nextHopId)) throw notFound(fieldOf(i, 'next_hop_id'), `no next hop with id ${s.nextHopId}`);
      const key = routeKey(s.vrf, p.addr, p.plen);
      if (this.routes.has(key)) throw exists(fieldOf(i, 'prefix'), `route ${s.prefix} already exists in vrf ${s.vrf}`);
      const dup = seen.get(key);
      if (dup !== undefined) throw invalid(fieldOf(i, 'prefix'), `duplicate of routes[${dup}] in the same batch`);
      seen.set(key, i);
      keys.push(key);
      counts[p.family]++;
      batch.push({ vrf: s.vrf, family: p.family, addr: p.addr, plen: p.plen, nhId: s.nextHopId, proxyArp: s.proxyArp });
    });
    for (const fam of [4, 6] as const)
      if (counts[fam] && this.routeCount[fam] + counts[fam] > this.limits.maxRoutes)
        throw exhausted(
          `IPv${fam} route table full: ${this.routeCount[fam]} of ${this.limits.maxRoutes} used, ${counts[fam]} asked for`,
        );

    for (const fam of [4, 6] as const) {
      const rs = batch.filter((r) => r.family === fam);
      if (rs.length) this.writeRoutes(rs, fam);
    }
    batch.forEach((r, i) => this.rememberRoute(r, keys[i]));
    if (batch.length > 1) this.log.info({ count: batch.length }, 'routes added');
    else if (batch[0]) this.log.debug({ vrf: batch[0].vrf, prefix: formatPrefix(batch[0]), nh: batch[0].nhId }, 'route added');
    return batch;
  }

  private writeRoutes(rs: Route[], fam: 4 | 6): void {
    const map = fam === 4 ? this.dp.maps.vr_rt4 : this.dp.maps.vr_rt6;
    const ks = fam === 4 ? RT4_KEY_SIZE : RT6_KEY_SIZE;
    const keys = Buffer.alloc(ks * rs.length);
    const vals = Buffer.alloc(RT_VALUE_SIZE * rs.length);
    rs.forEach((r, i) => {
      encodeRouteKey(r, keys, i * ks);
      encodeRt({ nhId: r.nhId, flags: r.proxyArp ? RT_F_PROXY_ARP : 0, label: 0 }, vals, i * RT_VALUE_SIZE);
    });
    if (rs.length === 1) {
      this.writeMap(() => map.update(keys, vals, BPF_NOEXIST), `IPv${fam} routes`);
      return;
    }
    try {
      map.updateBatch(keys, vals, rs.length); // absence checked against the model above
    } catch (err) {
      const written = (err as { written?: number }).written ?? 0;
      for (let i = 0; i < written; i++) map.delete(keys.subarray(i * ks, (i + 1) * ks));
      throw this.mapWriteError(err, `IPv${fam} routes`);
    }
  }

  updateRoute(spec: RouteSpec): Route {
    this.checkVrf(spec.vrf, 'route.vrf');
    const p = parsePrefix(spec.prefix, 'route.prefix');
    const key = routeKey(spec.vrf, p.addr, p.plen);
    const cur = this.routes.get(key);
    if (!cur) throw notFound('route.prefix', `no route ${spec.prefix} in vrf ${spec.vrf}`);
    if (!this.nexthops.has(spec.nextHopId)) throw notFound('route.next_hop_id', `no next hop with id ${spec.nextHopId}`);
    const next: Route = { ...cur, nhId: spec.nextHopId, proxyArp: spec.proxyArp };
    const map = p.family === 4 ? this.dp.maps.vr_rt4 : this.dp.maps.vr_rt6;
    map.update(encodeRouteKey(next), encodeRt({ nhId: next.nhId, flags: next.proxyArp ? RT_F_PROXY_ARP : 0, label: 0 }), BPF_EXIST);
    this.forgetRoute(cur);
    this.rememberRoute(next);
    return next;
  }

  deleteRoute(vrf: number, prefix: string): void {
    this.deleteRoutes([{ vrf, prefix }], (_i, n) => n);
  }

  /** deleteRoutes: every key must exist; then all are removed. */
  deleteRoutes(keys: { vrf: number; prefix: string }[], fieldOf = (i: number, n: string) => `keys[${i}].${n}`): number {
    const victims: Route[] = [];
    const seen = new Set<string>();
    keys.forEach((k, i) => {
      const p = parsePrefix(k.prefix, fieldOf(i, 'prefix'));
      const key = routeKey(k.vrf, p.addr, p.plen);
      const r = this.routes.get(key);
      if (!r) throw notFound(fieldOf(i, 'prefix'), `no route ${k.prefix} in vrf ${k.vrf}`);
      if (seen.has(key)) throw invalid(fieldOf(i, 'prefix'), 'duplicate key in the same batch');
      seen.add(key);
      victims.push(r);
    });
    for (const fam of [4, 6] as const) {
      const rs = victims.filter((r) => r.family === fam);
      if (!rs.length) continue;
      const map = fam === 4 ? this.dp.maps.vr_rt4 : this.dp.maps.vr_rt6;
      const ks = fam === 4 ? RT4_KEY_SIZE : RT6_KEY_SIZE;
      if (rs.length === 1) map.delete(encodeRouteKey(rs[0]!));
      else {
        const buf = Buffer.alloc(ks * rs.length);
        rs.forEach((r, i) => encodeRouteKey(r, buf, i * ks));
        map.deleteBatch(buf, rs.length);
      }
    }
    for (const r of victims) this.forgetRoute(r);
    return victims.length;
  }

  private rememberRoute(r: Route, key = routeKey(r.vrf, r.addr, r.plen)): void {
    this.routes.set(key, r);
    this.nhRouteRefs.set(r.nhId, (this.nhRouteRefs.get(r.nhId) ?? 0) + 1);
    this.routeCount[r.family]++;
  }

  private forgetRoute(r: Route): void {
    this.routes.delete(routeKey(r.vrf, r.addr, r.plen));
    this.nhRouteRefs.set(r.nhId, (this.nhRouteRefs.get(r.nhId) ?? 1) - 1);
    this.routeCount[r.family]--;
  }

  /** mapUsage: live entries per map, from the model (no map walks). */
  mapUsage(): Record<MapName, number> {
    return {
      vr_meta: 1,
      vr_vifs: this.vifs.size,
      vr_nexthops: this.nexthops.size,
      vr_rt4: this.routeCount[4],
      vr_rt6: this.routeCount[6],
      vr_vif_stats: this.vifs.size,
      vr_drops: this.dp.maps.vr_drops.info.maxEntries,
    };
  }

  // ------------------------------------------------------------ counters

  dropStats(): DropCount[] {
    const map = this.dp.maps.vr_drops;
    return DROP_REASONS.map((name, reason) => {
      const raw = map.lookup(u32Key(reason));
      const perCpu = raw ? perCpuU64(raw) : [];
      return { reason, name, packets: perCpu.reduce((a, b) => a + b, 0n), perCpu };
    });
  }

  interfaceStats(index: number): VifStats {
    this.getInterface(index);
    const raw = this.dp.maps.vr_vif_stats.lookup(u32Key(index));
    if (!raw || raw.length < VIF_STATS_SIZE) throw new DatapathError('internal', `no counters for interface ${index}`);
    return decodeVifStats(raw);
  }

  // ------------------------------------------------------------ helpers

  /** writeMap: a map write whose "table full" errno becomes RESOURCE_EXHAUSTED. */
  private writeMap(write: () => void, what: string): void {
    try {
      write();
    } catch (err) {
      throw this.mapWriteError(err, what);
    }
  }

  private mapWriteError(err: unknown, what: string): Error {
    if (err instanceof BpfError && (err.code === 'E2BIG' || err.code === 'ENOSPC' || err.code === 'ENOMEM'))
      return new DatapathError('resource_exhausted', `${what} table is full (${err.code})`, { cause: err });
    if (err instanceof DatapathError) return err;
    return new DatapathError('internal', `writing ${what}: ${(err as Error).message}`, { cause: err });
  }
}
