/**
 * FlowEvents: flows removed (aged, closed, hold expired, deleted) for any
 * number of watchers, over the events Fanout (src/events/fanout.ts): each
 * watcher has a bounded queue and loses only its own events, told as a
 * loss record. Events emitted in one turn of the event loop go out as one
 * batch.
 */
import { Fanout, type Batch } from '../events/fanout.ts';
import type { FlowEvent } from '../manager/flow-model.ts';
import type { FlowEventBatch } from './hub.ts';

/** EventList: a list of events as a fan-out batch. */
class EventList implements Batch {
  readonly events: readonly FlowEvent[];

  constructor(events: readonly FlowEvent[]) {
    this.events = events;
  }

  get count(): number {
    return this.events.length;
  }

  slice(start: number, end = this.events.length): this {
    return new EventList(this.events.slice(start, end)) as this;
  }
}

export type EventWatch = AsyncIterable<FlowEventBatch> & { close(): void };

export class FlowEvents {
  private readonly fanout = new Fanout<EventList>();
  private pending: FlowEvent[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private lostSeen = 0n;
  private readonly watchers = new Set<{ lost: number }>();

  get size(): number {
    return this.fanout.size;
  }

  /** losses: events lost by watchers (open ones, and the closed ones' final counts) */
  get losses(): bigint {
    let n = this.lostSeen;
    for (const w of this.watchers) n += BigInt(w.lost);
    return n;
  }

  emit(e: FlowEvent): void {
    this.pending.push(e);
    this.scheduled ??= setImmediate(() => this.flush());
  }

  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (!this.pending.length) return;
    const batch = new EventList(this.pending);
    this.pending = [];
    this.fanout.publish(batch);
  }

  watch(opts: { maxQueue?: number } = {}): EventWatch {
    const w = this.fanout.subscribe({ max: opts.maxQueue ?? 65536 });
    this.watchers.add(w);
    const forget = () => {
      if (this.watchers.delete(w)) this.lostSeen += BigInt(w.lost);
    };
    return {
      close: () => {
        forget();
        w.close();
      },
      [Symbol.asyncIterator]: async function* () {
        try {
          for await (const item of w) {
            yield item.kind === 'events' ? { events: [...item.batch.events], lost: 0 } : { events: [], lost: item.count };
          }
        } finally {
          forget();
        }
      },
    };
  }

  /** end: watchers end after what they hold. */
  end(): void {
    this.flush();
    this.fanout.end();
  }
}
