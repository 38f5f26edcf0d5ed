/**
 * PacketHub: the trap ring's one reader and its watchers. A RingbufReader
 * (its own thread: mmap + epoll) hands over batches of vr_trap_rb records;
 * each is decoded once (frames copied out) and offered to every watcher
 * that wants its reasons, into that watcher's own bounded queue (a Watcher
 * of src/events/fanout.ts). This is EventStream's shape with one change:
 * the reason filter runs before the queues, so a flood of ARP never costs
 * a DHCP-only watcher a packet. The ring is drained whether or not anyone
 * watches (a full ring would make the datapath drop what it traps).
 */
import { EventBatch, RingbufReader } from '../bpf/ringbuf.ts';
import { Watcher, type Batch } from '../events/fanout.ts';
import { TRAP_REASONS, type TrapReasonName } from '../maps/trap-reasons.ts';
import { decodeTrap, type TrappedPacket } from './trap-record.ts';

/** TrapBatch: decoded packets, in ring order; what a packet watcher's queue holds. */
export class TrapBatch implements Batch {
  readonly packets: readonly TrappedPacket[];
  constructor(packets: readonly TrappedPacket[]) {
    this.packets = packets;
  }
  get count(): number {
    return this.packets.length;
  }
  slice(start: number, end?: number): this {
    return new TrapBatch(this.packets.slice(start, end)) as this;
  }
}

export interface PacketWatchOptions {
  /** only these reasons; empty or absent: all */
  reasons?: readonly TrapReasonName[] | undefined;
  /** packets queued at most before this watcher loses the next (default DEFAULT_WATCH_QUEUE) */
  max?: number | undefined;
}

/**
 * DEFAULT_WATCH_QUEUE: a watcher's queue by default: one whole batch of the
 * ring reader (its batchMax), so that a watcher that keeps up never loses
 * part of a burst that arrived in one read
 */
export const DEFAULT_WATCH_QUEUE = 4096;

export interface PacketHubStats {
  /** records read from the ring */
  read: number;
  /** records that were not whole trap records (skipped) */
  malformed: number;
  /** packets no watcher wanted (nobody watching, or filtered out by all) */
  unwatched: number;
  /** packets lost by watchers whose queue was full, since start (closed watchers included) */
  watcherLost: number;
  watchers: number;
}

interface Entry {
  w: Watcher<TrapBatch>;
  /** bit r: reason code r wanted */
  mask: number;
}

const ALL = (1 << TRAP_REASONS.length) - 1;
/** bit: a packet's place in a watcher's reason mask */
const bit = (p: TrappedPacket) => 1 << TRAP_REASONS.indexOf(p.reason);

export class PacketHub {
  private readonly entries = new Set<Entry>();
  private ended: { err?: Error } | undefined;
  private read = 0;
  private malformed = 0;
  private unwatched = 0;
  /** losses of watchers that have gone */
  private retiredLost = 0;
  private reader: RingbufReader | undefined;

  /**
   * open: a hub reading the ring buffer map at `source` (pin path, or an fd
   * the caller keeps open until close()). onError: the reader failed
   * (every watcher's stream then fails too).
   */
  static open(source: number | string, onError?: (err: Error) => void): PacketHub {
    const hub = new PacketHub();
    hub.reader = RingbufReader.open(source, {
      batchMax: DEFAULT_WATCH_QUEUE,
      onBatch: (b) => hub.publish(b),
      onError: (err) => {
        onError?.(err);
        hub.end(err);
      },
    });
    void hub.reader.closed.then(() => hub.end());
    return hub;
  }

  /** watch: a new watcher of the packets trapped from now on. */
  watch(opts: PacketWatchOptions = {}): Watcher<TrapBatch> {
    const mask = opts.reasons?.length ? opts.reasons.reduce((m, r) => m | (1 << TRAP_REASONS.indexOf(r)), 0) : ALL;
    const entry: Entry = {
      mask,
      w: new Watcher<TrapBatch>({ max: opts.max ?? DEFAULT_WATCH_QUEUE }, (w) => {
        if (this.entries.delete(entry)) this.retiredLost += w.lost;
      }),
    };
    if (this.ended) entry.w.end(this.ended.err);
    else this.entries.add(entry);
    return entry.w;
  }

  /** publish: one batch of ring records (the reader's thread hands them here, in ring order). */
  publish(batch: EventBatch): void {
    const packets: TrappedPacket[] = [];
    for (let i = 0; i < batch.count; i++) {
      const p = decodeTrap(batch.event(i));
      if (p) packets.push(p);
      else this.malformed++;
    }
    this.read += batch.count;
    if (!packets.length) return;
    // one filtered batch per distinct filter, shared by the watchers that have it
    const byMask = new Map<number, TrapBatch>();
    let wanted = 0;
    for (const { w, mask } of this.entries) {
      let b = byMask.get(mask);
      if (!b) {
        b = mask === ALL ? new TrapBatch(packets) : new TrapBatch(packets.filter((p) => mask & bit(p)));
        byMask.set(mask, b);
      }
      wanted |= mask;
      w.offer(b);
    }
    for (const p of packets) if (!(wanted & bit(p))) this.unwatched++;
  }

  /** end: no more packets; every watcher ends after what it holds (or fails with err). */
  end(err?: Error): void {
    if (this.ended) return;
    this.ended = err ? { err } : {};
    for (const e of this.entries) e.w.end(err);
  }

  stats(): PacketHubStats {
    let live = 0;
    for (const { w } of this.entries) live += w.lost;
    return { read: this.read, malformed: this.malformed, unwatched: this.unwatched, watcherLost: this.retiredLost + live, watchers: this.entries.size };
  }

  /** close: stops the reader; watchers end after what they hold. */
  async close(): Promise<void> {
    await this.reader?.close();
    this.end();
  }
}
