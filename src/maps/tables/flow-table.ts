/**
 * FlowTable: vr_flows, the hash of flow entries keyed by VRF + 5-tuple
 * (bpf/shared/vr_kern_user.h struct vr_flow_key / vr_flow). The datapath
 * makes HOLD entries and updates counters in place; the daemon sets
 * actions. A write therefore reads the entry, changes only what the daemon
 * owns (action, flags, NAT) and writes it back with EXIST / NOEXIST, read
 * again when the datapath made or removed the entry in between. Listing
 * and counting walk the map in chunks: the daemon keeps no copy of it.
 */
import { BpfError } from '../../bpf/errors.ts';
import { BPF_EXIST, BPF_NOEXIST } from '../../bpf/map.ts';
import type { KernelMap, MapBatch } from '../kernel.ts';
import { FLOW, FLOW_KEY, type FlowValue } from '../codecs.ts';
import { FLOW_F, FlowActionCode } from '../layout.ts';
import { reverseOf, type Flow, type FlowAction, type FlowFamily, type FlowKey, type NatSpec } from '../../manager/flow-model.ts';

export const FLOW_KEY_SIZE = FLOW_KEY.size;
export const FLOW_SIZE = FLOW.size;

const ACTIONS: readonly FlowAction[] = ['hold', 'forward', 'drop', 'nat'];
export const ACTION_CODE: Record<FlowAction, number> = { hold: FlowActionCode.HOLD, forward: FlowActionCode.FORWARD, drop: FlowActionCode.DROP, nat: FlowActionCode.NAT };
/** a write re-reads this many times when the datapath races it (a miss making the entry, aging removing it) */
const RACE_RETRIES = 3;

/** encodeFlowKey: the 44 key bytes; the pad and an IPv4 address's last 12 bytes are part of the key, so zeroed. */
export function encodeFlowKey(k: FlowKey, into?: Buffer, at = 0): Buffer {
  const b = into ? into.fill(0, at, at + FLOW_KEY_SIZE) : Buffer.alloc(FLOW_KEY_SIZE);
  return FLOW_KEY.encode({ vrf: k.vrf, family: k.family, proto: k.proto, sport: k.sport, dport: k.dport, src: k.src, dst: k.dst }, b, into ? at : 0);
}

export function decodeFlowKey(b: Buffer, at = 0): FlowKey {
  const v = FLOW_KEY.decode(b, at);
  const family: FlowFamily = v.family === 6 ? 6 : 4;
  const len = family === 4 ? 4 : 16;
  return { vrf: v.vrf, family, proto: v.proto, src: v.src.subarray(0, len), dst: v.dst.subarray(0, len), sport: v.sport, dport: v.dport };
}

/** natOf: the rewrite an entry does (undefined: none). */
export function natOf(family: FlowFamily, v: Pick<FlowValue, 'flags' | 'natSrc' | 'natDst' | 'natSport' | 'natDport'>): NatSpec | undefined {
  const len = family === 4 ? 4 : 16;
  const snat = (v.flags & FLOW_F.SNAT) !== 0;
  const dnat = (v.flags & FLOW_F.DNAT) !== 0;
  if (!snat && !dnat) return undefined;
  return {
    src: snat ? Buffer.from(v.natSrc.subarray(0, len)) : undefined,
    sport: snat && v.natSport ? v.natSport : undefined,
    dst: dnat ? Buffer.from(v.natDst.subarray(0, len)) : undefined,
    dport: dnat && v.natDport ? v.natDport : undefined,
  };
}

/** flowOf: an entry as the daemon reports it. */
export function flowOf(key: FlowKey, v: FlowValue): Flow {
  const nat = natOf(key.family, v);
  return {
    key,
    action: ACTIONS[v.action] ?? 'hold',
    nat,
    reverse: (v.flags & FLOW_F.REVERSE) !== 0,
    reverseKey: reverseOf(key, nat),
    holdId: v.holdId,
    holdCount: v.holdCount,
    tcpFlags: v.tcpFlags,
    packets: v.packets,
    bytes: v.bytes,
    createdNs: v.createdNs,
    lastNs: v.lastNs,
  };
}

/** FlowSetting: what the daemon owns in an entry; the rest (counters, hold id, times) is the datapath's. */
export interface FlowSetting {
  action: number;
  /** VR_FLOW_F_* */
  flags: number;
  natSrc: Buffer | undefined;
  natSport: number;
  natDst: Buffer | undefined;
  natDport: number;
}

/** HalfWrite: one entry to set: its encoded key and setting. */
export interface HalfWrite {
  key: Buffer;
  setting: FlowSetting;
}

/** Written: an entry written, with what it replaced (undefined: it was created) and, when asked for, what it holds now. */
export interface Written {
  key: Buffer;
  old: Buffer | undefined;
  value?: Buffer | undefined;
}

const Undo = { CREATED: 0, REPLACED: 1, REMOVED: 2 } as const;
type UndoKind = (typeof Undo)[keyof typeof Undo];

/**
 * FlowUndoLog: what a series of flow writes replaced, packed (a key, a kind
 * and the old value per entry: a 100k-flow batch logs into a few buffers,
 * not 200k objects), undone newest first.
 */
export class FlowUndoLog {
  private keys = Buffer.allocUnsafe(0);
  private olds = Buffer.allocUnsafe(0);
  private kinds = new Uint8Array(0);
  private n = 0;

  get size(): number {
    return this.n;
  }

  created(key: Buffer): void {
    this.push(key, Undo.CREATED, undefined);
  }

  replaced(key: Buffer, old: Buffer): void {
    this.push(key, Undo.REPLACED, old);
  }

  removed(key: Buffer, old: Buffer): void {
    this.push(key, Undo.REMOVED, old);
  }

  private push(key: Buffer, kind: UndoKind, old: Buffer | undefined): void {
    if (this.n === this.kinds.length) this.grow(Math.max(16, this.n * 2));
    key.copy(this.keys, this.n * FLOW_KEY_SIZE, 0, FLOW_KEY_SIZE);
    if (old) old.copy(this.olds, this.n * FLOW_SIZE, 0, FLOW_SIZE);
    this.kinds[this.n++] = kind;
  }

  private grow(cap: number): void {
    const keys = Buffer.allocUnsafe(cap * FLOW_KEY_SIZE);
    const olds = Buffer.allocUnsafe(cap * FLOW_SIZE);
    const kinds = new Uint8Array(cap);
    this.keys.copy(keys);
    this.olds.copy(olds);
    kinds.set(this.kinds);
    [this.keys, this.olds, this.kinds] = [keys, olds, kinds];
  }

  /** at: entry i as logged (oldest first): its key and what the write did */
  at(i: number): { key: Buffer; did: 'created' | 'replaced' | 'removed' } {
    const k = this.kinds[i];
    return { key: this.keys.subarray(i * FLOW_KEY_SIZE, (i + 1) * FLOW_KEY_SIZE), did: k === Undo.CREATED ? 'created' : k === Undo.REPLACED ? 'replaced' : 'removed' };
  }

  /** undo: every logged write reverted, newest first; how many entries it takes away and puts back. */
  undo(map: KernelMap): { created: number; removed: number } {
    let created = 0;
    let removed = 0;
    while (this.n > 0) {
      const i = --this.n;
      const key = this.keys.subarray(i * FLOW_KEY_SIZE, (i + 1) * FLOW_KEY_SIZE);
      if (this.kinds[i] === Undo.CREATED) {
        map.delete(key);
        created++;
      } else {
        map.update(key, this.olds.subarray(i * FLOW_SIZE, (i + 1) * FLOW_SIZE));
        if (this.kinds[i] === Undo.REMOVED) removed++;
      }
    }
    return { created, removed };
  }
}

/** FlowFilter: what ListFlows selects (undefined: any); compared on the map's bytes. */
export interface FlowFilter {
  vrf?: number | undefined;
  proto?: number | undefined;
  /** matches the source or the destination */
  addr?: Buffer | undefined;
  /** an action code (FlowActionCode) */
  action?: number | undefined;
}

/** PageCursor: where a paged walk resumes: a map cursor (null: the start) and, rarely, the entries of its first bucket already returned. */
export interface PageCursor {
  at: Buffer | null;
  skip: number;
}

/** entries read per batch of a paged walk (fewer when the page has less room) */
export const PAGE_BATCH = 1024;

export class FlowTable {
  private readonly map: KernelMap;
  private readonly scratch = Buffer.alloc(FLOW_SIZE);

  constructor(map: KernelMap) {
    this.map = map;
  }

  get capacity(): number {
    return this.map.maxEntries;
  }

  /** raw: the value bytes under an encoded key (a copy), or undefined. */
  raw(key: Buffer): Buffer | undefined {
    return this.map.lookup(key);
  }

  get(k: FlowKey): Flow | undefined {
    const v = this.raw(encodeFlowKey(k));
    return v && flowOf(k, FLOW.decode(v));
  }

  /**
   * write: sets one entry, keeping what the datapath owns in it (patched
   * in the entry's own bytes). Throws the kernel's error (E2BIG: the table
   * is full).
   */
  write(h: HalfWrite, keepValue = false): Written {
    for (let attempt = 0; ; attempt++) {
      const found = this.map.lookup(h.key, this.scratch);
      const old = found && Buffer.from(found);
      const value = found ? Buffer.from(found) : fresh();
      patch(value, h.setting);
      try {
        this.map.update(h.key, value, old ? BPF_EXIST : BPF_NOEXIST);
        return { key: h.key, old, value: keepValue ? value : undefined };
      } catch (err) {
        // the datapath made (EEXIST) or removed (ENOENT) the entry since it was read
        if (attempt < RACE_RETRIES && err instanceof BpfError && (err.code === 'EEXIST' || err.code === 'ENOENT')) continue;
        throw err;
      }
    }
  }

  /**
   * writePair: the halves in order (forward, then reverse). If one fails,
   * the ones written are put back as they were and the error is thrown.
   */
  writePair(halves: readonly HalfWrite[], keepValue = false): Written[] {
    const done: Written[] = [];
    try {
      for (const h of halves) done.push(this.write(h, keepValue));
      return done;
    } catch (err) {
      for (const w of done.reverse()) {
        if (w.old) this.map.update(w.key, w.old);
        else this.map.delete(w.key);
      }
      throw err;
    }
  }

  /** undo: reverts what a log recorded (see FlowUndoLog.undo). */
  undo(log: FlowUndoLog): { created: number; removed: number } {
    return log.undo(this.map);
  }

  /** remove: deletes an entry; its value before, or undefined when it was not there. */
  remove(key: Buffer): Buffer | undefined {
    const old = this.map.lookup(key);
    if (!old) return undefined;
    return this.map.delete(key) ? old : undefined;
  }

  /** countChunks: the entries of each chunk of a walk of the whole map (the caller may breathe between). */
  *countChunks(chunk = 8192): Generator<number> {
    if (this.map.chunks) {
      for (const c of this.map.chunks(chunk)) yield c.count;
      return;
    }
    let n = 0;
    for (const _ of this.map.entries(chunk)) {
      if (++n === chunk) {
        yield n;
        n = 0;
      }
    }
    if (n) yield n;
  }

  /** count: every entry (a walk of the whole map). */
  count(): number {
    let n = 0;
    for (const c of this.countChunks()) n += c;
    return n;
  }

  /**
   * page: up to `size` entries matching the filter from a cursor, and the
   * cursor of the next page (undefined: the end). Pages end between map
   * batches, so that a resumed walk does not depend on entries removed
   * meanwhile: a batch with more matches than the page has room for is
   * read again smaller (only a single hash bucket larger than the room is
   * cut, resuming inside it). At most about `budget` entries are looked
   * at: a page of a selective filter over a large table may come back
   * short, even empty, with a cursor.
   */
  page(filter: FlowFilter, size: number, from: PageCursor, budget: number): { flows: Flow[]; next: PageCursor | undefined } {
    const flows: Flow[] = [];
    let { at, skip } = from;
    let seen = 0;
    for (;;) {
      const room = size - flows.length;
      let max = PAGE_BATCH;
      let b = this.map.batchAt(at, max);
      let hits = matching(b, skip, filter);
      while (hits.length > room && max > 1) {
        max = Math.max(1, Math.floor((max * room) / hits.length));
        b = this.map.batchAt(at, max);
        hits = matching(b, skip, filter);
      }
      if (hits.length > room) {
        // one bucket holds more matches than fit: a page that has some ends before it, an empty one cuts it
        if (flows.length) return { flows, next: { at, skip } };
        for (const i of hits.slice(0, room)) flows.push(this.decodeAt(b.keys, b.values, i));
        return { flows, next: { at, skip: hits[room]! } };
      }
      for (const i of hits) flows.push(this.decodeAt(b.keys, b.values, i));
      seen += Math.max(0, b.count - skip);
      if (!b.next) return { flows, next: undefined };
      at = b.next;
      skip = 0;
      if (flows.length === size || seen >= budget) return { flows, next: { at, skip } };
    }
  }

  private decodeAt(keys: Buffer, values: Buffer, i: number): Flow {
    return flowOf(decodeFlowKey(keys, i * FLOW_KEY_SIZE), FLOW.decode(values, i * FLOW_SIZE));
  }
}

/** matching: the positions (from `skip`) of a batch's entries that match the filter. */
function matching(b: MapBatch, skip: number, f: FlowFilter): number[] {
  const out: number[] = [];
  for (let i = skip; i < b.count; i++) if (matches(b.keys, i * FLOW_KEY_SIZE, b.values, i * FLOW_SIZE, f)) out.push(i);
  return out;
}

const F = FLOW.fields;

/** fresh: a new entry's bytes: zero counters, made and last used now. */
function fresh(): Buffer {
  const v = Buffer.allocUnsafe(FLOW_SIZE).fill(0);
  // CLOCK_MONOTONIC, the datapath's clock (bpf_ktime_get_ns): a new entry is not idle
  const now = process.hrtime.bigint();
  v.writeBigUInt64LE(now, F.createdNs.off);
  v.writeBigUInt64LE(now, F.lastNs.off);
  return v;
}

/** patch: writes what the daemon owns (action, flags, NAT) into an entry's bytes; the rest stays as the datapath left it. */
function patch(v: Buffer, s: FlowSetting): void {
  v[F.action.off] = s.action;
  v[F.flags.off] = s.flags;
  v.fill(0, F.natSrc.off, F.natDport.off + 2);
  s.natSrc?.copy(v, F.natSrc.off, 0, 16);
  s.natDst?.copy(v, F.natDst.off, 0, 16);
  v.writeUInt16BE(s.natSport, F.natSport.off);
  v.writeUInt16BE(s.natDport, F.natDport.off);
}

function matches(keys: Buffer, k: number, values: Buffer, v: number, f: FlowFilter): boolean {
  if (f.vrf !== undefined && keys.readUInt32LE(k) !== f.vrf) return false;
  if (f.proto !== undefined && keys[k + 5] !== f.proto) return false;
  if (f.action !== undefined && values[v] !== f.action) return false;
  if (f.addr) {
    const len = f.addr.length;
    if (keys[k + 4] !== (len === 4 ? 4 : 6)) return false;
    const src = FLOW_KEY.fields.src.off;
    const dst = FLOW_KEY.fields.dst.off;
    if (f.addr.compare(keys, k + src, k + src + len) !== 0 && f.addr.compare(keys, k + dst, k + dst + len) !== 0) return false;
  }
  return true;
}
