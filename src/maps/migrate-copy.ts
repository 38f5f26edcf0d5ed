/**
 * The copy of a layout migration (migrate.ts migrateLayout, step 2): every
 * entry of the pinned maps through the converters of each step in turn,
 * into the staged maps of the new layout.
 *
 * A converter may move an entry to another map of the next layout (layout
 * v4 moved the /32 and /128 routes out of the tries into the host hashes):
 * from that step on, the entry is that map's, and the later steps'
 * converters of that map apply to it. So a chain of steps converts an entry
 * as the daemons of each layout in turn would have.
 */
import { BpfMap, BPF_ANY } from '../bpf/map.ts';
import type { LayoutMigration } from './migrate.ts';

const ARRAY_TYPES = new Set([2, 6]); // array, percpu_array: every slot exists
const CHUNK = 4096;

/** Converted: an entry as the last step leaves it, and the map it belongs to. */
interface Converted {
  map: string;
  key: Buffer;
  value: Buffer;
}

/** convertEntry: one entry of map `name` through every step's converter of the map it belongs to at that step. */
export function convertEntry(steps: readonly LayoutMigration[], name: string, key: Buffer, value: Buffer): Converted {
  let e: Converted = { map: name, key, value };
  for (const step of steps) {
    const c = step.convert[e.map];
    if (!c) continue;
    const [k, v, to] = c(e.key, e.value);
    e = { map: to ?? e.map, key: k, value: v };
  }
  return e;
}

/** BatchWriter: entries into one map, CHUNK per bpf_map_update_batch. */
class BatchWriter {
  private readonly map: BpfMap;
  private readonly keys: Buffer;
  private readonly values: Buffer;
  private pending = 0;
  count = 0;

  constructor(map: BpfMap) {
    this.map = map;
    this.keys = Buffer.alloc(map.info.keySize * CHUNK);
    this.values = Buffer.alloc(map.info.valueSize * CHUNK);
  }

  push(k: Buffer, v: Buffer): void {
    const { keySize, valueSize } = this.map.info;
    if (k.length !== keySize || v.length !== valueSize)
      throw new Error(`${this.map.info.name}: a converted entry of ${k.length}/${v.length} bytes, the map takes ${keySize}/${valueSize}`);
    k.copy(this.keys, this.pending * keySize);
    v.copy(this.values, this.pending * valueSize);
    this.count++;
    if (++this.pending === CHUNK) this.flush();
  }

  flush(): void {
    if (this.pending) this.map.updateBatch(this.keys, this.values, this.pending);
    this.pending = 0;
  }
}

export interface CopyResult {
  /** entries written, per map of the new layout */
  entries: Record<string, number>;
  /** per-CPU maps: what was copied, by key (hex), for foldCounters */
  copied: Record<string, Map<string, Buffer>>;
}

/**
 * copyMaps: every entry of the old maps, converted, into the new ones (an
 * empty array slot is skipped: it is there, zeroed, in the new map). A
 * per-CPU map's entries stay in their map (their counters are folded later
 * by key) and go one update per key (a batch would take one CPU's stride).
 */
export function copyMaps(old: Record<string, BpfMap>, fresh: Record<string, BpfMap>, steps: readonly LayoutMigration[], skip: readonly string[]): CopyResult {
  const writers = new Map<string, BatchWriter>();
  const writer = (name: string) => {
    let w = writers.get(name);
    if (!w) {
      const m = fresh[name];
      if (!m) throw new Error(`a converter moved an entry to ${name}, a map the new layout does not have`);
      writers.set(name, (w = new BatchWriter(m)));
    }
    return w;
  };
  const entries: Record<string, number> = {};
  const copied: Record<string, Map<string, Buffer>> = {};
  for (const [name, from] of Object.entries(old)) {
    if (skip.includes(name) || !fresh[name]) continue;
    const isArray = ARRAY_TYPES.has(from.info.type);
    if (from.perCpu) {
      const seen = (copied[name] = new Map());
      let n = 0;
      for (const [k0, v0] of from.entries()) {
        if (isArray && v0.every((b) => b === 0)) continue;
        const e = convertEntry(steps, name, k0, v0);
        if (e.map !== name) throw new Error(`${name}: a per-CPU entry cannot move to ${e.map}`);
        seen.set(k0.toString('hex'), v0);
        fresh[name]!.update(e.key, e.value, BPF_ANY);
        n++;
      }
      entries[name] = n;
      continue;
    }
    writer(name); // counted even when empty
    for (const [k0, v0] of from.entries()) {
      if (isArray && v0.every((b) => b === 0)) continue;
      const e = convertEntry(steps, name, k0, v0);
      writer(e.map).push(e.key, e.value);
    }
  }
  for (const [name, w] of writers) {
    w.flush();
    entries[name] = (entries[name] ?? 0) + w.count;
  }
  // reported in the new layout's map order
  const ordered = Object.fromEntries(Object.keys(fresh).filter((n) => n in entries).map((n) => [n, entries[n]!]));
  return { entries: ordered, copied };
}

/**
 * foldCounters: what the old program counted between the copy and the
 * switch of the links, added to the new map (per-CPU u64 counters: every
 * per-CPU map of ours holds only u64 counters).
 */
export function foldCounters(from: BpfMap, to: BpfMap, copied: Map<string, Buffer>): void {
  for (const [k, now] of from.entries()) {
    const before = copied.get(k.toString('hex')) ?? Buffer.alloc(now.length);
    if (now.equals(before)) continue;
    const cur = to.lookup(k) ?? Buffer.alloc(now.length);
    for (let off = 0; off + 8 <= now.length; off += 8) {
      const delta = BigInt.asUintN(64, now.readBigUInt64LE(off) - before.readBigUInt64LE(off));
      cur.writeBigUInt64LE(BigInt.asUintN(64, cur.readBigUInt64LE(off) + delta), off);
    }
    to.update(k, cur, BPF_ANY);
  }
}
