/**
 * What the ring buffer reader's two threads share: the setup the worker
 * gets, the slots of the shared control and statistics arrays, and the
 * message that carries one batch (see ringbuf-worker.ts).
 */

/** slots of the shared Int32Array control block */
export const CTL = { STOP: 0, INFLIGHT: 1, SLOTS: 2 } as const;
/** slots of the shared Float64Array of counters (the worker writes, anyone reads) */
export const STAT = { EVENTS: 0, DISCARDED: 1, BYTES: 2, BATCHES: 3, WAITS: 4, FIRST_AT: 5, LAST_AT: 6, SLOTS: 7 } as const;

export interface WorkerSetup {
  mapFd: number;
  wakeFd: number;
  consumerPtr: bigint;
  producerPtr: bigint;
  pageSize: number;
  /** the ring's data size (max_entries): a power of 2, a multiple of the page size */
  size: number;
  batchMax: number;
  batchBytes: number;
  inflightMax: number;
  drainOnly: boolean;
  control: SharedArrayBuffer;
  stats: SharedArrayBuffer;
}

/**
 * BatchMessage: `span` bytes of the ring as they were (8-byte headers,
 * discarded records included), then `count` pairs of u32 [offset of the
 * record's data in the span, its length]: the records kept, in order.
 */
export interface BatchMessage {
  buf: ArrayBuffer;
  span: number;
  count: number;
}
