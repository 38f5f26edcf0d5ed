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
const ZERO16 = Buffer.alloc(16);
/** a write re-reads this many times when the datapath races it (a miss making the entry, aging removing it) */
const RACE_RETRIES = 3;

export function encodeFlowKey(k: FlowKey, into?: Buffer, at = 0): Buffer {
  return FLOW_KEY.encode({ vrf: k.vrf, family: k.family, proto: k.proto, sport: k.sport, dport: k.dport, src: k.src, dst: k.dst }, into, at);
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

/** Written: an entry written, with what it replaced (undefined: it was created) and what it holds now. */
export interface Written {
  key: Buffer;
  old: Buffer | undefined;
  value: Buffer;
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
   * write: sets one entry, keeping what the datapath owns in it. Throws the
   * kernel's error (E2BIG: the table is full).
   */
  write(h: HalfWrite): Written {
    for (let attempt = 0; ; attempt++) {
      const old = this.map.lookup(h.key);
      const value = FLOW.encode(withSetting(old ? FLOW.decode(old) : fresh(), h.setting));
      try {
        this.map.update(h.key, value, old ? BPF_EXIST : BPF_NOEXIST);
        return { key: h.key, old, value };
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
  writePair(halves: readonly HalfWrite[]): Written[] {
    const done: Written[] = [];
    try {
      for (const h of halves) done.push(this.write(h));
      return done;
    } catch (err) {
      this.restore(done);
      throw err;
    }
  }

  /** restore: undoes writes, newest first: a replaced entry gets its old value back, a created one goes. */
  restore(written: readonly Written[]): void {
    for (let i = written.length - 1; i >= 0; i--) {
      const w = written[i]!;
      if (w.old) this.map.update(w.key, w.old);
      else this.map.delete(w.key);
    }
  }

  /** remove: deletes an entry; its value before, or undefined when it was not there. */
  remove(key: Buffer): Buffer | undefined {
    const old = this.map.lookup(key);
    if (!old) return undefined;
    return this.map.delete(key) ? old : undefined;
  }

  /** put: an entry's value as given (undo of a remove). */
  put(key: Buffer, value: Buffer): void {
    this.map.update(key, value);
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

function fresh(): FlowValue {
  // CLOCK_MONOTONIC, the datapath's clock (bpf_ktime_get_ns): a new entry is not idle
  const now = process.hrtime.bigint();
  return {
    action: 0, flags: 0, holdCount: 0, tcpFlags: 0, holdId: 0n, createdNs: now, lastNs: now, packets: 0n, bytes: 0n,
    natSrc: ZERO16, natDst: ZERO16, natSport: 0, natDport: 0,
  };
}

function withSetting(v: FlowValue, s: FlowSetting): FlowValue {
  return { ...v, action: s.action, flags: s.flags, natSrc: s.natSrc ?? ZERO16, natSport: s.natSport, natDst: s.natDst ?? ZERO16, natDport: s.natDport };
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
