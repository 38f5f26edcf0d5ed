/**
 * HoldQueue: the frames the datapath consumed on a flow miss, kept per hold
 * (one HOLD entry of vr_flows: its key and hold_id) until the agent answers
 * or the hold times out. Bounded per hold, in frames and in bytes; what
 * does not fit is refused (the caller counts it as FLOW_HOLD_QUEUE_FULL).
 * Pure bookkeeping: the map and the re-injection are the hub's.
 *
 * A settled hold (answered or expired) leaves a short-lived tombstone, so
 * that a record of it still in the ring when the answer came (another
 * CPU's held packet) is routed by the answer instead of waiting for a
 * timeout that nothing would end.
 */
import type { FlowKey } from '../manager/flow-model.ts';
import type { Hook, MissRecord } from './miss-record.ts';
import { LIVE_FRAME_MAX } from './reinject.ts';

export interface HeldFrame {
  frame: Buffer;
  ifindex: number;
  hook: Hook;
  /** arrival (bpf_ktime_get_ns): frames of a hold are kept in this order */
  tsNs: bigint;
}

export interface Hold {
  holdId: bigint;
  key: FlowKey;
  keyBytes: Buffer;
  /** the daemon's clock (ns) when the hold's first record was read: its age */
  since: bigint;
  /** the NEW record was seen (the miss was reported) */
  reported: boolean;
  frames: HeldFrame[];
  bytes: number;
}

/**
 * what became of a settled hold, which its late frames follow: re-injected
 * (answered FORWARD / NAT), discarded (answered DROP, or deleted: the
 * agent's drop), or expired (the daemon's drop, counted)
 */
export type Outcome = 'reinject' | 'discard' | 'expired';

export interface HoldQueueOptions {
  /** frames per hold at most (default 16; the datapath holds vr_config.hold_per_flow, 3 by default) */
  maxPerHold?: number | undefined;
  /** frames held at most, all holds together (default 65536) */
  maxFrames?: number | undefined;
  /** bytes held at most (default 64 MiB) */
  maxBytes?: number | undefined;
  /** the longest frame held (default LIVE_FRAME_MAX: what re-injection can send) */
  maxFrame?: number | undefined;
  /** a hold older than this expires (default 5000 ms) */
  timeoutMs?: number | undefined;
  /** how long a settled hold's late records are still routed (default 2000 ms) */
  tombstoneMs?: number | undefined;
  /** CLOCK_MONOTONIC ns (tests move it) */
  now?: (() => bigint) | undefined;
}

export type AddResult =
  /**
   * the frame (if any) is held; `created`: the first record of this hold;
   * `refused`: the frame did not fit ('full': a bound; 'too_big': longer than maxFrame)
   */
  | { kind: 'held'; hold: Hold; created: boolean; refused: 'full' | 'too_big' | undefined; replaced: Hold | undefined }
  /** a record of a hold already settled: do with its frame what the outcome says */
  | { kind: 'late'; outcome: Outcome };

const MAX_TOMBSTONES = 65536;

export class HoldQueue {
  readonly maxPerHold: number;
  maxFrames: number;
  readonly maxBytes: number;
  readonly maxFrame: number;
  timeoutNs: bigint;
  private readonly tombstoneNs: bigint;
  readonly now: () => bigint;
  /** by key bytes (latin1); insertion order is age order */
  private readonly byKey = new Map<string, Hold>();
  private readonly byId = new Map<bigint, Hold>();
  /** settled hold ids, oldest first */
  private readonly tombstones = new Map<bigint, { outcome: Outcome; at: bigint }>();
  private frameCount = 0;
  private byteCount = 0;

  constructor(opts: HoldQueueOptions = {}) {
    this.maxPerHold = opts.maxPerHold ?? 16;
    this.maxFrames = opts.maxFrames ?? 65536;
    this.maxBytes = opts.maxBytes ?? 64 << 20;
    this.maxFrame = opts.maxFrame ?? LIVE_FRAME_MAX;
    this.timeoutNs = BigInt(Math.round((opts.timeoutMs ?? 5000) * 1e6));
    this.tombstoneNs = BigInt(Math.round((opts.tombstoneMs ?? 2000) * 1e6));
    this.now = opts.now ?? process.hrtime.bigint;
  }

  /**
   * setLimits: a new timeout and frame limit from now on (SIGHUP); holds
   * already queued take the new timeout, frames already held stay even
   * above a lower limit.
   */
  setLimits(opts: { timeoutMs?: number | undefined; maxFrames?: number | undefined }): void {
    if (opts.timeoutMs !== undefined) this.timeoutNs = BigInt(Math.round(opts.timeoutMs * 1e6));
    if (opts.maxFrames !== undefined) this.maxFrames = opts.maxFrames;
  }

  get frames(): number {
    return this.frameCount;
  }

  get bytes(): number {
    return this.byteCount;
  }

  get holds(): number {
    return this.byKey.size;
  }

  has(holdId: bigint): boolean {
    return this.byId.has(holdId);
  }

  /**
   * add: a record read from the ring. Its frame (when the datapath held
   * it) joins its hold, in arrival order, if the bounds allow. A record for
   * a key whose held hold has another id replaces that hold (its entry is
   * gone: the agent deleted it meanwhile): the old one is returned in
   * `replaced` for the caller to drop.
   */
  add(rec: MissRecord): AddResult {
    this.pruneTombstones(this.now());
    const tomb = this.tombstones.get(rec.holdId);
    if (tomb) return { kind: 'late', outcome: tomb.outcome };
    const k = rec.keyBytes.toString('latin1');
    let hold = this.byKey.get(k);
    let replaced: Hold | undefined;
    let created = false;
    if (hold && hold.holdId !== rec.holdId) {
      replaced = hold;
      this.remove(hold);
      hold = undefined;
    }
    if (!hold) {
      hold = { holdId: rec.holdId, key: rec.key, keyBytes: rec.keyBytes, since: this.now(), reported: false, frames: [], bytes: 0 };
      this.byKey.set(k, hold);
      this.byId.set(rec.holdId, hold);
      created = true;
    }
    if (rec.isNew) hold.reported = true;
    let refused: 'full' | 'too_big' | undefined;
    // a cut frame (cap_len < pkt_len) cannot be re-injected: the datapath does not hold those
    if (rec.held && rec.frame.length === rec.pktLen) {
      const len = rec.frame.length;
      if (len > this.maxFrame) refused = 'too_big';
      else if (hold.frames.length >= this.maxPerHold || this.frameCount >= this.maxFrames || this.byteCount + len > this.maxBytes) refused = 'full';
      else {
        insertByTime(hold.frames, { frame: rec.frame, ifindex: rec.ifindex, hook: rec.hook, tsNs: rec.tsNs });
        hold.bytes += len;
        this.frameCount++;
        this.byteCount += len;
      }
    }
    return { kind: 'held', hold, created, refused, replaced };
  }

  /** take: the hold of a key, removed (the agent answered or deleted it); `outcome` routes its late records. */
  take(keyBytes: Buffer, outcome: Outcome): Hold | undefined {
    const hold = this.byKey.get(keyBytes.toString('latin1'));
    if (!hold) return undefined;
    this.remove(hold);
    this.settle(hold.holdId, outcome);
    return hold;
  }

  /** expire: the holds older than the timeout, removed, oldest first (their late records expire too). */
  expire(): Hold[] {
    const now = this.now();
    const out: Hold[] = [];
    for (const hold of this.byKey.values()) {
      if (now - hold.since < this.timeoutNs) break;
      out.push(hold);
    }
    for (const hold of out) {
      this.remove(hold);
      this.settle(hold.holdId, 'expired');
    }
    this.pruneTombstones(now);
    return out;
  }

  /** nextExpiry: when the oldest hold expires (daemon clock, ns), if there is one. */
  nextExpiry(): bigint | undefined {
    for (const hold of this.byKey.values()) return hold.since + this.timeoutNs;
    return undefined;
  }

  /** clear: every hold removed (close). */
  clear(): Hold[] {
    const all = [...this.byKey.values()];
    for (const hold of all) this.remove(hold);
    return all;
  }

  private remove(hold: Hold): void {
    this.byKey.delete(hold.keyBytes.toString('latin1'));
    this.byId.delete(hold.holdId);
    this.frameCount -= hold.frames.length;
    this.byteCount -= hold.bytes;
  }

  /** settleId: records of this hold id still to come follow `outcome` (a hold answered before it was read). */
  settleId(holdId: bigint, outcome: Outcome): void {
    if (holdId !== 0n && !this.byId.has(holdId)) this.settle(holdId, outcome);
  }

  private settle(holdId: bigint, outcome: Outcome): void {
    this.tombstones.delete(holdId);
    this.tombstones.set(holdId, { outcome, at: this.now() });
    if (this.tombstones.size > MAX_TOMBSTONES) this.tombstones.delete(this.tombstones.keys().next().value!);
  }

  private pruneTombstones(now: bigint): void {
    for (const [id, t] of this.tombstones) {
      if (now - t.at < this.tombstoneNs) break;
      this.tombstones.delete(id);
    }
  }
}

/** insertByTime: frames from several CPUs may reach the ring out of arrival order. */
function insertByTime(frames: HeldFrame[], f: HeldFrame): void {
  let i = frames.length;
  while (i > 0 && frames[i - 1]!.tsNs > f.tsNs) i--;
  frames.splice(i, 0, f);
}
