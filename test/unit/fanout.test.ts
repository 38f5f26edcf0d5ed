/**
 * Fanout: each watcher's queue is bounded; a watcher that does not read
 * loses its own events (counted, with a loss record in its stream), never
 * another watcher's, and publish never waits.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Fanout, type Batch, type WatchItem } from '../../src/events/fanout.ts';

/** a batch of consecutive numbers [from, from + count) */
class Seq implements Batch {
  readonly from: number;
  readonly count: number;
  constructor(from: number, count: number) {
    this.from = from;
    this.count = count;
  }
  slice(start: number, end = this.count): this {
    return new Seq(this.from + start, Math.min(end, this.count) - start) as this;
  }
}

async function drain(it: AsyncIterable<WatchItem<Seq>>): Promise<WatchItem<Seq>[]> {
  const out: WatchItem<Seq>[] = [];
  for await (const item of it) out.push(item);
  return out;
}

describe('Fanout', () => {
  it('a watcher that never reads loses exactly what did not fit; a reading one gets everything', async () => {
    const f = new Fanout<Seq>();
    const slow = f.subscribe({ max: 10 });
    const fast = f.subscribe({ max: 10 });
    const got: number[] = [];
    const reading = (async () => {
      for await (const item of fast) if (item.kind === 'events') for (let i = 0; i < item.batch.count; i++) got.push(item.batch.from + i);
    })();
    for (let from = 0; from < 100; from += 4) {
      f.publish(new Seq(from, 4));
      await new Promise((r) => setImmediate(r));
    }
    f.end();
    await reading;
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
    assert.equal(fast.lost, 0);
    assert.equal(slow.lost, 90);
    assert.equal(slow.queued, 10);
    // its stream: the 10 that fitted (the third batch cut to 2), then one loss record in their place
    const items = await drain(slow);
    assert.deepEqual(items.map((x) => (x.kind === 'events' ? [x.batch.from, x.batch.count] : ['lost', x.count])), [[0, 4], [4, 4], [8, 2], ['lost', 90]]);
    assert.equal(slow.received, 10);
  });

  it('losses between delivered batches are reported where they happened', async () => {
    const f = new Fanout<Seq>();
    const w = f.subscribe({ max: 3 });
    f.publish(new Seq(0, 5)); // 3 in, 2 lost
    const first = await w.next();
    assert.deepEqual(first.value, { kind: 'events', batch: new Seq(0, 3) });
    f.publish(new Seq(5, 2)); // fits
    f.publish(new Seq(7, 4)); // 1 in, 3 lost: added to no earlier record (events came between)
    f.end();
    const rest = await drain(w);
    assert.deepEqual(rest.map((x) => (x.kind === 'events' ? [x.batch.from, x.batch.count] : ['lost', x.count])), [['lost', 2], [5, 2], [7, 1], ['lost', 3]]);
    assert.equal(w.lost, 5);
  });

  it('a pending read is answered by the next publish, and ends on end()', async () => {
    const f = new Fanout<Seq>();
    const w = f.subscribe({ max: 100 });
    const pending = w.next();
    f.publish(new Seq(0, 7));
    assert.equal((await pending).value?.kind, 'events');
    const waiting = w.next();
    f.end();
    assert.deepEqual(await waiting, { value: undefined, done: true });
  });

  it('end(err) fails pending reads; leaving a loop unsubscribes', async () => {
    const f = new Fanout<Seq>();
    const a = f.subscribe();
    const b = f.subscribe();
    f.publish(new Seq(0, 1));
    for await (const _ of b) break;
    assert.equal(f.size, 1);
    await a.next();
    const waiting = a.next();
    f.end(new Error('reader failed'));
    await assert.rejects(waiting, /reader failed/);
    await assert.rejects(f.subscribe().next(), /reader failed/, 'a late subscriber fails too');
  });

  it('refuses a queue of no room', () => {
    assert.throws(() => new Fanout<Seq>().subscribe({ max: 0 }), RangeError);
  });
});
