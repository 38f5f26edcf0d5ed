/**
 * RouteTable: the per-VRF LPM tries vr_rt4 / vr_rt6. A value names its own
 * prefix length (layout v2), so one lookup tells an exact route from a
 * covering one and the daemon keeps no copy of the table. Batches move as
 * packed key/value buffers (`RoutePack`): at 1M routes, objects per route
 * would cost more than the kernel's own table.
 */
import { BPF_ANY } from '../../bpf/map.ts';
import type { KernelMap } from '../kernel.ts';
import { RT, RT4_KEY_SIZE, RT6_KEY_SIZE, RT_VALUE_SIZE, decodeRouteKey, encodeRouteKey, type RtValue } from '../codecs.ts';
import type { Family, Route, RouteKey } from '../route.ts';
import { RT_F_LABEL, RT_F_PROXY_ARP } from '../layout.ts';
import type { RouteLookups } from './route-probe.ts';

/** RoutePack: n routes of one family as packed LPM keys and values. */
export class RoutePack {
  readonly family: Family;
  readonly keySize: number;
  keys: Buffer;
  values: Buffer;
  count = 0;

  constructor(family: Family, capacity: number) {
    this.family = family;
    this.keySize = family === 4 ? RT4_KEY_SIZE : RT6_KEY_SIZE;
    // not zeroed (a 1M-route batch would zero 24 MB per pack): every push writes all its bytes
    this.keys = Buffer.allocUnsafeSlow(this.keySize * Math.max(1, capacity));
    this.values = Buffer.allocUnsafeSlow(RT_VALUE_SIZE * Math.max(1, capacity));
  }

  push(r: Route): void {
    if (this.count * this.keySize >= this.keys.length) this.growTo(Math.max(16, this.count * 2));
    encodeRouteKey(r, this.keys, this.count * this.keySize);
    RT.encode(rtValue(r), this.values, this.count * RT_VALUE_SIZE);
    this.values[this.count * RT_VALUE_SIZE + 7] = 0; // the pad byte (the value is compared whole)
    this.count++;
  }

  /** pushV4: an IPv4 route from its parts; addr is the address as a u32 (host order of the dotted quad). */
  pushV4(vrf: number, addr: number, plen: number, nhId: number, flags: number, label = 0): void {
    if (this.count * this.keySize >= this.keys.length) this.growTo(Math.max(16, this.count * 2));
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

  /** pushFrom: route k of another pack of the same family (copied, no views made). */
  pushFrom(src: RoutePack, k: number): void {
    if (this.count * this.keySize >= this.keys.length) this.growTo(Math.max(16, this.count * 2));
    src.keys.copy(this.keys, this.count * this.keySize, k * this.keySize, (k + 1) * this.keySize);
    src.values.copy(this.values, this.count * RT_VALUE_SIZE, k * RT_VALUE_SIZE, (k + 1) * RT_VALUE_SIZE);
    this.count++;
  }

  /** pushRaw: a route already packed (a key and a value of another pack). */
  pushRaw(key: Buffer, value: Buffer): void {
    if (this.count * this.keySize >= this.keys.length) this.growTo(Math.max(16, this.count * 2));
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
    const p = new RoutePack(this.family, 0);
    p.keys = this.keys.subarray(from * this.keySize, to * this.keySize);
    p.values = this.values.subarray(from * RT_VALUE_SIZE, to * RT_VALUE_SIZE);
    p.count = to - from;
    return p;
  }

  private growTo(n: number): void {
    const k = Buffer.allocUnsafeSlow(n * this.keySize);
    const v = Buffer.allocUnsafeSlow(n * RT_VALUE_SIZE);
    this.keys.copy(k);
    this.values.copy(v);
    this.keys = k;
    this.values = v;
  }
}

/**
 * RouteBatch: the routes of a request as packed keys and values per family,
 * with each route's position in the request (for its error).
 */
export class RouteBatch {
  readonly packs: Record<Family, RoutePack>;
  readonly index: Record<Family, number[]> = { 4: [], 6: [] };
  size = 0;

  constructor(capacity = 0) {
    this.packs = { 4: new RoutePack(4, capacity), 6: new RoutePack(6, 0) };
  }

  static of(routes: Route[]): RouteBatch {
    const b = new RouteBatch(routes.length);
    for (const r of routes) b.push(r);
    return b;
  }

  push(r: Route): void {
    const family: Family = r.addr.length === 4 ? 4 : 6;
    this.packs[family].push(r);
    this.index[family].push(this.size++);
  }

  /** pushV4: an IPv4 route from its parts (the request decoder's path: no objects per route). */
  pushV4(vrf: number, addr: number, plen: number, nhId: number, flags: number, label = 0): void {
    this.packs[4].pushV4(vrf, addr, plen, nhId, flags, label);
    this.index[4].push(this.size++);
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

export class RouteTable {
  private readonly maps: Record<Family, KernelMap>;
  private readonly lookups: RouteLookups | undefined;
  private readonly scratch = Buffer.alloc(RT_VALUE_SIZE);

  constructor(rt4: KernelMap, rt6: KernelMap, lookups?: RouteLookups) {
    this.maps = { 4: rt4, 6: rt6 };
    this.lookups = lookups;
  }

  /**
   * exactMany: for routes [from, to) of a pack, which exist exactly
   * (`found`) and their current values (12 bytes each, in `values`): one
   * probe run per 1024 keys when the probe is there, else a lookup per key.
   */
  exactMany(p: RoutePack, from: number, to: number): { values: Buffer; found: Uint8Array } {
    const n = to - from;
    const keys = p.keys.subarray(from * p.keySize, to * p.keySize);
    let values: Buffer;
    let found: Uint8Array;
    if (this.lookups) ({ values, found } = this.lookups.lookupMany(p.family, keys, p.keySize, n));
    else {
      values = Buffer.alloc(RT_VALUE_SIZE * n);
      found = new Uint8Array(n);
      for (let i = 0; i < n; i++)
        if (this.maps[p.family].lookup(keys.subarray(i * p.keySize, (i + 1) * p.keySize), values.subarray(i * RT_VALUE_SIZE, (i + 1) * RT_VALUE_SIZE)))
          found[i] = 1;
    }
    // a longest match is this route only when the value names the same length
    for (let i = 0; i < n; i++) if (found[i] && values[i * RT_VALUE_SIZE + 6] !== keys.readUInt32LE(i * p.keySize) - 32) found[i] = 0;
    return { values, found };
  }

  capacity(family: Family): number {
    return this.maps[family].maxEntries;
  }

  /**
   * exactRaw: the value bytes of exactly this packed key, or undefined (the
   * trie's answer is the longest match up to the key's length; it is this
   * route only when the value names the same length). The buffer is reused.
   */
  exactRaw(family: Family, key: Buffer): Buffer | undefined {
    const v = this.maps[family].lookup(key, this.scratch);
    if (!v || v[6] !== key.readUInt32LE(0) - 32) return undefined;
    return v;
  }

  exact(k: RouteKey): Route | undefined {
    const raw = this.exactRaw(k.addr.length === 4 ? 4 : 6, encodeRouteKey(k));
    return raw && routeOf(k, RT.decode(raw));
  }

  /** match: the longest-prefix match for an address, as the datapath sees it. */
  match(vrf: number, addr: Buffer): Route | undefined {
    const family: Family = addr.length === 4 ? 4 : 6;
    const raw = this.maps[family].lookup(encodeRouteKey({ vrf, addr, plen: addr.length * 8 }));
    if (!raw) return undefined;
    const v = RT.decode(raw);
    return routeOf({ vrf, addr: maskAddr(addr, v.plen), plen: v.plen }, v);
  }

  putRaw(family: Family, key: Buffer, value: Buffer, flags = BPF_ANY): void {
    this.maps[family].update(key, value, flags);
  }

  /** writePack: every route of the pack, in one syscall per kernel chunk; throws with `written`. */
  writePack(p: RoutePack): void {
    if (p.count === 1) this.maps[p.family].update(p.key(0), p.value(0), BPF_ANY);
    else this.maps[p.family].updateBatch(p.keys, p.values, p.count);
  }

  /** deleteKeys: removes packed keys (all must exist); throws with `written`. */
  deleteKeys(family: Family, keys: Buffer, count: number): void {
    if (count === 1) {
      if (!this.maps[family].delete(keys.subarray(0, this.maps[family].keySize)))
        throw Object.assign(new Error('route vanished'), { written: 0 });
    } else this.maps[family].deleteBatch(keys, count);
  }

  /** scanNextHops: the next-hop id of every route of a family, a chunk at a time (start-up counts). */
  *scanNextHops(family: Family, chunk = 65536): Generator<{ ids: number[] }> {
    for (const c of this.scanPacked(family, chunk)) {
      const ids = new Array<number>(c.count);
      for (let i = 0; i < c.count; i++) ids[i] = c.values.readUInt32LE(i * RT_VALUE_SIZE);
      yield { ids };
    }
  }

  /** scanPacked: every route of a family in the trie's own order, as packed chunks (buffers reused by the next chunk). */
  *scanPacked(family: Family, chunk = 1024): Generator<{ keys: Buffer; values: Buffer; count: number }> {
    const m = this.maps[family];
    if (m.chunks) {
      yield* m.chunks(chunk);
      return;
    }
    const p = new RoutePack(family, chunk);
    for (const [k, v] of m.entries(chunk)) {
      p.pushRaw(k, v);
      if (p.count === chunk) {
        yield { keys: p.keys, values: p.values, count: p.count };
        p.count = 0;
      }
    }
    if (p.count) yield { keys: p.keys, values: p.values, count: p.count };
  }

  /** scan: every route of a family in the trie's own order, as raw key/value pairs. */
  scan(family: Family, chunk = 8192): Generator<[Buffer, Buffer]> {
    return this.maps[family].entries(chunk);
  }
}

/** maskAddr: the address with its bits beyond plen cleared. */
export function maskAddr(addr: Buffer, plen: number): Buffer {
  const out = Buffer.from(addr);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, plen - i * 8));
    out[i]! &= keep === 8 ? 0xff : (0xff << (8 - keep)) & 0xff;
  }
  return out;
}
