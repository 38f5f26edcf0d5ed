/**
 * RingbufReader: one reader of one BPF_MAP_TYPE_RINGBUF map, on its own
 * worker thread (ringbuf-worker.ts) so that the gRPC event loop never reads
 * records. The ring's pages are mapped here (consumer page read-write,
 * producer page and the data twice read-only, as libbpf does) and read by
 * the worker; records reach this thread in batches (one transferred
 * ArrayBuffer each) through `onBatch`. Fan-out to watchers is src/events.
 */
import { Worker } from 'node:worker_threads';
import { sys } from './libbpf.ts';
import { BpfError, check } from './errors.ts';
import { readMapInfo } from './map.ts';
import { CTL, STAT, type BatchMessage, type WorkerSetup } from './ringbuf-layout.ts';

const BPF_MAP_TYPE_RINGBUF = 27;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FAILED = 0xffffffffffffffffn;
const EFD_CLOEXEC = 0o2000000;

/** EventBatch: records of one batch, in ring order; views into one buffer (copy what you keep past the batch). */
export class EventBatch {
  readonly bytes: Uint8Array;
  private readonly index: Uint32Array;
  private readonly first: number;
  readonly count: number;

  constructor(bytes: Uint8Array, index: Uint32Array, first = 0, count = index.length / 2) {
    this.bytes = bytes;
    this.index = index;
    this.first = first;
    this.count = count;
  }

  static fromMessage(m: BatchMessage): EventBatch {
    return new EventBatch(new Uint8Array(m.buf, 0, m.span), new Uint32Array(m.buf, m.span, 2 * m.count));
  }

  /** offset: where record i's data starts in `bytes` (no allocation: for hot loops). */
  offset(i: number): number {
    return this.index[2 * (this.first + i)]!;
  }

  length(i: number): number {
    return this.index[2 * (this.first + i) + 1]!;
  }

  /** event: record i's data, a view. */
  event(i: number): Uint8Array {
    const off = this.offset(i);
    return this.bytes.subarray(off, off + this.length(i));
  }

  /** slice: records [start, end) of this batch, sharing its buffer. */
  slice(start: number, end = this.count): EventBatch {
    const s = Math.max(0, Math.min(start, this.count));
    const e = Math.max(s, Math.min(end, this.count));
    return new EventBatch(this.bytes, this.index, this.first + s, e - s);
  }

  *[Symbol.iterator](): Generator<Uint8Array> {
    for (let i = 0; i < this.count; i++) yield this.event(i);
  }
}

export interface RingbufOptions {
  /** records per batch at most (default 4096) */
  batchMax?: number;
  /** bytes of ring per batch at most, headers included (default 1 MiB); a larger record travels alone */
  batchBytes?: number;
  /** batches posted to this thread and not yet taken, at most (default 16); then the ring holds the rest */
  inflight?: number;
  /** bench only: the worker releases records without copying or posting them */
  drainOnly?: boolean;
  /** called on this thread with each batch, in ring order */
  onBatch?: (batch: EventBatch) => void;
  /** called once when the worker fails (the reader is then closed) */
  onError?: (err: Error) => void;
}

export interface RingbufStats {
  events: number;
  discarded: number;
  bytes: number;
  batches: number;
  /** times the worker found the ring empty and slept in epoll_wait */
  waits: number;
  /** wall-clock ms (performance.timeOrigin + performance.now()) of the first and the latest batch read; 0 before any */
  firstAt: number;
  lastAt: number;
}

/**
 * the readers whose worker may be asleep in epoll_wait: process.exit joins
 * every worker thread, and a worker blocked in a native call without a
 * timeout never gets to stop, so a daemon that fails after opening a ring
 * (a listener already in use) would hang on its way out. On exit every
 * such worker is told to stop and woken, synchronously, before the join.
 */
const awake = new Set<RingbufReader>();
let exitHook = false;

export class RingbufReader {
  /** the ring's data size in bytes (the map's max_entries) */
  readonly size: number;
  private readonly mapFd: number;
  private readonly ownsFd: boolean;
  private readonly wakeFd: number;
  private readonly pageSize: number;
  private readonly consumer: bigint;
  private readonly producer: bigint;
  private readonly control: Int32Array;
  private readonly counters: Float64Array;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private closing: Promise<void> | undefined;
  private gone = false;

  private constructor(mapFd: number, ownsFd: boolean, opts: RingbufOptions) {
    this.mapFd = mapFd;
    this.ownsFd = ownsFd;
    const info = readMapInfo(mapFd, `fd ${mapFd}`);
    if (info.type !== BPF_MAP_TYPE_RINGBUF) throw new Error(`ringbuf: map ${info.name} is of type ${info.type}, not a ring buffer`);
    this.size = info.maxEntries;
    this.pageSize = sys.getpagesize();
    this.consumer = mapOrThrow(this.pageSize, PROT_READ | PROT_WRITE, mapFd, 0, info.name);
    try {
      this.producer = mapOrThrow(this.pageSize + 2 * this.size, PROT_READ, mapFd, this.pageSize, info.name);
    } catch (err) {
      sys.munmap(this.consumer, this.pageSize);
      throw err;
    }
    this.wakeFd = sys.eventfd(0, EFD_CLOEXEC);
    if (this.wakeFd < 0) {
      const errno = sys.errno();
      this.unmap();
      throw new BpfError('eventfd', info.name, errno);
    }
    const control = new SharedArrayBuffer(4 * CTL.SLOTS);
    const stats = new SharedArrayBuffer(8 * STAT.SLOTS);
    this.control = new Int32Array(control);
    this.counters = new Float64Array(stats);
    const setup: WorkerSetup = {
      mapFd,
      wakeFd: this.wakeFd,
      consumerPtr: this.consumer,
      producerPtr: this.producer,
      pageSize: this.pageSize,
      size: this.size,
      batchMax: opts.batchMax ?? 4096,
      batchBytes: opts.batchBytes ?? 1 << 20,
      inflightMax: opts.inflight ?? 16,
      drainOnly: opts.drainOnly ?? false,
      control,
      stats,
    };
    this.worker = new Worker(new URL('./ringbuf-worker.ts', import.meta.url), { workerData: setup, name: `ringbuf ${info.name}` });
    const onBatch = opts.onBatch;
    this.worker.on('message', (m: BatchMessage) => {
      // taken: the worker may post another before the watchers are served
      Atomics.sub(this.control, CTL.INFLIGHT, 1);
      Atomics.notify(this.control, CTL.INFLIGHT);
      onBatch?.(EventBatch.fromMessage(m));
    });
    let failed: Error | undefined;
    this.worker.on('error', (err) => {
      failed = err;
    });
    awake.add(this);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const r of awake) r.wake();
      });
    }
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', () => {
        awake.delete(this);
        this.gone = true;
        this.release();
        if (failed) opts.onError?.(failed);
        resolve();
      });
    });
  }

  /**
   * open: a reader of a ring buffer map, given by pin path (opened and
   * closed here) or by fd (the caller's: keep it open until close()).
   */
  static open(source: number | string, opts: RingbufOptions = {}): RingbufReader {
    if (typeof source === 'number') return new RingbufReader(source, false, opts);
    const fd = check(sys.bpf_obj_get(source), 'bpf_obj_get', source);
    try {
      return new RingbufReader(fd, true, opts);
    } catch (err) {
      sys.close(fd);
      throw err;
    }
  }

  stats(): RingbufStats {
    const c = this.counters;
    return {
      events: c[STAT.EVENTS]!,
      discarded: c[STAT.DISCARDED]!,
      bytes: c[STAT.BYTES]!,
      batches: c[STAT.BATCHES]!,
      waits: c[STAT.WAITS]!,
      firstAt: c[STAT.FIRST_AT]!,
      lastAt: c[STAT.LAST_AT]!,
    };
  }

  /** close: stops the worker (woken from epoll_wait by the eventfd), then unmaps the ring; idempotent. */
  close(): Promise<void> {
    this.closing ??= (() => {
      if (this.gone) return this.exited; // the worker failed: its fds are closed already
      this.wake();
      return this.exited;
    })();
    return this.closing;
  }

  /** wake: tells the worker to stop and wakes it from epoll_wait */
  private wake(): void {
    if (this.gone) return;
    Atomics.store(this.control, CTL.STOP, 1);
    Atomics.notify(this.control, CTL.INFLIGHT);
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    sys.write(this.wakeFd, one, 8);
  }

  /** closed: resolves when the worker has exited (after close(), or on its failure). */
  get closed(): Promise<void> {
    return this.exited;
  }

  private unmap(): void {
    sys.munmap(this.producer, this.pageSize + 2 * this.size);
    sys.munmap(this.consumer, this.pageSize);
  }

  private release(): void {
    this.unmap();
    sys.close(this.wakeFd);
    if (this.ownsFd) sys.close(this.mapFd);
  }
}

function mapOrThrow(len: number, prot: number, fd: number, offset: number, what: string): bigint {
  const p = sys.mmap(null, len, prot, MAP_SHARED, fd, offset) as unknown as bigint;
  if (p === MAP_FAILED) throw new BpfError('mmap', what, sys.errno());
  return p;
}
