/**
 * SyncEpochs: the bookkeeping of an agent's resync. An epoch records what
 * was written while it is open (vif indexes, next-hop ids, route keys in
 * typed-array sets); the manager's endSync removes what it did not see. An
 * epoch whose owner went away is orphaned, then abandoned after a timeout,
 * removing nothing. At most one epoch is open; a new one abandons it.
 */
import type { Logger } from 'pino';
import { RT4_KEY_SIZE, RT6_KEY_SIZE } from '../maps/codecs.ts';
import { precondition } from './errors.ts';
import { KeySet } from './key-set.ts';
import type { RouteMarks } from './route-manager.ts';

/** SyncState: an agent's resync epoch, as SystemService reports it. */
export interface SyncState {
  epoch: number;
  owner: string;
  state: 'open' | 'orphaned' | 'completed' | 'abandoned';
  startedAt: number;
  endedAt: number | undefined;
  /** what the end of the epoch removed (completed) */
  removed: { vifs: number; nextHops: number; routes: number; labels: number; vnis: number; bridge: number };
  /** why it was dropped (abandoned) */
  reason: string;
}

/** SyncEpoch: an epoch with its marks. */
export interface SyncEpoch extends SyncState {
  vifs: Set<number>;
  nhs: Set<number>;
  routes: RouteMarks;
  /** MPLS labels and VNIs written during the epoch */
  labels: Set<number>;
  vnis: Set<number>;
  /** bridge entries written during the epoch (bridgeKeyId) */
  bridge: Set<string>;
  timer: NodeJS.Timeout | undefined;
}

export class SyncEpochs {
  private readonly log: Logger;
  private current: SyncEpoch | undefined;
  private last: SyncState | undefined;
  private count = 0;
  private orphanTimeoutMs = 60_000;

  constructor(log: Logger) {
    this.log = log;
  }

  /** begin: opens an epoch; one still open is abandoned (nothing removed). */
  begin(owner: string, orphanTimeoutMs: number): SyncState {
    if (this.current) this.abandon(this.current, `superseded by a new epoch from ${owner}`);
    const s: SyncEpoch = {
      epoch: ++this.count, owner, state: 'open', startedAt: Date.now(), endedAt: undefined,
      removed: { vifs: 0, nextHops: 0, routes: 0, labels: 0, vnis: 0, bridge: 0 }, reason: '',
      vifs: new Set(), nhs: new Set([0]), routes: { 4: new KeySet(RT4_KEY_SIZE), 6: new KeySet(RT6_KEY_SIZE) },
      labels: new Set(), vnis: new Set(), bridge: new Set(), timer: undefined,
    };
    this.current = s;
    this.orphanTimeoutMs = orphanTimeoutMs;
    this.log.info({ epoch: s.epoch, owner }, 'sync epoch opened');
    return publicSync(s);
  }

  /** open: the epoch whose owner is re-sending (adds of existing objects are upserts then). */
  open(): SyncEpoch | undefined {
    return this.current?.state === 'open' ? this.current : undefined;
  }

  /** marking: the epoch that records what is written (open, or orphaned until it is abandoned). */
  marking(): SyncEpoch | undefined {
    return this.current;
  }

  /** expect: the open epoch with this number, or FAILED_PRECONDITION. */
  expect(epoch: number): SyncEpoch {
    const s = this.current;
    if (!s || s.epoch !== epoch || s.state !== 'open') throw precondition(`sync epoch ${epoch} is not open`, 'epoch');
    return s;
  }

  /** orphan: the owner went away mid-sync; the epoch is abandoned after the timeout, removing nothing. */
  orphan(epoch: number): void {
    const s = this.current;
    if (!s || s.epoch !== epoch || s.state !== 'open') return;
    s.state = 'orphaned';
    this.log.warn({ epoch, owner: s.owner, timeoutMs: this.orphanTimeoutMs }, 'sync owner disconnected mid-sync; nothing will be removed');
    s.timer = setTimeout(() => {
      if (this.current === s) this.abandon(s, 'the agent disconnected before ending the sync');
    }, this.orphanTimeoutMs);
    s.timer.unref();
  }

  /** complete: the epoch ended with these removals. */
  complete(s: SyncEpoch, removed: SyncState['removed']): SyncState {
    s.state = 'completed';
    s.endedAt = Date.now();
    s.removed = removed;
    this.finish(s);
    this.log.info({ epoch: s.epoch, removed }, 'sync epoch completed');
    return publicSync(s);
  }

  /** status: the epoch open (or orphaned), if any, and the last one that ended. */
  status(): { current: SyncState | undefined; last: SyncState | undefined } {
    return { current: this.current && publicSync(this.current), last: this.last };
  }

  private abandon(s: SyncEpoch, reason: string): void {
    s.state = 'abandoned';
    s.endedAt = Date.now();
    s.reason = reason;
    this.finish(s);
    this.log.warn({ epoch: s.epoch, owner: s.owner, reason }, 'sync epoch abandoned; nothing removed');
  }

  private finish(s: SyncEpoch): void {
    if (s.timer) clearTimeout(s.timer);
    this.last = publicSync(s);
    if (this.current === s) this.current = undefined;
  }
}

function publicSync(s: SyncState): SyncState {
  return { epoch: s.epoch, owner: s.owner, state: s.state, startedAt: s.startedAt, endedAt: s.endedAt, removed: s.removed, reason: s.reason };
}
