/**
 * FlowHub: the daemon's side of flow misses (hub.ts is what the flow API
 * sees). One reader of vr_miss_rb (an EventStream: its own thread) feeds
 * the hold queue with the frames the datapath consumed and the miss
 * watchers with the first packet of each new flow; the agent's answer
 * (resolved) sends the held frames through the live datapath again; holds
 * nobody answers expire. The ager removes idle and closed flows. Every
 * removal is a flow event.
 *
 * Runs on the daemon's main thread, in the host's netns (re-injection
 * resolves ifindexes there); nothing here blocks it for long: records come
 * in batches, re-injection and aging work in chunks.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BpfProgram } from '../bpf/program.ts';
import type { EventBatch } from '../bpf/ringbuf.ts';
import { EventStream, type EventStreamOptions } from '../events/event-stream.ts';
import type { Watcher } from '../events/fanout.ts';
import type { KernelMap } from '../maps/kernel.ts';
import { FLOW } from '../maps/codecs.ts';
import { FlowActionCode } from '../maps/layout.ts';
import type { DropReasonName } from '../maps/drop-reasons.ts';
import type { Flow, FlowEventKind, FlowKey, FlowMiss } from '../manager/flow-model.ts';
import type { FlowHub as FlowHubApi, FlowHubStats, MissWatch, MissWatchOptions } from './hub.ts';
import { FlowAger, type AgingOptions } from './aging.ts';
import { decodeFlow, decodeFlowKey, encodeFlowKey, flowActionCode, holdFlow } from './flow-bytes.ts';
import { FlowEvents, type EventWatch } from './flow-events.ts';
import { HoldQueue, type HeldFrame, type Hold, type HoldQueueOptions, type Outcome } from './hold-queue.ts';
import { decodeMiss, type MissRecord } from './miss-record.ts';
import { MissWatchers } from './miss-watch.ts';
import { ReinjectQueue, Reinjector, type BatchSender, type Injector } from './reinject.ts';

/** the bytes of a frame a miss carries to the agent */
export const MISS_HEAD = 128;

export interface FlowHubOptions {
  hold?: HoldQueueOptions | undefined;
  /** false: no aging (tests of the hold side) */
  aging?: AgingOptions | false | undefined;
  /** the ring reader's batching */
  reader?: EventStreamOptions | undefined;
  /** ring records the hub's own subscription queues at most (default 65536) */
  readerQueue?: number | undefined;
  /** frames re-injected per turn of the event loop (default 256) */
  reinjectChunk?: number | undefined;
}

export interface FlowHubSetup {
  /** the instance's bpffs directory (<bpffs root>/<instance>): maps/vr_miss_rb, progs/vr_xdp_vif */
  dir: string;
  /** vr_flows */
  flows: KernelMap;
  log: Logger;
  options?: FlowHubOptions | undefined;
  /** the miss ring (pin path or fd); default <dir>/maps/vr_miss_rb; null: none (records come through ingest()) */
  missSource?: number | string | null | undefined;
  /** what runs held frames; default the pinned XDP entry <dir>/progs/vr_xdp_vif */
  injector?: Injector | undefined;
  /** runs many held frames at once (bpf/vr_reinject.c); without it, one run per frame */
  batch?: BatchSender | undefined;
}

const HOLD_ID_OFF = FLOW.fields.holdId.off;

export class FlowHub implements FlowHubApi {
  private readonly flows: KernelMap;
  private readonly log: Logger;
  private readonly queue: HoldQueue;
  private readonly reinject: ReinjectQueue;
  private readonly ownProgram: BpfProgram | undefined;
  private readonly stream: EventStream | undefined;
  private readonly reading: Promise<void> | undefined;
  private readonly ager: FlowAger | undefined;
  private readonly misses = new MissWatchers();
  private readonly events = new FlowEvents();
  private expiryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly n = { missesSeen: 0n, holdExpired: 0n, holdQueueFull: 0n, holdTooBig: 0n, discarded: 0n, readerLost: 0n, malformed: 0n };

  private constructor(s: FlowHubSetup, ownProgram: BpfProgram | undefined, stream: EventStream | undefined) {
    const o = s.options ?? {};
    this.flows = s.flows;
    this.log = s.log;
    this.queue = new HoldQueue(o.hold);
    this.ownProgram = ownProgram;
    this.reinject = new ReinjectQueue(new Reinjector(s.injector ?? ownProgram!, s.batch), o.reinjectChunk ?? 256, s.log);
    if (o.aging !== false) {
      const holdMs = Number(this.queue.timeoutNs / 1_000_000n);
      this.ager = new FlowAger(s.flows, {
        removed: (kind, flow) => this.emit(kind, flow),
        staleHold: (key, keyBytes, holdId) => this.staleHold(key, keyBytes, holdId),
      }, s.log, { holdMs, ...o.aging });
      this.ager.start();
    }
    this.stream = stream;
    if (stream) this.reading = this.read(stream.subscribe({ max: o.readerQueue ?? 65536 }));
  }

  /** open: the hub on an instance's pinned datapath (see FlowHubSetup for what tests replace). */
  static open(s: FlowHubSetup): FlowHub {
    const program = s.injector ? undefined : BpfProgram.open(join(s.dir, 'progs', 'vr_xdp_vif'), 'vr_xdp_vif');
    let stream: EventStream | undefined;
    try {
      const source = s.missSource === undefined ? join(s.dir, 'maps', 'vr_miss_rb') : s.missSource;
      if (source !== null) stream = EventStream.open(source, s.options?.reader ?? {});
      return new FlowHub(s, program, stream);
    } catch (err) {
      void stream?.close();
      program?.close();
      throw err;
    }
  }

  // ------------------------------------------------------------ misses in

  private async read(w: Watcher<EventBatch>): Promise<void> {
    try {
      for await (const item of w) {
        if (item.kind === 'events') {
          try {
            this.ingest(item.batch);
          } catch (err) {
            // one bad batch (a map call failing) must not end the reading
            this.log.error({ err }, 'miss records not handled');
          }
        } else {
          // held frames among them are gone; their holds (if their NEW record was lost) end by aging
          this.n.readerLost += BigInt(item.count);
          this.log.warn({ lost: item.count }, 'miss ring records lost: the hub fell behind');
        }
      }
    } catch (err) {
      this.log.error({ err }, 'miss ring reader failed: no more flow misses are read');
    }
  }

  /** ingest: one batch of ring records (the reader's; tests feed synthetic ones). */
  ingest(batch: EventBatch): void {
    if (this.closed) return;
    const news: FlowMiss[] = [];
    const late: HeldFrame[] = [];
    for (let i = 0; i < batch.count; i++) {
      const rec = decodeMiss(batch.event(i));
      if (!rec) {
        this.n.malformed++;
        continue;
      }
      if (rec.isNew) this.n.missesSeen++;
      const r = this.queue.add(rec);
      if (r.kind === 'late') {
        if (rec.held) this.late(rec, r.outcome, late);
        continue;
      }
      if (r.replaced) this.endHold(r.replaced);
      if (r.refused === 'full') this.n.holdQueueFull++;
      else if (r.refused === 'too_big') this.n.holdTooBig++;
      if (rec.isNew) news.push(missOf(rec));
    }
    this.misses.publish(news);
    if (late.length) void this.enqueue(late);
    this.armExpiry();
  }

  /** late: a held frame of a hold already settled follows its hold's outcome. */
  private late(rec: MissRecord, outcome: Outcome, into: HeldFrame[]): void {
    if (rec.frame.length !== rec.pktLen) return; // cut: never held
    if (outcome === 'reinject' && rec.frame.length > this.queue.maxFrame) this.n.holdTooBig++;
    else if (outcome === 'reinject') into.push({ frame: rec.frame, ifindex: rec.ifindex, hook: rec.hook, tsNs: rec.tsNs });
    else if (outcome === 'expired') this.n.holdExpired++;
    else this.n.discarded++;
  }

  // ------------------------------------------------------------ answers

  async resolved(keys: readonly FlowKey[]): Promise<number> {
    const frames: HeldFrame[] = [];
    for (const key of keys) {
      const kb = encodeFlowKey(key);
      const v = this.flows.lookup(kb);
      const action = v && flowActionCode(v);
      if (action === FlowActionCode.HOLD) continue; // not answered yet: still held
      const outcome: Outcome = action === FlowActionCode.FORWARD || action === FlowActionCode.NAT ? 'reinject' : 'discard';
      const hold = this.queue.take(kb, outcome);
      // answered before its miss was read (records still in the ring): they follow the answer
      if (!hold && v) this.queue.settleId(v.readBigUInt64LE(HOLD_ID_OFF), outcome);
      if (!hold) continue;
      if (outcome === 'reinject') frames.push(...hold.frames);
      else this.n.discarded += BigInt(hold.frames.length);
    }
    this.armExpiry();
    return this.enqueue(frames);
  }

  deleted(keys: readonly FlowKey[], flows: readonly Flow[] = []): void {
    const reported = new Set<string>();
    for (const f of flows) {
      this.emit('deleted', f);
      reported.add(encodeFlowKey(f.key).toString('latin1'));
    }
    for (const key of keys) {
      const hold = this.queue.take(encodeFlowKey(key), 'discard');
      if (!hold) continue;
      this.n.discarded += BigInt(hold.frames.length);
      if (!reported.has(hold.keyBytes.toString('latin1'))) this.emit('deleted', holdFlow(hold.key, hold.holdId, hold.frames.length));
    }
    this.armExpiry();
  }

  // ------------------------------------------------------------ re-injection

  private enqueue(frames: HeldFrame[]): Promise<number> {
    if (this.closed) {
      this.n.discarded += BigInt(frames.length);
      return Promise.resolve(0);
    }
    return this.reinject.enqueue(frames);
  }

  // ------------------------------------------------------------ expiry

  private armExpiry(): void {
    if (this.closed) return;
    const at = this.queue.nextExpiry();
    if (at === undefined) {
      clearTimeout(this.expiryTimer);
      this.expiryTimer = undefined;
      return;
    }
    if (this.expiryTimer) return;
    const ms = Math.max(1, Number((at - this.queue.now()) / 1_000_000n) + 1);
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      try {
        this.expire();
      } catch (err) {
        this.log.error({ err }, 'hold expiry failed');
        this.armExpiry();
      }
    }, ms);
    this.expiryTimer.unref();
  }

  /** expire: holds past the timeout: frames dropped (counted), HOLD entries removed. */
  expire(): void {
    for (const hold of this.queue.expire()) this.endHold(hold);
    this.armExpiry();
  }

  /** endHold: an unanswered hold is over: its frames are dropped, its HOLD entry (if still that one) removed. */
  private endHold(hold: Hold): void {
    this.n.holdExpired += BigInt(hold.frames.length);
    const flow = this.removeHoldEntry(hold.keyBytes, hold.holdId);
    if (flow) this.emit('hold_expired', flow);
  }

  /**
   * removeHoldEntry: deletes the entry only if it is still HOLD with this
   * hold id (the agent may have answered, or a new miss made a new hold).
   * Lookup and delete run in one turn: the daemon's writes cannot come between.
   */
  private removeHoldEntry(keyBytes: Buffer, holdId: bigint): Flow | undefined {
    const v = this.flows.lookup(keyBytes);
    if (!v || flowActionCode(v) !== FlowActionCode.HOLD || v.readBigUInt64LE(HOLD_ID_OFF) !== holdId) return undefined;
    if (!this.flows.delete(keyBytes)) return undefined;
    return decodeFlow(decodeFlowKey(keyBytes), v);
  }

  /** staleHold: aging found an old HOLD entry; unless its hold is queued (it expires on its own), it ends now. */
  private staleHold(_key: FlowKey, keyBytes: Buffer, holdId: bigint): void {
    if (this.queue.has(holdId)) return;
    const flow = this.removeHoldEntry(keyBytes, holdId);
    if (flow) this.emit('hold_expired', flow);
  }

  // ------------------------------------------------------------ watchers, stats

  watchMisses(opts?: MissWatchOptions): MissWatch {
    return this.misses.watch(opts);
  }

  watchEvents(opts?: { maxQueue?: number }): EventWatch {
    return this.events.watch(opts);
  }

  private emit(kind: FlowEventKind, flow: Flow): void {
    this.events.emit({ kind, flow, atNs: realtimeNs() });
  }

  /** daemonDrops: the drops the daemon makes, by the datapath's reason names (DatapathManager.extraDrops). */
  daemonDrops(): Partial<Record<DropReasonName, bigint>> {
    return { flow_hold_expired: this.n.holdExpired, flow_hold_queue_full: this.n.holdQueueFull, flow_hold_too_big: this.n.holdTooBig };
  }

  /**
   * setTimeouts: the hold timeout, the hold queue's frame limit and the
   * idle timeouts from now on (SIGHUP reload); what is held or tracked
   * already is judged by the new values.
   */
  setTimeouts(o: { holdMs?: number | undefined; holdQueueMax?: number | undefined; aging?: Pick<AgingOptions, 'tcpMs' | 'udpMs' | 'icmpMs' | 'otherMs'> }): void {
    this.queue.setLimits({ timeoutMs: o.holdMs, maxFrames: o.holdQueueMax });
    this.ager?.setTimeouts({ ...o.aging, holdMs: o.holdMs });
    if (o.holdMs !== undefined) {
      // the pending expiry was set for the old timeout
      clearTimeout(this.expiryTimer);
      this.expiryTimer = undefined;
      this.armExpiry();
    }
  }

  /** timeouts: what setTimeouts set (ms), for the log and tests. */
  timeouts(): { holdMs: number; holdQueueMax: number; idleMs: { tcp: number; udp: number; icmp: number; other: number } | undefined } {
    const a = this.ager?.timeoutsMs();
    return {
      holdMs: Number(this.queue.timeoutNs / 1_000_000n),
      holdQueueMax: this.queue.maxFrames,
      idleMs: a && { tcp: a.tcp, udp: a.udp, icmp: a.icmp, other: a.other },
    };
  }

  /** scanFlows: one aging pass now (tests, and an operator's "age now"). */
  scanFlows(): Promise<void> {
    return this.ager ? this.ager.scan().then(() => undefined) : Promise.resolve();
  }

  stats(): FlowHubStats {
    const n = this.n;
    return {
      missesSeen: n.missesSeen,
      framesHeld: this.queue.frames,
      reinjected: this.reinject.totals.sent,
      holdExpired: n.holdExpired,
      holdQueueFull: n.holdQueueFull,
      holdTooBig: n.holdTooBig,
      watchers: this.misses.size + this.events.size,
      watcherLosses: this.misses.losses + this.events.losses,
      holds: this.queue.holds,
      bytesHeld: this.queue.bytes,
      discarded: n.discarded,
      reinjectFailed: this.reinject.totals.failed,
      checksumsCompleted: this.reinject.totals.completed,
      readerLost: n.readerLost,
      malformed: n.malformed,
      flowsAged: this.ager?.totals.aged ?? 0n,
      flowsClosed: this.ager?.totals.closed ?? 0n,
      flowEntries: this.ager?.totals.entries ?? 0,
      eventLosses: this.events.losses,
    };
  }

  /**
   * close: stops reading and aging, lets queued re-injections finish, ends
   * every watcher. Held frames are given up (their HOLD entries stay: the
   * next daemon's aging removes them).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    await this.stream?.close();
    await this.reading;
    await this.ager?.stop();
    await this.reinject.idle();
    this.queue.clear();
    this.misses.end();
    this.events.end();
    this.ownProgram?.close();
  }
}

function missOf(rec: MissRecord): FlowMiss {
  return {
    holdId: rec.holdId,
    key: rec.key,
    vifIdx: rec.vifIdx,
    ifindex: rec.ifindex,
    hook: rec.hook,
    tsNs: rec.tsNs,
    pktLen: rec.pktLen,
    // a copy: the held frame itself may still be rewritten (checksum) before re-injection
    head: Buffer.from(rec.frame.subarray(0, MISS_HEAD)),
  };
}

/** realtimeNs: CLOCK_REALTIME in ns (a flow event's time) */
function realtimeNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}
