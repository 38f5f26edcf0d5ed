/**
 * EventStream: the events of one ring buffer for any number of watchers:
 * a RingbufReader (its own thread) publishing each batch into a Fanout.
 */
import { RingbufReader, type EventBatch, type RingbufOptions, type RingbufStats } from '../bpf/ringbuf.ts';
import { Fanout, type WatchOptions, type Watcher } from './fanout.ts';

export type EventStreamOptions = Omit<RingbufOptions, 'onBatch' | 'onError' | 'drainOnly'>;

export class EventStream {
  private readonly fanout = new Fanout<EventBatch>();
  private readonly reader: RingbufReader;

  private constructor(source: number | string, opts: EventStreamOptions) {
    this.reader = RingbufReader.open(source, {
      ...opts,
      onBatch: (b) => this.fanout.publish(b),
      onError: (err) => this.fanout.end(err),
    });
    // the worker gone (close or failure): watchers end after what they hold
    void this.reader.closed.then(() => this.fanout.end());
  }

  /** open: a stream of a ring buffer map, by pin path or fd (see RingbufReader.open). */
  static open(source: number | string, opts: EventStreamOptions = {}): EventStream {
    return new EventStream(source, opts);
  }

  subscribe(opts: WatchOptions = {}): Watcher<EventBatch> {
    return this.fanout.subscribe(opts);
  }

  get watchers(): number {
    return this.fanout.size;
  }

  stats(): RingbufStats {
    return this.reader.stats();
  }

  /** close: stops the reader; every watcher's iteration ends after what it holds. */
  close(): Promise<void> {
    return this.reader.close();
  }
}
