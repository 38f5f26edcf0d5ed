/**
 * FlowHub: what the flow API (src/api/services/flow-service.ts, the
 * FlowManager) asks of the flow-miss side of the daemon (src/flows/): the
 * miss ring's reader, the hold queue and its re-injection, and the flow
 * events (aging, close). The real one is src/flows/flow-hub.ts; tests of the
 * API may use a fake of this interface.
 */
import type { FlowEvent, FlowKey, FlowMiss } from '../manager/flow-model.ts';

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
  /** deleted: these flows were deleted by the agent (held frames are dropped; events emitted). */
  deleted(keys: readonly FlowKey[]): void;
  /** stats for metrics and GetSystemInfo */
  stats(): FlowHubStats;
  close(): Promise<void>;
}

export interface FlowHubStats {
  missesSeen: bigint;
  framesHeld: number;
  reinjected: bigint;
  holdExpired: bigint;
  holdQueueFull: bigint;
  watchers: number;
  watcherLosses: bigint;
}
