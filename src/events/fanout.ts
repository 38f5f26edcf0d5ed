/**
 * Fanout: one publisher, many watchers, each with a bounded queue of
 * events. publish() never waits and costs the same whatever the watchers
 * do: a batch that does not fit in a watcher's queue is cut to what fits
 * and the rest is lost for that watcher alone, which finds a loss record
 * (how many were lost there) in its stream at the place of the loss.
 */

/** Batch: what the fan-out carries; it only needs a count and a cut. */
export interface Batch {
  readonly count: number;
  slice(start: number, end?: number): this;
}

export type WatchItem<B> = { kind: 'events'; batch: B } | { kind: 'lost'; count: number };

export interface WatchOptions {
  /** events queued at most (default 65536) */
  max?: number;
}

export class Watcher<B extends Batch> implements AsyncIterableIterator<WatchItem<B>> {
  readonly max: number;
  private items: WatchItem<B>[] = [];
  private head = 0;
  private queuedEvents = 0;
  private lostTotal = 0;
  private delivered = 0;
  private waiters: ((r: IteratorResult<WatchItem<B>>) => void)[] = [];
  private rejecters: ((err: Error) => void)[] = [];
  private ended = false;
  private failure: Error | undefined;
  private readonly detach: (w: Watcher<B>) => void;

  constructor(opts: WatchOptions, detach: (w: Watcher<B>) => void) {
    this.max = opts.max ?? 65536;
    if (!(this.max >= 1)) throw new RangeError(`watcher: max must be >= 1, got ${this.max}`);
    this.detach = detach;
  }

  /** lost: events this watcher lost since it subscribed */
  get lost(): number {
    return this.lostTotal;
  }

  /** queued: events waiting in this watcher's queue */
  get queued(): number {
    return this.queuedEvents;
  }

  /** received: events this watcher has taken from its queue */
  get received(): number {
    return this.delivered;
  }

  /** offer: the publisher's side; takes what fits, counts the rest as lost. */
  offer(batch: B): void {
    if (this.ended || batch.count === 0) return;
    const room = this.max - this.queuedEvents;
    const take = Math.min(room, batch.count);
    if (take > 0) this.push({ kind: 'events', batch: take === batch.count ? batch : batch.slice(0, take) }, take);
    const lost = batch.count - take;
    if (lost > 0) {
      this.lostTotal += lost;
      const tail = this.items.length > this.head ? this.items[this.items.length - 1] : undefined;
      if (tail?.kind === 'lost') tail.count += lost;
      else this.push({ kind: 'lost', count: lost }, 0);
    }
  }

  /** end: no more events; iteration ends after what is queued (or fails with err). */
  end(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = err;
    if (this.head >= this.items.length) this.settleWaiters();
  }

  next(): Promise<IteratorResult<WatchItem<B>>> {
    if (this.head < this.items.length) return Promise.resolve({ value: this.shift(), done: false });
    if (this.ended) return this.failure ? Promise.reject(this.failure) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiters.push(resolve);
      this.rejecters.push(reject);
    });
  }

  /** return: leaving a for-await loop unsubscribes. */
  return(): Promise<IteratorResult<WatchItem<B>>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** close: unsubscribes; what was queued is dropped, pending reads end. */
  close(): void {
    this.detach(this);
    this.items = [];
    this.head = 0;
    this.queuedEvents = 0;
    this.ended = true;
    this.failure = undefined;
    this.settleWaiters();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private push(item: WatchItem<B>, events: number): void {
    this.queuedEvents += events;
    const waiter = this.waiters.shift();
    this.rejecters.shift();
    if (waiter) {
      this.take(item);
      waiter({ value: item, done: false });
    } else this.items.push(item);
  }

  private shift(): WatchItem<B> {
    const item = this.items[this.head++]!;
    // compact now and then, so that a long-lived queue does not keep its history
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.take(item);
    return item;
  }

  private take(item: WatchItem<B>): void {
    if (item.kind === 'events') {
      this.queuedEvents -= item.batch.count;
      this.delivered += item.batch.count;
    }
  }

  private settleWaiters(): void {
    const waiters = this.waiters;
    const rejecters = this.rejecters;
    this.waiters = [];
    this.rejecters = [];
    if (this.failure) for (const r of rejecters) r(this.failure);
    else for (const w of waiters) w({ value: undefined, done: true });
  }
}

export class Fanout<B extends Batch> {
  private readonly watchers = new Set<Watcher<B>>();
  private ended: { err?: Error } | undefined;

  /** subscribe: a new watcher; it sees the batches published from now on. */
  subscribe(opts: WatchOptions = {}): Watcher<B> {
    const w = new Watcher<B>(opts, (x) => this.watchers.delete(x));
    if (this.ended) w.end(this.ended.err);
    else this.watchers.add(w);
    return w;
  }

  get size(): number {
    return this.watchers.size;
  }

  publish(batch: B): void {
    for (const w of this.watchers) w.offer(batch);
  }

  /** end: every watcher's iteration ends after its queue (or fails with err); later subscribers end at once. */
  end(err?: Error): void {
    if (this.ended) return;
    this.ended = err ? { err } : {};
    for (const w of this.watchers) w.end(err);
    this.watchers.clear();
  }
}
