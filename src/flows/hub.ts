/**
 * FlowHub: what the flow API (src/api/services/flow-service.ts, the
 * FlowManager) asks of the flow-miss side of the daemon (src/flows/): the
 * miss ring's reader, the hold queue and its re-injection, and the flow
 * events (aging, close). The real one is src/flows/flow-hub.ts; tests of the
 * API may use a fake of this interface.
 */
import type { Flow, FlowEvent, FlowKey, FlowMiss } from '../manager/flow-model.ts';

/** One stream message's worth: misses in arrival order, or a loss record. */
export type MissBatch = { misses: FlowMiss[]; lost: number };
export type FlowEventBatch = { events: FlowEvent[]; lost: number };

export interface MissWatchOptions {
  /** misses the watcher may have outstanding before it grants more (credits); default 4096 */
  window?: number | undefined;
  /** flush a partial batch after this long (ms); default 0.2 */
  flushMs?: number | undefined;
  /** most misses in one batch; default 256 */
  maxBatch?: number | undefined;
}

export interface MissWatch extends AsyncIterable<MissBatch> {
  /** grant: the watcher took n more misses (credit flow control) */
  grant(n: number): void;
  close(): void;
}

export interface FlowHub {
  /** watchMisses: every new flow miss from now on; several watchers may connect. */
  watchMisses(opts?: MissWatchOptions): MissWatch;
  /** watchEvents: flows removed (aging, TCP close, delete, hold expiry) with final counters. */
  watchEvents(opts?: { maxQueue?: number }): AsyncIterable<FlowEventBatch> & { close(): void };
  /**
   * resolved: the agent set an action on these keys (the flow entries are
   * written). Held frames of these flows are re-injected so that they meet
   * their flow; DROP flows' held frames are discarded. Resolves with the
   * frames re-injected.
   */
  resolved(keys: readonly FlowKey[]): Promise<number>;
  /**
   * deleted: these flows were deleted by the agent (held frames are dropped;
   * events emitted). `flows`: the entries as they were just before the
   * delete (final counters), each reported as a 'deleted' event; a key with
   * a pending hold and no entry given is reported as that hold.
   */
  deleted(keys: readonly FlowKey[], flows?: readonly Flow[]): void;
  /** stats for metrics and GetSystemInfo */
  stats(): FlowHubStats;
  close(): Promise<void>;
}

export interface FlowHubStats {
  /** NEW miss records read */
  missesSeen: bigint;
  framesHeld: number;
  reinjected: bigint;
  /** frames dropped because their hold expired (drop reason flow_hold_expired) */
  holdExpired: bigint;
  /** frames refused by the full hold queue (drop reason flow_hold_queue_full) */
  holdQueueFull: bigint;
  /** frames longer than re-injection can send, not held (drop reason flow_hold_too_big) */
  holdTooBig?: bigint;
  watchers: number;
  watcherLosses: bigint;
  /** holds pending, and the bytes of their frames */
  holds?: number;
  bytesHeld?: number;
  /** held frames of flows the agent dropped or deleted (the agent's drops: no drop reason) */
  discarded?: bigint;
  /** re-injections the kernel refused (e.g. a frame beyond one page) */
  reinjectFailed?: bigint;
  /** TC frames whose partial L4 checksum was completed before re-injection */
  checksumsCompleted?: bigint;
  /** ring records the hub's own reader lost (its queue was full), and records it could not read */
  readerLost?: bigint;
  malformed?: bigint;
  /** pairs removed by aging (idle) and by TCP close; table entries at the last full scan */
  flowsAged?: bigint;
  flowsClosed?: bigint;
  flowEntries?: number;
  /** flow events lost by event watchers */
  eventLosses?: bigint;
}
