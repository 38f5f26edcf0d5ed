/**
 * FakeFlowHub: an in-memory FlowHub (src/flows/hub.ts) for tests of the
 * flow API: it records what the manager tells it (resolved, deleted) and
 * lets a test emit misses and events to the watchers, with the credit
 * window, batching and loss records the real one promises (a watcher's
 * queue is bounded; what does not fit is counted as lost).
 */
import type { FlowEventBatch, FlowHub, FlowHubStats, MissBatch, MissWatch, MissWatchOptions } from '../../src/flows/hub.ts';
import type { FlowEvent, FlowKey, FlowMiss } from '../../src/manager/flow-model.ts';

/** Feed: a bounded queue read as an async iterable of batches; `take` says how much may go now. */
class Feed<T> {
  private queue: T[] = [];
  private lost = 0;
  private closed = false;
  private wake: (() => void) | undefined;
  readonly maxQueue: number;

  constructor(maxQueue: number) {
    this.maxQueue = maxQueue;
  }

  push(x: T): void {
    if (this.queue.length >= this.maxQueue) this.lost++;
    else this.queue.push(x);
    this.poke();
  }

  poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  close(): void {
    this.closed = true;
    this.poke();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async *batches(take: () => number): AsyncGenerator<{ items: T[]; lost: number }> {
    while (!this.closed) {
      const n = Math.min(take(), this.queue.length);
      if (n > 0 || this.lost) {
        const items = this.queue.splice(0, n);
        const lost = this.lost;
        this.lost = 0;
        yield { items, lost };
        continue;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

class FakeMissWatch implements MissWatch {
  readonly feed: Feed<FlowMiss>;
  readonly window: number;
  readonly maxBatch: number;
  /** sent and not granted back */
  inFlight = 0;
  readonly grants: number[] = [];

  constructor(opts: MissWatchOptions) {
    this.window = opts.window ?? 4096;
    this.maxBatch = opts.maxBatch ?? 256;
    this.feed = new Feed(this.window * 2);
  }

  grant(n: number): void {
    this.grants.push(n);
    this.inFlight -= n;
    this.feed.poke();
  }

  close(): void {
    this.feed.close();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<MissBatch> {
    for await (const b of this.feed.batches(() => Math.min(this.maxBatch, this.window - this.inFlight))) {
      this.inFlight += b.items.length;
      yield { misses: b.items, lost: b.lost };
    }
  }
}

export class FakeFlowHub implements FlowHub {
  /** every resolved() and deleted() call, in order */
  readonly calls: { op: 'resolved' | 'deleted'; keys: FlowKey[] }[] = [];
  readonly missWatches: FakeMissWatch[] = [];
  private readonly eventFeeds: Feed<FlowEvent>[] = [];
  private seen = 0n;

  watchMisses(opts: MissWatchOptions = {}): MissWatch {
    const w = new FakeMissWatch(opts);
    this.missWatches.push(w);
    return w;
  }

  watchEvents(opts: { maxQueue?: number } = {}): AsyncIterable<FlowEventBatch> & { close(): void } {
    const feed = new Feed<FlowEvent>(opts.maxQueue ?? 65536);
    this.eventFeeds.push(feed);
    return {
      close: () => feed.close(),
      async *[Symbol.asyncIterator]() {
        for await (const b of feed.batches(() => 256)) yield { events: b.items, lost: b.lost };
      },
    };
  }

  /** emitMiss: a miss to every open watcher. */
  emitMiss(m: FlowMiss): void {
    this.seen++;
    for (const w of this.missWatches) if (!w.feed.isClosed) w.feed.push(m);
  }

  emitEvent(e: FlowEvent): void {
    for (const f of this.eventFeeds) if (!f.isClosed) f.push(e);
  }

  /** watching: the miss watchers still open */
  get watching(): number {
    return this.missWatches.filter((w) => !w.feed.isClosed).length;
  }

  resolved(keys: readonly FlowKey[]): Promise<number> {
    this.calls.push({ op: 'resolved', keys: [...keys] });
    return Promise.resolve(0);
  }

  deleted(keys: readonly FlowKey[]): void {
    this.calls.push({ op: 'deleted', keys: [...keys] });
  }

  stats(): FlowHubStats {
    return { missesSeen: this.seen, framesHeld: 0, reinjected: 0n, holdExpired: 0n, holdQueueFull: 0n, watchers: this.watching, watcherLosses: 0n };
  }

  close(): Promise<void> {
    for (const w of this.missWatches) w.close();
    for (const f of this.eventFeeds) f.close();
    return Promise.resolve();
  }
}
