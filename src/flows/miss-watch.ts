/**
 * MissWatchers: new flow misses for any number of watchers (the agent's
 * streams), each with credit flow control: a watcher has at most `window`
 * misses outstanding (taken or queued, not yet granted back); past that,
 * or with `window` misses unread, its misses are lost, counted, and told in
 * its next batch. publish() never waits and one watcher never costs
 * another anything. Batches are cut at `maxBatch`, or flushed after
 * `flushMs` (at most 1 ms: at the end of the current turn of the event loop,
 * i.e. after the ring batch being read).
 */
import type { FlowMiss } from '../manager/flow-model.ts';
import type { MissBatch, MissWatch, MissWatchOptions } from './hub.ts';

export class MissWatchers {
  private readonly watchers = new Set<CreditWatch>();
  private lostTotal = 0n;

  get size(): number {
    return this.watchers.size;
  }

  /** losses: misses lost by every watcher, ever */
  get losses(): bigint {
    return this.lostTotal;
  }

  watch(opts: MissWatchOptions = {}): MissWatch {
    const w = new CreditWatch(opts, (x) => this.watchers.delete(x), () => this.lostTotal++);
    this.watchers.add(w);
    return w;
  }

  publish(misses: readonly FlowMiss[]): void {
    if (misses.length === 0) return;
    for (const w of this.watchers) w.offer(misses);
  }

  /** end: every watcher ends after what it holds. */
  end(): void {
    for (const w of this.watchers) w.end();
    this.watchers.clear();
  }
}

class CreditWatch implements MissWatch {
  private readonly window: number;
  private readonly flushMs: number;
  private readonly maxBatch: number;
  /** accepted and not yet granted back */
  private outstanding = 0;
  /** accepted and not yet read */
  private unread = 0;
  private pending: FlowMiss[] = [];
  private lost = 0;
  private readonly ready: MissBatch[] = [];
  private waiter: ((r: IteratorResult<MissBatch>) => void) | undefined;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private ended = false;
  private readonly detach: (w: CreditWatch) => void;
  private readonly onLoss: () => void;

  constructor(opts: MissWatchOptions, detach: (w: CreditWatch) => void, onLoss: () => void) {
    this.window = opts.window ?? 4096;
    this.flushMs = opts.flushMs ?? 0.2;
    this.maxBatch = opts.maxBatch ?? 256;
    if (!(this.window >= 1) || !(this.maxBatch >= 1) || !(this.flushMs >= 0)) throw new RangeError('miss watch: window and maxBatch must be >= 1, flushMs >= 0');
    this.detach = detach;
    this.onLoss = onLoss;
  }

  offer(misses: readonly FlowMiss[]): void {
    if (this.ended) return;
    for (const m of misses) {
      if (this.outstanding >= this.window || this.unread >= this.window) {
        this.lost++;
        this.onLoss();
        continue;
      }
      this.outstanding++;
      this.unread++;
      this.pending.push(m);
      if (this.pending.length >= this.maxBatch) this.flush();
    }
    if (this.pending.length || this.lost) this.schedule();
  }

  grant(n: number): void {
    if (n > 0) this.outstanding = Math.max(0, this.outstanding - Math.floor(n));
  }

  next(): Promise<IteratorResult<MissBatch>> {
    if (this.ready.length) return Promise.resolve({ value: this.take(), done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  return(): Promise<IteratorResult<MissBatch>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** close: unsubscribes; what was queued is dropped, a pending read ends. */
  close(): void {
    this.detach(this);
    this.cancelTimer();
    this.pending = [];
    this.ready.length = 0;
    this.ended = true;
    this.wake();
  }

  /** end: no more misses; iteration ends after what is queued. */
  end(): void {
    if (this.ended) return;
    this.flush();
    this.ended = true;
    this.wake();
  }

  private schedule(): void {
    if (this.timer) return;
    // timers are ms-granular: a sub-ms flush happens once the current input is handled
    this.timer = this.flushMs <= 1 ? setImmediate(() => this.onTimer()) : setTimeout(() => this.onTimer(), this.flushMs);
  }

  private onTimer(): void {
    this.timer = undefined;
    this.flush();
  }

  private cancelTimer(): void {
    if (!this.timer) return;
    if (this.flushMs <= 1) clearImmediate(this.timer as NodeJS.Immediate);
    else clearTimeout(this.timer as NodeJS.Timeout);
    this.timer = undefined;
  }

  private flush(): void {
    if (!this.pending.length && !this.lost) return;
    this.ready.push({ misses: this.pending, lost: this.lost });
    this.pending = [];
    this.lost = 0;
    if (this.waiter) this.wake();
  }

  /** take: the oldest ready batch, with the ones after it that still fit in maxBatch (a slow reader gets fewer, fuller batches) */
  private take(): MissBatch {
    const b = this.ready.shift()!;
    while (this.ready.length && b.misses.length + this.ready[0]!.misses.length <= this.maxBatch) {
      const n = this.ready.shift()!;
      b.misses = b.misses.concat(n.misses);
      b.lost += n.lost;
    }
    this.unread -= b.misses.length;
    return b;
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    if (this.ready.length) w({ value: this.take(), done: false });
    else if (this.ended) w({ value: undefined, done: true });
    else this.waiter = w;
  }
}
