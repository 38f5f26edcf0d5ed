/**
 * RingbufReader / EventStream on the real kernel: records written by
 * bpf/tools/ringbuf_gen.c (sequence numbered, variable sizes, discarded
 * reservations between them) reach watchers exactly once and in order,
 * across many wraparounds of a small ring; a watcher that never reads loses
 * an exact count while another gets everything; close() ends iteration and
 * the worker; the main event loop keeps running while 1M events flow.
 * No packet leaves the test runs, so no network namespace is needed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RingbufGen, type GenShape } from '../helpers/ringbuf-gen.ts';
import { RingbufReader, type EventBatch } from '../../src/bpf/ringbuf.ts';
import { EventStream } from '../../src/events/event-stream.ts';
import type { Watcher } from '../../src/events/fanout.ts';
import { sys } from '../../src/bpf/libbpf.ts';

const PIN_DIR = `/sys/fs/bpf/vrouter-ebpf-test-ringbuf-${process.pid}`;
after(() => rmSync(PIN_DIR, { recursive: true, force: true }));

/** Checker: the records of a watcher's batches, checked against what the generator wrote. */
class Checker {
  next = 0;
  errors: string[] = [];
  check(b: EventBatch): void {
    const dv = new DataView(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength);
    for (let i = 0; i < b.count; i++) {
      const off = b.offset(i);
      const len = b.length(i);
      const seq = Number(dv.getBigUint64(off, true));
      const size = dv.getUint32(off + 8, true);
      const tail = Number(dv.getBigUint64(off + len - 8, true));
      if ((seq !== this.next || size !== len || tail !== seq) && this.errors.length < 5)
        this.errors.push(`expected seq ${this.next}: seq ${seq} size ${size} len ${len} tail ${tail}`);
      this.next = seq + 1;
    }
  }
}

async function collect(w: Watcher<EventBatch>, total: number, c: Checker): Promise<number> {
  let lostSeen = 0;
  for await (const item of w) {
    if (item.kind === 'lost') lostSeen += item.count;
    else c.check(item.batch);
    if (c.next >= total) break;
  }
  return lostSeen;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
    }),
  ]);
}

describe('ring buffer reader', () => {
  it('delivers every record once, in order, across wraparounds, skipping discarded ones', async () => {
    const gen = RingbufGen.load(1 << 16); // 64 KiB: ~100 wraparounds below
    const stream = EventStream.open(gen.mapFd, { batchMax: 512 });
    try {
      const total = 200_000;
      const shape: GenShape = { minSize: 20, maxSize: 700, discardEvery: 5 };
      const c = new Checker();
      const w = stream.subscribe({ max: 1 << 20 });
      const reading = collect(w, total, c);
      const wrote = await gen.writeAll(total, shape, 4096);
      const lost = await within(reading, 20_000, 'reading');
      assert.deepEqual(c.errors, []);
      assert.equal(c.next, total);
      assert.equal(lost, 0);
      assert.equal(w.lost, 0);
      const s = stream.stats();
      assert.equal(s.events, total);
      assert.equal(s.discarded, wrote.discarded);
      assert.ok(wrote.discarded >= total / 5, `discarded ${wrote.discarded}`);
      assert.ok(s.bytes > 100 * (1 << 16), `the ring wrapped many times (${s.bytes} bytes)`);
    } finally {
      await stream.close();
      gen.close();
    }
  });

  it('a watcher that never reads loses an exact count; a reading watcher still gets all', async () => {
    const gen = RingbufGen.load(1 << 20);
    const stream = EventStream.open(gen.mapFd);
    try {
      const total = 100_000;
      const slow = stream.subscribe({ max: 1000 });
      const c = new Checker();
      const reading = collect(stream.subscribe({ max: 1 << 20 }), total, c);
      await gen.writeAll(total, { minSize: 64 });
      await within(reading, 20_000, 'reading');
      assert.deepEqual(c.errors, []);
      assert.equal(c.next, total);
      assert.equal(slow.queued, 1000);
      assert.equal(slow.lost, total - 1000);
      // its stream: the first 1000 records, then one loss record of the rest
      const late = new Checker();
      let lostRecord = 0;
      await stream.close();
      for await (const item of slow) {
        if (item.kind === 'events') late.check(item.batch);
        else lostRecord += item.count;
      }
      assert.deepEqual(late.errors, []);
      assert.equal(late.next, 1000);
      assert.equal(lostRecord, total - 1000);
    } finally {
      await stream.close();
      gen.close();
    }
  });

  it('close() wakes the idle worker, ends every watcher and unmaps; it is idempotent', async () => {
    const gen = RingbufGen.load(1 << 16);
    const stream = EventStream.open(gen.mapFd);
    const w = stream.subscribe();
    gen.write(10, { minSize: 32 });
    const first = await within(w.next(), 5000, 'first batch');
    assert.equal(first.value?.kind, 'events');
    await new Promise((r) => setTimeout(r, 50)); // the worker is now asleep in epoll_wait
    const pending = w.next();
    const t0 = performance.now();
    await within(stream.close(), 2000, 'close');
    assert.ok(performance.now() - t0 < 1000);
    assert.deepEqual(await pending, { value: undefined, done: true });
    await stream.close();
    assert.deepEqual(await stream.subscribe().next(), { value: undefined, done: true });
    gen.close();
  });

  it('opens a pinned map by path and refuses a map that is not a ring buffer', async () => {
    const gen = RingbufGen.load(1 << 16);
    mkdirSync(PIN_DIR, { recursive: true });
    const pin = join(PIN_DIR, 'rbg_ring');
    assert.equal(sys.bpf_obj_pin(gen.mapFd, pin), 0);
    let got = 0;
    const reader = RingbufReader.open(pin, { onBatch: (b) => (got += b.count) });
    gen.write(100, { minSize: 40 });
    const t0 = performance.now();
    while (got < 100 && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
    await reader.close();
    assert.equal(got, 100);
    assert.throws(() => RingbufReader.open(join(PIN_DIR, 'missing')), { code: 'ENOENT' });
    assert.throws(() => RingbufReader.open(gen.scratchFd), /not a ring buffer/);
    gen.close();
  });

  it('keeps the main event loop free while 1M events flow', async () => {
    const gen = RingbufGen.load(1 << 22);
    const stream = EventStream.open(gen.mapFd);
    let ticks = 0;
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    try {
      const total = 1_000_000;
      const c = new Checker();
      const reading = collect(stream.subscribe({ max: 1 << 20 }), total, c);
      const t0 = performance.now();
      await gen.writeAll(total, { minSize: 64 }, 8192);
      await within(reading, 30_000, 'reading');
      const ms = performance.now() - t0;
      assert.deepEqual(c.errors, []);
      assert.equal(c.next, total);
      // the generator runs on this thread in runs of 8192 records (~1 ms each); the timer must keep firing
      assert.ok(ticks >= ms / 5 / 4, `${ticks} ticks in ${ms.toFixed(0)} ms`);
      assert.ok(maxGap < 250, `longest gap between ticks ${maxGap.toFixed(1)} ms`);
    } finally {
      clearInterval(timer);
      await stream.close();
      gen.close();
    }
  });
});
