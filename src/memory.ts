/**
 * MemoryReclaimer: gives memory back after bulk writes. A 1M-route batch
 * decodes into millions of short-lived objects; V8 keeps the heap it grew
 * for them (RSS stayed at 0.4-1 GiB with the table empty after a few
 * add/delete cycles). Once writes have been quiet for a moment, one full
 * collection lets V8 shrink the heap, and malloc_trim returns what glibc
 * kept of the freed request buffers (most of the RSS beyond V8's heap).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';
import { sys } from './bpf/libbpf.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (opts?: { type: 'major'; execution: 'sync' }) => void;

export class MemoryReclaimer {
  private timer: NodeJS.Timeout | undefined;
  private readonly quietMs: number;
  private readonly log: Logger;

  constructor(log: Logger, quietMs = 300) {
    this.log = log;
    this.quietMs = quietMs;
  }

  /** bulkDone: a large write finished; collect once no other has come for quietMs. */
  bulkDone(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.collect(), this.quietMs);
    this.timer.unref();
  }

  collect(): void {
    this.timer = undefined;
    const before = process.memoryUsage();
    const t0 = performance.now();
    gc();
    sys.malloc_trim(0);
    const after = process.memoryUsage();
    this.log.debug(
      {
        ms: +(performance.now() - t0).toFixed(1),
        rssMiB: [mib(before.rss), mib(after.rss)],
        heapMiB: [mib(before.heapTotal), mib(after.heapTotal)],
        externalMiB: [mib(before.external), mib(after.external)],
        arrayBuffersMiB: [mib(before.arrayBuffers), mib(after.arrayBuffers)],
      },
      'heap collected after a bulk write',
    );
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

const mib = (n: number) => Math.round(n / 1048576);
