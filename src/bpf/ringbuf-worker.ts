/**
 * The ring buffer reader's thread (started by RingbufReader, src/bpf/ringbuf.ts).
 * It reads records straight from the mapped ring (no FFI call per record),
 * copies each batch's span of the ring into one transferred ArrayBuffer,
 * releases the span to the kernel (consumer_pos), and sleeps in epoll_wait
 * on the map fd when the ring is empty. Batches posted but not yet taken by
 * the main thread are bounded: past the bound the reader stops reading and
 * the ring, not this process, absorbs the burst (the datapath counts what
 * the ring refuses; it never waits on us).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { sys, viewOf } from './libbpf.ts';
import { BpfError, ERRNO } from './errors.ts';
import { CTL, STAT, type WorkerSetup, type BatchMessage } from './ringbuf-layout.ts';

const BUSY_BIT = 0x80000000; // BPF_RINGBUF_BUSY_BIT: reserved, not yet committed
const DISCARD_BIT = 0x40000000; // BPF_RINGBUF_DISCARD_BIT: skip
const LEN_MASK = 0x3fffffff;
const HDR_SZ = 8; // BPF_RINGBUF_HDR_SZ: u32 len, u32 pg_off

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLLIN = 1;
const EVENT_SIZE = 12; // struct epoll_event is packed on x86_64 (u32 events, u64 data)
/** the longest sleep in epoll_wait: how long a terminated worker may take to go */
const WAIT_MS = 200;

const w = workerData as WorkerSetup;
const ctl = new Int32Array(w.control);
const stats = new Float64Array(w.stats);
const size = w.size;
// consumer_pos: the first page, ours to write; producer_pos: the next page, then the data twice
const consumerPos = new BigInt64Array(viewOf(w.consumerPtr, w.pageSize), 0, 1);
const producerArea = viewOf(w.producerPtr, w.pageSize + 2 * size);
const producerPos = new BigInt64Array(producerArea, 0, 1);
const data = new Uint8Array(producerArea, w.pageSize, 2 * size);
const words = new Uint32Array(producerArea, w.pageSize, (2 * size) / 4);

function epollOpen(): number {
  const ep = sys.epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) throw new BpfError('epoll_create1', 'ringbuf', sys.errno());
  for (const fd of [w.mapFd, w.wakeFd]) {
    const ev = Buffer.alloc(EVENT_SIZE);
    ev.writeUInt32LE(EPOLLIN, 0);
    ev.writeUInt32LE(fd, 4);
    if (sys.epoll_ctl(ep, EPOLL_CTL_ADD, fd, ev) < 0) {
      const errno = sys.errno();
      sys.close(ep);
      throw new BpfError('epoll_ctl', `fd ${fd}`, errno);
    }
  }
  return ep;
}

function run(): void {
  const ep = epollOpen();
  const events = Buffer.alloc(EVENT_SIZE * 2);
  const scratch = Buffer.alloc(8);
  // record offsets of the batch being read: [data offset in the batch, length] per record
  const index = new Uint32Array(2 * w.batchMax);
  let cons = Number(Atomics.load(consumerPos, 0)); // positions stay below 2^53: exact as numbers
  try {
    while (Atomics.load(ctl, CTL.STOP) === 0) {
      const inflight = Atomics.load(ctl, CTL.INFLIGHT);
      if (inflight >= w.inflightMax) {
        Atomics.wait(ctl, CTL.INFLIGHT, inflight, 100);
        continue;
      }
      const prod = Number(Atomics.load(producerPos, 0));
      if (cons === prod) {
        stats[STAT.WAITS]!++;
        // level-triggered: the map fd polls readable while producer_pos != consumer_pos.
        // Bounded: a thread asleep in a native call cannot be terminated, and
        // process.exit() joins every worker: a daemon that fails after its
        // readers started would hang in exit until the next record.
        const n = sys.epoll_wait(ep, events, 2, WAIT_MS);
        if (n < 0 && sys.errno() !== ERRNO.EINTR) throw new BpfError('epoll_wait', 'ringbuf', sys.errno());
        for (let i = 0; i < n; i++) if (events.readUInt32LE(i * EVENT_SIZE + 4) === w.wakeFd) sys.read(w.wakeFd, scratch, 8);
        continue;
      }
      const start = cons;
      let n = 0;
      let discarded = 0;
      while (cons < prod && n < w.batchMax) {
        const off = cons % size;
        const len = Atomics.load(words, off >>> 2) >>> 0;
        if (len & BUSY_BIT) break; // a reservation not yet committed: everything after it waits
        const total = ((len & LEN_MASK) + HDR_SZ + 7) & ~7;
        // one huge record makes a batch of its own; otherwise batches stay under batchBytes
        if (cons - start + total > w.batchBytes && cons > start) break;
        if (len & DISCARD_BIT) discarded++;
        else {
          index[2 * n] = cons - start + HDR_SZ;
          index[2 * n + 1] = len & LEN_MASK;
          n++;
        }
        cons += total;
      }
      if (cons === start) continue; // the oldest record is still busy: its producer is mid-commit
      const span = cons - start;
      const from = start % size; // the data is mapped twice: any span up to `size` is contiguous
      let msg: BatchMessage | undefined;
      if (n > 0 && !w.drainOnly) {
        const buf = new ArrayBuffer(span + 8 * n);
        new Uint8Array(buf, 0, span).set(data.subarray(from, from + span));
        new Uint32Array(buf, span, 2 * n).set(index.subarray(0, 2 * n));
        msg = { buf, span, count: n };
      }
      // after the copy, never before: from here the producer may overwrite the span
      Atomics.store(consumerPos, 0, BigInt(cons));
      stats[STAT.EVENTS]! += n;
      stats[STAT.DISCARDED]! += discarded;
      stats[STAT.BYTES]! += span;
      stats[STAT.BATCHES]!++;
      // wall-clock ms (comparable across threads): when the first and the latest batch were read
      const now = performance.timeOrigin + performance.now();
      if (stats[STAT.FIRST_AT] === 0) stats[STAT.FIRST_AT] = now;
      stats[STAT.LAST_AT] = now;
      if (msg) {
        Atomics.add(ctl, CTL.INFLIGHT, 1);
        parentPort!.postMessage(msg, [msg.buf]);
      }
    }
  } finally {
    sys.close(ep);
  }
}

run();
