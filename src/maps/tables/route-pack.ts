/**
 * RoutePack / RouteBatch: routes as packed LPM keys and values, the one form
 * a route takes in the daemon (requests, validation, undo, listings) whichever
 * map holds it. At 1M routes, objects per route would cost more than the
 * kernel's own table.
 *
 * A pack belongs to one slot, the map its routes live in (layout v4): a host
 * route (/32, /128) in its family's exact-match hash (vr_host4 / vr_host6),
 * any other prefix in its family's trie (vr_rt4 / vr_rt6). Its keys are LPM
 * keys all the same; RouteTable drops their prefixlen when it writes a host
 * pack (the hash key is the LPM key's bytes after it).
 */
import { RT, RT4_KEY_SIZE, RT6_KEY_SIZE, RT_VALUE_SIZE, decodeRouteKey, encodeRouteKey, type RtValue } from '../codecs.ts';
import type { Family, Route, RouteKey } from '../route.ts';
import { RT_F_LABEL, RT_F_PROXY_ARP } from '../layout.ts';

/** RouteSlot: the map a route lives in, by family and kind (host route or prefix). */
export type RouteSlot = 'rt4' | 'host4' | 'rt6' | 'host6';
/** every slot, in the order a batch is written */
export const ROUTE_SLOTS: readonly RouteSlot[] = ['rt4', 'host4', 'rt6', 'host6'];
/** the slots of a family: its trie, then its host hash */
export const FAMILY_SLOTS: Record<Family, readonly [RouteSlot, RouteSlot]> = { 4: ['rt4', 'host4'], 6: ['rt6', 'host6'] };

export const slotFamily = (s: RouteSlot): Family => (s === 'rt4' || s === 'host4' ? 4 : 6);
export const isHostSlot = (s: RouteSlot): boolean => s === 'host4' || s === 'host6';

/** slotOf: where a route of this family and prefix length lives. */
export function slotOf(family: Family, plen: number): RouteSlot {
  if (family === 4) return plen === 32 ? 'host4' : 'rt4';
  return plen === 128 ? 'host6' : 'rt6';
}

/** RoutePack: n routes of one slot as packed LPM keys and values. */
export class RoutePack {
  readonly slot: RouteSlot;
  readonly family: Family;
  readonly keySize: number;
  keys: Buffer;
  values: Buffer;
  count = 0;
  /** the size of the first growth (a batch's expected size: packs of a batch that get no route stay small) */
  private readonly hint: number;

  constructor(slot: RouteSlot, capacity: number, hint = capacity) {
    this.slot = slot;
    this.family = slotFamily(slot);
    this.keySize = this.family === 4 ? RT4_KEY_SIZE : RT6_KEY_SIZE;
    this.hint = hint;
    // not zeroed (a 1M-route batch would zero 24 MB per pack): every push writes all its bytes
    this.keys = Buffer.allocUnsafeSlow(this.keySize * Math.max(1, capacity));
    this.values = Buffer.allocUnsafeSlow(RT_VALUE_SIZE * Math.max(1, capacity));
  }

  push(r: Route): void {
    this.reserve();
    encodeRouteKey(r, this.keys, this.count * this.keySize);
    RT.encode(rtValue(r), this.values, this.count * RT_VALUE_SIZE);
    this.values[this.count * RT_VALUE_SIZE + 7] = 0; // the pad byte (the value is compared whole)
    this.count++;
  }

  /** pushV4: an IPv4 route from its parts; addr is the address as a u32 (host order of the dotted quad). */
  pushV4(vrf: number, addr: number, plen: number, nhId: number, flags: number, label = 0): void {
    this.reserve();
    const k = this.count * this.keySize;
    this.keys.writeUInt32LE(32 + plen, k);
    this.keys.writeUInt32BE(vrf >>> 0, k + 4);
    this.keys.writeUInt32BE(addr >>> 0, k + 8);
    const v = this.count * RT_VALUE_SIZE;
    this.values.writeUInt32LE(nhId >>> 0, v);
    this.values.writeUInt16LE(flags, v + 4);
    this.values[v + 6] = plen;
    this.values[v + 7] = 0;
    this.values.writeUInt32LE(label >>> 0, v + 8);
    this.count++;
  }

  /** pushFrom: route k of another pack of the same slot (copied, no views made). */
  pushFrom(src: RoutePack, k: number): void {
    this.reserve();
    src.keys.copy(this.keys, this.count * this.keySize, k * this.keySize, (k + 1) * this.keySize);
    src.values.copy(this.values, this.count * RT_VALUE_SIZE, k * RT_VALUE_SIZE, (k + 1) * RT_VALUE_SIZE);
    this.count++;
  }

  /** pushRaw: a route already packed (a key and a value of another pack). */
  pushRaw(key: Buffer, value: Buffer): void {
    this.reserve();
    key.copy(this.keys, this.count * this.keySize);
    value.copy(this.values, this.count * RT_VALUE_SIZE, 0, RT_VALUE_SIZE);
    this.count++;
  }

  key(i: number): Buffer {
    return this.keys.subarray(i * this.keySize, (i + 1) * this.keySize);
  }

  value(i: number): Buffer {
    return this.values.subarray(i * RT_VALUE_SIZE, (i + 1) * RT_VALUE_SIZE);
  }

  nhId(i: number): number {
    return this.values.readUInt32LE(i * RT_VALUE_SIZE);
  }

  route(i: number): Route {
    return routeOf(decodeRouteKey(this.keys, i * this.keySize, this.keySize), RT.decode(this.values, i * RT_VALUE_SIZE));
  }

  /** slice: routes [from, to) as a view (no copy). */
  slice(from: number, to: number): RoutePack {
    const p = new RoutePack(this.slot, 0);
    p.keys = this.keys.subarray(from * this.keySize, to * this.keySize);
    p.values = this.values.subarray(from * RT_VALUE_SIZE, to * RT_VALUE_SIZE);
    p.count = to - from;
    return p;
  }

  private reserve(): void {
    if (this.count * this.keySize < this.keys.length) return;
    const n = Math.max(16, this.count * 2, this.hint);
    const k = Buffer.allocUnsafeSlow(n * this.keySize);
    const v = Buffer.allocUnsafeSlow(n * RT_VALUE_SIZE);
    this.keys.copy(k);
    this.values.copy(v);
    this.keys = k;
    this.values = v;
  }
}

/**
 * RouteBatch: the routes of a request as packed keys and values per slot,
 * with each route's position in the request (for its error).
 */
export class RouteBatch {
  readonly packs: Record<RouteSlot, RoutePack>;
  readonly index: Record<RouteSlot, number[]> = { rt4: [], host4: [], rt6: [], host6: [] };
  size = 0;

  /** capacity: the routes expected (IPv4, host routes or prefixes: a pack takes it when it first grows) */
  constructor(capacity = 0) {
    this.packs = { rt4: new RoutePack('rt4', 0, capacity), host4: new RoutePack('host4', 0, capacity), rt6: new RoutePack('rt6', 0), host6: new RoutePack('host6', 0) };
  }

  static of(routes: Route[]): RouteBatch {
    const b = new RouteBatch(routes.length);
    for (const r of routes) b.push(r);
    return b;
  }

  push(r: Route): void {
    const slot = slotOf(r.addr.length === 4 ? 4 : 6, r.plen);
    this.packs[slot].push(r);
    this.index[slot].push(this.size++);
  }

  /** pushV4: an IPv4 route from its parts (the request decoder's path: no objects per route). */
  pushV4(vrf: number, addr: number, plen: number, nhId: number, flags: number, label = 0): void {
    const slot = plen === 32 ? 'host4' : 'rt4';
    this.packs[slot].pushV4(vrf, addr, plen, nhId, flags, label);
    this.index[slot].push(this.size++);
  }
}

export function rtValue(r: Route): RtValue {
  const label = r.label !== undefined;
  return { nhId: r.nhId, flags: (r.proxyArp ? RT_F_PROXY_ARP : 0) | (label ? RT_F_LABEL : 0), plen: r.plen, label: label ? r.label! : 0 };
}

export function routeOf(k: RouteKey, v: RtValue): Route {
  const r: Route = { vrf: k.vrf, addr: k.addr, plen: k.plen, nhId: v.nhId, proxyArp: (v.flags & RT_F_PROXY_ARP) !== 0 };
  if (v.flags & RT_F_LABEL) r.label = v.label;
  return r;
}
