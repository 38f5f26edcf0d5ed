/**
 * HoldQueue: frames kept per hold in arrival order, bounded per hold, in
 * frames and in bytes (what does not fit is refused, the hold still made);
 * holds expire oldest first after the timeout; a settled hold's late
 * records follow its outcome for a while; a new hold id for a held key
 * replaces the old hold.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HoldQueue, type AddResult } from '../../src/flows/hold-queue.ts';
import { decodeMiss, encodeMiss, type MissInit, type MissRecord } from '../../src/flows/miss-record.ts';
import { encodeFlowKey } from '../../src/flows/flow-bytes.ts';
import { LIVE_FRAME_MAX } from '../../src/flows/reinject.ts';
import { FakeClock, flowKey } from '../helpers/flows.ts';

const K1 = flowKey('10.1.1.2', '10.1.2.5');
const K2 = flowKey('10.1.1.2', '10.1.2.6');

function rec(m: Partial<MissInit> & { holdId: bigint }): MissRecord {
  const r = decodeMiss(encodeMiss({ ifindex: 7, key: K1, frame: Buffer.alloc(100, Number(m.holdId & 0xffn)), ...m }));
  assert.ok(r);
  return r;
}

function held(r: AddResult): Extract<AddResult, { kind: 'held' }> {
  assert.equal(r.kind, 'held');
  return r as Extract<AddResult, { kind: 'held' }>;
}

describe('HoldQueue', () => {
  it('keeps a hold\'s frames in arrival order, whatever order the ring gave them', () => {
    const q = new HoldQueue();
    const a = held(q.add(rec({ holdId: 1n, isNew: false, tsNs: 30n, frame: Buffer.from('third') })));
    assert.equal(a.created, true);
    held(q.add(rec({ holdId: 1n, isNew: true, tsNs: 10n, frame: Buffer.from('first') })));
    const c = held(q.add(rec({ holdId: 1n, isNew: false, tsNs: 20n, frame: Buffer.from('second') })));
    assert.equal(c.created, false);
    assert.equal(c.hold.reported, true);
    assert.deepEqual(c.hold.frames.map((f) => f.frame.toString()), ['first', 'second', 'third']);
    assert.deepEqual([q.holds, q.frames, q.bytes], [1, 3, 16]);
    const h = q.take(encodeFlowKey(K1), 'reinject');
    assert.equal(h?.frames.length, 3);
    assert.deepEqual([q.holds, q.frames, q.bytes], [0, 0, 0]);
  });

  it('refuses frames past the bound per hold, in frames and in bytes; the hold is made all the same', () => {
    const q = new HoldQueue({ maxPerHold: 2, maxFrames: 3, maxBytes: 350 });
    assert.equal(held(q.add(rec({ holdId: 1n }))).refused, undefined);
    assert.equal(held(q.add(rec({ holdId: 1n, isNew: false }))).refused, undefined);
    assert.equal(held(q.add(rec({ holdId: 1n, isNew: false }))).refused, 'full', 'per hold');
    assert.equal(held(q.add(rec({ holdId: 2n, key: K2 }))).refused, undefined);
    const k3 = flowKey('10.1.1.2', '10.1.2.7');
    const full = held(q.add(rec({ holdId: 3n, key: k3 })));
    assert.deepEqual([full.refused, full.created], ['full', true], 'frames, all holds');
    assert.equal(q.frames, 3);
    q.take(encodeFlowKey(K2), 'discard');
    const big = held(q.add(rec({ holdId: 3n, key: k3, isNew: false, frame: Buffer.alloc(200) })));
    assert.equal(big.refused, 'full', 'bytes: 200 + 200 held > 350');
    assert.equal(held(q.add(rec({ holdId: 3n, key: k3, isNew: false, frame: Buffer.alloc(150) }))).refused, undefined);
  });

  it('refuses a frame longer than re-injection can send', () => {
    const q = new HoldQueue();
    assert.equal(q.maxFrame, LIVE_FRAME_MAX);
    assert.equal(held(q.add(rec({ holdId: 1n, frame: Buffer.alloc(LIVE_FRAME_MAX) }))).refused, undefined);
    assert.equal(held(q.add(rec({ holdId: 1n, isNew: false, frame: Buffer.alloc(LIVE_FRAME_MAX + 1) }))).refused, 'too_big');
  });

  it('holds no frame the datapath did not consume, nor a cut one', () => {
    const q = new HoldQueue();
    const r = held(q.add(rec({ holdId: 1n, held: false })));
    assert.equal(r.hold.frames.length, 0);
    held(q.add(rec({ holdId: 1n, isNew: false, pktLen: 1500 })));
    assert.equal(q.frames, 0, 'cap_len < pkt_len: not re-injectable');
  });

  it('expires holds older than the timeout, oldest first; nextExpiry follows the oldest', () => {
    const clock = new FakeClock();
    const q = new HoldQueue({ timeoutMs: 5000, now: clock.now });
    q.add(rec({ holdId: 1n }));
    clock.advance(1000);
    q.add(rec({ holdId: 2n, key: K2 }));
    assert.equal(q.nextExpiry(), clock.ns - 1_000_000_000n + 5_000_000_000n);
    clock.advance(3999);
    assert.deepEqual(q.expire(), []);
    clock.advance(1);
    assert.deepEqual(q.expire().map((h) => h.holdId), [1n]);
    // a late record of the expired hold expires too, it does not make a new hold
    assert.deepEqual(q.add(rec({ holdId: 1n, isNew: false })), { kind: 'late', outcome: 'expired' });
    clock.advance(1000);
    assert.deepEqual(q.expire().map((h) => h.holdId), [2n]);
    assert.equal(q.nextExpiry(), undefined);
  });

  it('setLimits (a SIGHUP reload): held holds take the new timeout; the frame limit applies to the next frame', () => {
    const clock = new FakeClock();
    const q = new HoldQueue({ timeoutMs: 5000, maxFrames: 10, now: clock.now });
    q.add(rec({ holdId: 1n }));
    clock.advance(2000);
    assert.deepEqual(q.expire(), []);
    q.setLimits({ timeoutMs: 1000, maxFrames: 1 });
    assert.deepEqual(q.expire().map((h) => h.holdId), [1n], 'older than the new 1 s');
    assert.equal(held(q.add(rec({ holdId: 2n, key: K2 }))).refused, undefined);
    assert.equal(held(q.add(rec({ holdId: 2n, key: K2, isNew: false }))).refused, 'full', 'one frame held at most now');
  });

  it('late records of a settled hold follow its outcome until the tombstone goes', () => {
    const clock = new FakeClock();
    const q = new HoldQueue({ tombstoneMs: 2000, now: clock.now });
    q.add(rec({ holdId: 9n }));
    q.take(encodeFlowKey(K1), 'reinject');
    assert.deepEqual(q.add(rec({ holdId: 9n, isNew: false })), { kind: 'late', outcome: 'reinject' });
    q.settleId(10n, 'discard');
    assert.deepEqual(q.add(rec({ holdId: 10n, key: K2, isNew: false })), { kind: 'late', outcome: 'discard' });
    clock.advance(2000);
    const r = held(q.add(rec({ holdId: 9n, isNew: false })));
    assert.equal(r.created, true, 'after the tombstone: a hold of its own again (it expires in time)');
  });

  it('a new hold id for a held key replaces the old hold', () => {
    const q = new HoldQueue();
    q.add(rec({ holdId: 1n }));
    q.add(rec({ holdId: 1n, isNew: false }));
    const r = held(q.add(rec({ holdId: 2n })));
    assert.equal(r.replaced?.holdId, 1n);
    assert.equal(r.replaced?.frames.length, 2);
    assert.deepEqual([q.holds, q.frames, q.has(1n), q.has(2n)], [1, 1, false, true]);
  });
});
