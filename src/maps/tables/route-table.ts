/**
 * RouteTable: the routes of both families, as one table over four maps
 * (layout v4): host routes (/32, /128) in the exact-match hashes vr_host4 /
 * vr_host6, every other prefix in the per-VRF LPM tries vr_rt4 / vr_rt6. A
 * route lives in one map only (the maps are the only copy: at 1M routes a
 * second copy would cost as much again). Reads answer as the datapath does
 * (lib/route.h): a full-length lookup tries the host hash, then the trie.
 * A value names its own prefix length (layout v2), so one lookup tells an
 * exact route from a covering one and the daemon keeps no copy of the table.
 * Keys move as LPM keys everywhere above this class; a host map's key is
 * the LPM key's bytes after its prefixlen.
 */
import { BPF_ANY } from '../../bpf/map.ts';
import type { KernelMap } from '../kernel.ts';
import { LPM_PREFIX_BYTES, RT, RT4_KEY_SIZE, RT6_KEY_SIZE, RT_VALUE_SIZE, encodeRouteKey } from '../codecs.ts';
import type { Family, Route, RouteKey } from '../route.ts';
import { FAMILY_SLOTS, isHostSlot, routeOf, type RoutePack, type RouteSlot } from './route-pack.ts';
import type { RouteLookups } from './route-probe.ts';

/** PackedChunk: n packed keys and values (buffers a generator may reuse for its next chunk). */
export interface PackedChunk {
  keys: Buffer;
  values: Buffer;
  count: number;
}

const lpmKeySize = (family: Family) => (family === 4 ? RT4_KEY_SIZE : RT6_KEY_SIZE);
/** the LPM prefixlen of a host route: the VRF's 32 bits and the whole address */
const hostPrefixlen = (family: Family) => 32 + (family === 4 ? 32 : 128);

export class RouteTable {
  private readonly maps: Record<RouteSlot, KernelMap>;
  private readonly lookups: RouteLookups | undefined;
  private readonly scratch = Buffer.alloc(RT_VALUE_SIZE);

  constructor(maps: Record<RouteSlot, KernelMap>, lookups?: RouteLookups) {
    this.maps = maps;
    this.lookups = lookups;
  }

  /**
   * longest: the value of the longest match of a packed LPM key as the
   * datapath finds it: a full-length key in the host hash first, then the
   * trie (its longest match up to the key's length).
   */
  private longest(family: Family, key: Buffer, into?: Buffer): Buffer | undefined {
    const [rt, host] = FAMILY_SLOTS[family];
    if (key.readUInt32LE(0) === hostPrefixlen(family)) {
      const v = this.maps[host].lookup(key.subarray(LPM_PREFIX_BYTES, lpmKeySize(family)), into);
      if (v) return v;
    }
    return this.maps[rt].lookup(key, into);
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
        if (this.longest(p.family, keys.subarray(i * p.keySize, (i + 1) * p.keySize), values.subarray(i * RT_VALUE_SIZE, (i + 1) * RT_VALUE_SIZE)))
          found[i] = 1;
    }
    // a longest match is this route only when the value names the same length
    for (let i = 0; i < n; i++) if (found[i] && values[i * RT_VALUE_SIZE + 6] !== keys.readUInt32LE(i * p.keySize) - 32) found[i] = 0;
    return { values, found };
  }

  capacity(slot: RouteSlot): number {
    return this.maps[slot].maxEntries;
  }

  /**
   * exactRaw: the value bytes of exactly this packed key, or undefined (the
   * answer is the longest match up to the key's length; it is this route
   * only when the value names the same length). The buffer is reused.
   */
  exactRaw(family: Family, key: Buffer): Buffer | undefined {
    const v = this.longest(family, key, this.scratch);
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
    const raw = this.longest(family, encodeRouteKey({ vrf, addr, plen: addr.length * 8 }));
    if (!raw) return undefined;
    const v = RT.decode(raw);
    return routeOf({ vrf, addr: maskAddr(addr, v.plen), plen: v.plen }, v);
  }

  /** putRaw: one route by its packed LPM key, into the map its prefix length says. */
  putRaw(family: Family, key: Buffer, value: Buffer, flags = BPF_ANY): void {
    const [rt, host] = FAMILY_SLOTS[family];
    if (key.readUInt32LE(0) === hostPrefixlen(family)) this.maps[host].update(key.subarray(LPM_PREFIX_BYTES, lpmKeySize(family)), value, flags);
    else this.maps[rt].update(key, value, flags);
  }

  /** writePack: every route of the pack, in one syscall per kernel chunk; throws with `written` (in the pack's order). */
  writePack(p: RoutePack): void {
    const m = this.maps[p.slot];
    const keys = this.mapKeys(p.slot, p.keys, p.count);
    if (p.count === 1) m.update(keys.subarray(0, m.keySize), p.value(0), BPF_ANY);
    else m.updateBatch(keys, p.values, p.count);
  }

  /** deleteKeys: removes packed LPM keys of one slot (all must exist); throws with `written`. */
  deleteKeys(slot: RouteSlot, keys: Buffer, count: number): void {
    const m = this.maps[slot];
    const mk = this.mapKeys(slot, keys, count);
    if (count === 1) {
      if (!m.delete(mk.subarray(0, m.keySize))) throw Object.assign(new Error('route vanished'), { written: 0 });
    } else m.deleteBatch(mk, count);
  }

  /** scanNextHops: the next-hop id of every route of a slot, a chunk at a time (start-up counts). */
  *scanNextHops(slot: RouteSlot, chunk = 65536): Generator<{ ids: number[] }> {
    for (const c of packedChunks(this.maps[slot], chunk)) {
      const ids = new Array<number>(c.count);
      for (let i = 0; i < c.count; i++) ids[i] = c.values.readUInt32LE(i * RT_VALUE_SIZE);
      yield { ids };
    }
  }

  /**
   * scanPacked: every route of a family as packed LPM keys and values (the
   * trie's in its own order, then the host hash's), buffers reused by the
   * next chunk.
   */
  *scanPacked(family: Family, chunk = 1024): Generator<PackedChunk> {
    const [rt, host] = FAMILY_SLOTS[family];
    yield* packedChunks(this.maps[rt], chunk);
    const ks = lpmKeySize(family);
    let keys = Buffer.alloc(0);
    for (const c of packedChunks(this.maps[host], chunk)) {
      if (keys.length < c.count * ks) keys = Buffer.alloc(c.count * ks);
      lpmKeysOf(c.keys, c.count, family, keys);
      yield { keys, values: c.values, count: c.count };
    }
  }

  /** scan: every route of a family as raw LPM key / value pairs (copies), in scanPacked's order. */
  *scan(family: Family, chunk = 8192): Generator<[Buffer, Buffer]> {
    const ks = lpmKeySize(family);
    for (const c of this.scanPacked(family, chunk))
      for (let i = 0; i < c.count; i++)
        yield [Buffer.from(c.keys.subarray(i * ks, (i + 1) * ks)), Buffer.from(c.values.subarray(i * RT_VALUE_SIZE, (i + 1) * RT_VALUE_SIZE))];
  }

  /** mapKeys: packed LPM keys as the slot's map keys them (a host map: without the prefixlen; a copy). */
  private mapKeys(slot: RouteSlot, keys: Buffer, count: number): Buffer {
    if (!isHostSlot(slot)) return keys;
    const ks = lpmKeySize(slot === 'host4' ? 4 : 6);
    const hs = ks - LPM_PREFIX_BYTES;
    const out = Buffer.allocUnsafe(count * hs);
    for (let i = 0; i < count; i++) keys.copy(out, i * hs, i * ks + LPM_PREFIX_BYTES, (i + 1) * ks);
    return out;
  }
}

/** lpmKeysOf: host map keys as the LPM keys of their routes (prefixlen: the whole address), into `out`. */
export function lpmKeysOf(hostKeys: Buffer, count: number, family: Family, out: Buffer): void {
  const ks = lpmKeySize(family);
  const hs = ks - LPM_PREFIX_BYTES;
  for (let i = 0; i < count; i++) {
    out.writeUInt32LE(hostPrefixlen(family), i * ks);
    hostKeys.copy(out, i * ks + LPM_PREFIX_BYTES, i * hs, (i + 1) * hs);
  }
}

/** packedChunks: a map's entries as packed chunks (the kernel's batch lookups when the map offers them). */
function* packedChunks(m: KernelMap, chunk: number): Generator<PackedChunk> {
  if (m.chunks) {
    yield* m.chunks(chunk);
    return;
  }
  const keys = Buffer.alloc(m.keySize * chunk);
  const values = Buffer.alloc(RT_VALUE_SIZE * chunk);
  let count = 0;
  for (const [k, v] of m.entries(chunk)) {
    k.copy(keys, count * m.keySize);
    v.copy(values, count * RT_VALUE_SIZE, 0, RT_VALUE_SIZE);
    if (++count === chunk) {
      yield { keys, values, count };
      count = 0;
    }
  }
  if (count) yield { keys, values, count };
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
