/**
 * BridgeManager: the bridge (MAC) table, vr_bridge: per VRF, a MAC and the
 * next hop its frames are bridged to (EVPN style). ff:ff:ff:ff:ff:ff is a
 * VRF's flood entry: broadcast, multicast and unknown unicast go where it
 * says; a VRF without it is not bridged (bpf/lib/bridge.h). The daemon
 * keeps the entries in a Map (tens of thousands) and counts, per next hop,
 * the entries leading to it: such a next hop cannot be deleted, nor changed
 * into one a bridge cannot use.
 */
import type { Logger } from 'pino';
import { BPF_EXIST, BPF_NOEXIST } from '../bpf/map.ts';
import { BE_F_LABEL, MAX_VNI } from '../maps/layout.ts';
import type { BridgeValue } from '../maps/codecs.ts';
import type { BridgeTable } from '../maps/tables/bridge-table.ts';
import { exhausted, exists, invalid, notFound, precondition } from './errors.ts';
import type { Journal } from './journal.ts';
import type { BridgeEntry, BridgeKey, NextHop } from './model.ts';
import { formatMac } from './net-addr.ts';
import type { NextHopManager } from './nexthop-manager.ts';
import { writeError } from './route-manager.ts';
import type { VifManager } from './vif-manager.ts';

/** BROADCAST: the flood entry's MAC */
export const BROADCAST = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/**
 * bridgeTarget: why a next hop cannot be a bridge entry's, or undefined when
 * it can. A FLOOD composite can (the flood entry's natural target): its
 * members are then L2 encaps and VXLAN tunnels (member: a member's next hop,
 * undefined when unknown); an ECMP composite picks by IP flow, not a bridge's.
 */
export function bridgeTarget(nh: NextHop, member?: (id: number) => NextHop | undefined): string | undefined {
  switch (nh.kind) {
    case 'encap':
      return nh.l2 ? undefined : 'a bridge entry leads to an L2 encap next hop (l2 set: the frame keeps its MACs)';
    case 'tunnel':
      return nh.tunnel?.type === 'vxlan' ? undefined : 'a bridge entry leads to a VXLAN tunnel (MPLS carries no Ethernet frame here)';
    case 'discard':
      return undefined;
    case 'composite': {
      if (nh.composite?.kind !== 'flood') return 'a bridge entry leads to a FLOOD composite, not an ECMP one (ECMP picks by IP flow)';
      for (const id of nh.composite.members) {
        const m = member?.(id);
        if (!m) continue;
        const why = floodMemberTarget(m);
        if (why) return `member ${id}: ${why}`;
      }
      return undefined;
    }
    default:
      return `a bridge entry leads to an L2 encap, VXLAN tunnel, FLOOD composite or discard next hop, not a ${nh.kind} one`;
  }
}

/** floodMemberTarget: why a next hop cannot be a member of a flood a bridge entry leads to (undefined: it can). */
export function floodMemberTarget(m: NextHop): string | undefined {
  if (m.kind === 'encap' || m.kind === 'tunnel') return bridgeTarget(m);
  return `an L2 flood's members are L2 encaps and VXLAN tunnels, not a ${m.kind} next hop`;
}

const keyOf = (vrf: number, mac: Buffer): string => `${vrf}/${mac.toString('hex')}`;

/** compareKeys: by VRF, then MAC */
export function compareKeys(a: BridgeKey, b: BridgeKey): number {
  return a.vrf - b.vrf || Buffer.compare(a.mac, b.mac);
}

export class BridgeManager {
  private readonly table: BridgeTable;
  private readonly nhs: NextHopManager;
  private readonly vifs: VifManager;
  private readonly log: Logger;
  private readonly entries = new Map<string, BridgeEntry>();

  constructor(table: BridgeTable, nhs: NextHopManager, vifs: VifManager, log: Logger) {
    this.table = table;
    this.nhs = nhs;
    this.vifs = vifs;
    this.log = log;
    nhs.bridgeTarget = (nh) => bridgeTarget(nh, (id) => (nhs.has(id) ? nhs.get(id) : undefined));
    nhs.floodMemberTarget = floodMemberTarget;
  }

  get size(): number {
    return this.entries.size;
  }

  get capacity(): number {
    return this.table.capacity;
  }

  /** load: the entries from the map, with the next hops' counts. */
  load(): void {
    for (const r of this.table.all()) {
      const e = entryOf(r.vrf, r.mac, r.value);
      this.entries.set(keyOf(e.vrf, e.mac), e);
      this.nhs.bridgeRef(e.nhId, 1);
    }
  }

  has(k: BridgeKey): boolean {
    return this.entries.has(keyOf(k.vrf, k.mac));
  }

  get(k: BridgeKey): BridgeEntry {
    const e = this.entries.get(keyOf(k.vrf, k.mac));
    if (!e) throw notFound('mac', `no bridge entry for ${formatMac(k.mac)} in VRF ${k.vrf}`);
    return e;
  }

  /** list: the entries (of one VRF, when given) after `after`, by VRF and MAC, at most `max`. */
  list(vrf: number | undefined, after: BridgeKey | undefined, max: number): BridgeEntry[] {
    const out = [...this.entries.values()].filter((e) => (vrf === undefined || e.vrf === vrf) && (!after || compareKeys(e, after) > 0));
    return out.sort(compareKeys).slice(0, max);
  }

  /** check: the entry is valid and leads to a next hop a bridge can run. */
  check(e: BridgeEntry): BridgeEntry {
    this.vifs.checkVrf(e.vrf, 'vrf');
    if (e.mac.length !== 6) throw invalid('mac', 'a MAC address is 6 bytes');
    if (e.mac.equals(Buffer.alloc(6))) throw invalid('mac', 'the all-zero MAC address is not one a frame is sent to');
    if (!this.nhs.has(e.nhId)) throw notFound('nhId', `no next hop with id ${e.nhId}`);
    const nh = this.nhs.get(e.nhId, 'nhId');
    const why = this.nhs.bridgeTarget!(nh);
    if (why) throw precondition(`next hop ${e.nhId}: ${why}`, 'nhId');
    if (e.label !== undefined) {
      if (e.label > MAX_VNI) throw invalid('label', `${e.label} is out of range (a VNI is at most ${MAX_VNI})`);
      // a flood's VNI is its VXLAN members'
      if (nh.kind !== 'tunnel' && nh.kind !== 'composite')
        throw invalid('label', `a label (VNI) is for a tunnel or flood next hop; next hop ${e.nhId} is ${nh.kind}`);
    }
    return e;
  }

  /** same: whether the entry is there as it is. */
  same(e: BridgeEntry): boolean {
    const cur = this.entries.get(keyOf(e.vrf, e.mac));
    return !!cur && cur.nhId === e.nhId && cur.label === e.label;
  }

  add(e: BridgeEntry, j: Journal): void {
    this.check(e);
    if (this.has(e)) throw exists('mac', `${formatMac(e.mac)} is already in the bridge table of VRF ${e.vrf}`);
    if (this.entries.size >= this.table.capacity)
      throw exhausted(`the bridge table is full (${this.table.capacity} entries, ${this.table.name}; --max-bridge-entries)`);
    this.write(e, undefined, BPF_NOEXIST, j);
    this.log.info({ vrf: e.vrf, mac: formatMac(e.mac), nh: e.nhId }, 'bridge entry added');
  }

  update(e: BridgeEntry, j: Journal): void {
    this.check(e);
    const cur = this.entries.get(keyOf(e.vrf, e.mac));
    if (!cur) throw notFound('mac', `no bridge entry for ${formatMac(e.mac)} in VRF ${e.vrf}`);
    this.write(e, cur, BPF_EXIST, j);
    this.log.info({ vrf: e.vrf, mac: formatMac(e.mac), nh: e.nhId }, 'bridge entry updated');
  }

  delete(k: BridgeKey, j: Journal): void {
    const cur = this.get(k);
    const id = keyOf(k.vrf, k.mac);
    j.run('delete bridge entry', () => this.table.remove(cur.vrf, cur.mac), () => this.table.put(cur.vrf, cur.mac, valueOf(cur), BPF_NOEXIST));
    j.changed({ object: 'bridge', action: 'delete', vrf: cur.vrf, mac: cur.mac, nhId: undefined });
    this.entries.delete(id);
    this.nhs.bridgeRef(cur.nhId, -1);
    j.record('forget bridge entry', () => {
      this.entries.set(id, cur);
      this.nhs.bridgeRef(cur.nhId, 1);
    });
    this.log.info({ vrf: k.vrf, mac: formatMac(k.mac) }, 'bridge entry deleted');
  }

  /** sweep: removes every entry whose key is not in `seen` (keyOf strings; the end of a sync epoch); how many went. */
  sweep(seen: Set<string>, j: Journal): number {
    let n = 0;
    for (const [id, e] of [...this.entries])
      if (!seen.has(id)) {
        this.delete(e, j);
        n++;
      }
    return n;
  }

  private write(e: BridgeEntry, cur: BridgeEntry | undefined, flags: number, j: Journal): void {
    const id = keyOf(e.vrf, e.mac);
    const next: BridgeEntry = { vrf: e.vrf, mac: Buffer.from(e.mac), nhId: e.nhId, label: e.label };
    try {
      j.run(
        'write bridge entry',
        () => this.table.put(e.vrf, e.mac, valueOf(next), flags),
        () => (cur ? this.table.put(cur.vrf, cur.mac, valueOf(cur), BPF_EXIST) : this.table.remove(e.vrf, e.mac)),
      );
    } catch (err) {
      throw writeError(err, `bridge entry (${this.table.name})`);
    }
    j.changed({ object: 'bridge', action: cur ? 'update' : 'add', vrf: next.vrf, mac: next.mac, nhId: next.nhId });
    this.entries.set(id, next);
    this.nhs.bridgeRef(next.nhId, 1);
    if (cur) this.nhs.bridgeRef(cur.nhId, -1);
    j.record('remember bridge entry', () => {
      this.nhs.bridgeRef(next.nhId, -1);
      if (cur) {
        this.entries.set(id, cur);
        this.nhs.bridgeRef(cur.nhId, 1);
      } else this.entries.delete(id);
    });
  }
}

/** bridgeKeyId: the string a sync epoch marks an entry with */
export const bridgeKeyId = (k: BridgeKey): string => keyOf(k.vrf, k.mac);

function valueOf(e: BridgeEntry): BridgeValue {
  return { nhId: e.nhId, flags: e.label !== undefined ? BE_F_LABEL : 0, label: e.label ?? 0 };
}

function entryOf(vrf: number, mac: Buffer, v: BridgeValue): BridgeEntry {
  return { vrf, mac, nhId: v.nhId, label: v.flags & BE_F_LABEL ? v.label : undefined };
}
