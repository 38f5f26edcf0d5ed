/**
 * kernelRules: the map rules FakeMap models, asked of a kernel directly.
 * Run on the fake and on the real kernel, this is what holds the fake to
 * the kernel's answers (errnos, partial batches, LPM matching and order).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BpfError } from '../../src/bpf/errors.ts';
import { BPF_EXIST, BPF_NOEXIST, numPossibleCpus } from '../../src/bpf/map.ts';
import { encodeRouteKey, u32Key } from '../../src/maps/codecs.ts';
import { ENOTSUPP } from './fake-kernel.ts';
import { using, type HarnessFactory } from './manager-harness.ts';

const SMALL = { maxInterfaces: 4, maxNextHops: 4, maxRoutes: 4 };

function errno(n: number, written?: number) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof BpfError, String(e));
    assert.equal(e.errno, n, e.message);
    if (written !== undefined) assert.equal((e as { written?: number }).written, written, 'written');
    return true;
  };
}

const rk = (vrf: number, addr: number[], plen: number) => encodeRouteKey({ vrf, addr: Buffer.from(addr), plen });
const rv = (plen: number, nh = 1) => {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(nh, 0);
  b[6] = plen;
  return b;
};

export function kernelRules(make: HarnessFactory): void {
  describe('kernel map rules', () => {
    it('hash: NOEXIST/EXIST flags, E2BIG when full, replace when full, delete of an absent key', using(make, (h) => {
      const m = h.kernel.inner.maps.vr_vifs;
      const v = Buffer.alloc(m.valueSize, 7);
      assert.throws(() => m.update(u32Key(100), v, BPF_EXIST), errno(2));
      for (let i = 0; i < 4; i++) m.update(u32Key(100 + i), v, BPF_NOEXIST);
      assert.throws(() => m.update(u32Key(100), v, BPF_NOEXIST), errno(17));
      assert.throws(() => m.update(u32Key(200), v), errno(7));
      assert.throws(() => m.update(u32Key(200), v, BPF_NOEXIST), errno(7));
      assert.throws(() => m.update(u32Key(200), v, BPF_EXIST), errno(2), 'ENOENT before "full"');
      assert.throws(() => m.update(u32Key(100), v, 3), errno(22));
      m.update(u32Key(101), Buffer.alloc(m.valueSize, 9));
      assert.deepEqual(m.lookup(u32Key(101)), Buffer.alloc(m.valueSize, 9));
      assert.equal(m.delete(u32Key(200)), false);
      assert.equal(m.lookup(u32Key(200)), undefined);
      assert.throws(() => m.updateBatch(Buffer.concat([u32Key(100), u32Key(300), u32Key(301)]), Buffer.alloc(3 * m.valueSize), 3), errno(7, 1));
      assert.throws(() => m.deleteBatch(Buffer.concat([u32Key(100), u32Key(300), u32Key(101)]), 3), errno(2, 1));
      assert.deepEqual([...m.entries()].map(([k]) => k.readUInt32LE(0)).sort(), [101, 102, 103], 'the key after the failure stays');
    }, SMALL));

    it('host route hash: vrf + address keys, E2BIG when full, a present key still replaced', using(make, (h) => {
      const m = h.kernel.inner.maps.vr_host4;
      assert.deepEqual([m.keySize, m.valueSize, h.kernel.inner.maps.vr_host6.keySize], [8, 12, 20]);
      const hk = (vrf: number, last: number) => rk(vrf, [10, 0, 0, last], 32).subarray(4);
      for (let i = 0; i < 4; i++) m.update(hk(1, i), rv(32), BPF_NOEXIST);
      assert.equal(m.lookup(hk(2, 0)), undefined, 'the vrf is part of the key');
      assert.throws(() => m.update(hk(2, 0), rv(32)), errno(7));
      m.update(hk(1, 0), rv(32, 9));
      assert.equal(m.lookup(hk(1, 0))?.readUInt32LE(0), 9);
      assert.throws(() => m.updateBatch(Buffer.concat([hk(1, 1), hk(3, 1)]), Buffer.concat([rv(32), rv(32)]), 2), errno(7, 1));
      assert.throws(() => m.deleteBatch(Buffer.concat([hk(1, 1), hk(3, 1)]), 2), errno(2, 1));
      assert.equal([...m.entries()].length, 3);
    }, SMALL));

    it('array: every slot exists, E2BIG past the end, EEXIST on NOEXIST, no delete', using(make, (h) => {
      const m = h.kernel.inner.maps.vr_nexthops;
      const v = Buffer.alloc(m.valueSize, 1);
      assert.throws(() => m.update(u32Key(4), v), errno(7));
      assert.throws(() => m.update(u32Key(9), v, BPF_NOEXIST), errno(7), 'E2BIG before EEXIST');
      assert.throws(() => m.update(u32Key(1), v, BPF_NOEXIST), errno(17));
      assert.throws(() => m.update(u32Key(1), v, 3), errno(22));
      m.update(u32Key(1), v, BPF_EXIST);
      assert.deepEqual(m.lookup(u32Key(1)), v);
      assert.deepEqual(m.lookup(u32Key(2)), Buffer.alloc(m.valueSize));
      assert.equal(m.lookup(u32Key(4)), undefined);
      assert.throws(() => m.delete(u32Key(1)), errno(22));
      assert.throws(() => m.delete(u32Key(9)), errno(22));
      assert.throws(() => m.deleteBatch(Buffer.concat([u32Key(1), u32Key(2)]), 2), errno(ENOTSUPP));
      assert.throws(() => m.updateBatch(Buffer.concat([u32Key(2), u32Key(3), u32Key(4)]), Buffer.alloc(3 * m.valueSize, 5), 3), errno(7, 2));
      assert.deepEqual(m.lookup(u32Key(3)), Buffer.alloc(m.valueSize, 5));
      assert.equal([...m.entries()].length, 4);
    }, SMALL));

    it('per-CPU array: one 8-aligned value per CPU, E2BIG past the end, no delete', using(make, (h) => {
      const s = h.kernel.inner.maps.vr_vif_stats;
      const d = h.kernel.inner.maps.vr_drops;
      assert.equal(s.valueBytes, 56 * numPossibleCpus());
      assert.equal(d.valueBytes, 8 * numPossibleCpus());
      assert.throws(() => s.update(u32Key(4), Buffer.alloc(s.valueBytes)), errno(7));
      assert.throws(() => s.update(u32Key(1), Buffer.alloc(s.valueBytes), BPF_NOEXIST), errno(17));
      assert.throws(() => s.delete(u32Key(1)), errno(22));
      const v = Buffer.alloc(s.valueBytes);
      v.writeBigUInt64LE(5n, s.valueBytes - 56); // the last CPU's rx_packets
      s.update(u32Key(2), v);
      assert.deepEqual(s.lookup(u32Key(2)), v);
      assert.equal(s.lookup(u32Key(4)), undefined);
    }, SMALL));

    it('LPM trie: longest match up to the key length, exact delete, host bits not compared', using(make, (h) => {
      const m = h.kernel.inner.maps.vr_rt4;
      m.update(rk(1, [10, 0, 0, 0], 8), rv(8), BPF_NOEXIST);
      assert.throws(() => m.update(rk(1, [10, 0, 0, 0], 8), rv(8), BPF_NOEXIST), errno(17));
      assert.throws(() => m.update(rk(1, [10, 1, 0, 0], 16), rv(16), BPF_EXIST), errno(2), 'a covered prefix is absent');
      assert.equal(m.lookup(rk(1, [10, 1, 0, 0], 16))?.[6], 8, 'the covering route answers');
      assert.equal(m.lookup(rk(1, [10, 0, 0, 0], 4)), undefined, 'nothing longer than the key');
      assert.equal(m.lookup(rk(2, [10, 1, 0, 0], 16)), undefined, 'the vrf is part of the prefix');
      assert.equal(m.delete(rk(1, [10, 1, 0, 0], 16)), false, 'delete is exact');
      m.update(rk(1, [10, 1, 2, 3], 16), rv(16));
      assert.equal(m.lookup(rk(1, [10, 1, 9, 9], 32))?.[6], 16);
      assert.throws(() => m.update(rk(1, [10, 1, 0, 0], 16), rv(16), BPF_NOEXIST), errno(17), 'host bits are not part of the key');
      assert.equal(m.delete(rk(1, [10, 1, 0, 0], 16)), true);
      assert.equal(m.lookup(rk(1, [10, 1, 9, 9], 32))?.[6], 8);
      const tooLong = rk(1, [10, 0, 0, 0], 8);
      tooLong.writeUInt32LE(65, 0);
      assert.throws(() => m.update(tooLong, rv(8)), errno(22));
      assert.equal(m.lookup(tooLong), undefined);
      const v6 = h.kernel.inner.maps.vr_rt6;
      v6.update(encodeRouteKey({ vrf: 1, addr: Buffer.from('fd000000000000000000000000000000', 'hex'), plen: 8 }), rv(8));
      assert.equal(v6.lookup(encodeRouteKey({ vrf: 1, addr: Buffer.from('fd000000000000000000000000000001', 'hex'), plen: 128 }))?.[6], 8);
    }, SMALL));

    it('LPM trie: ENOSPC when full, a present prefix still replaced; batches stop at the first error', using(make, (h) => {
      const m = h.kernel.inner.maps.vr_rt4;
      m.updateBatch(Buffer.concat([rk(2, [10, 0, 0, 0], 16), rk(2, [10, 1, 0, 0], 16), rk(2, [10, 2, 0, 0], 16)]), Buffer.concat([rv(16), rv(16), rv(16)]), 3);
      assert.throws(
        () => m.updateBatch(Buffer.concat([rk(3, [1, 0, 0, 0], 8), rk(3, [2, 0, 0, 0], 8), rk(3, [3, 0, 0, 0], 8)]), Buffer.concat([rv(8), rv(8), rv(8)]), 3),
        errno(28, 1),
      );
      assert.equal(m.lookup(rk(3, [1, 0, 0, 0], 8))?.[6], 8, 'the entry before the failure was written');
      assert.throws(() => m.update(rk(4, [1, 0, 0, 0], 8), rv(8)), errno(28));
      m.update(rk(2, [10, 0, 0, 0], 16), rv(16, 9));
      assert.equal(m.lookup(rk(2, [10, 0, 0, 0], 16))?.readUInt32LE(0), 9);
      assert.throws(() => m.deleteBatch(Buffer.concat([rk(2, [10, 0, 0, 0], 16), rk(9, [1, 0, 0, 0], 8), rk(2, [10, 1, 0, 0], 16)]), 3), errno(2, 1));
      assert.equal(m.lookup(rk(2, [10, 0, 0, 0], 16)), undefined);
      assert.equal(m.lookup(rk(2, [10, 1, 0, 0], 16))?.[6], 16, 'the entries after the failure stay');
    }, SMALL));

    it('LPM trie: iteration is post-order (longer prefixes before the ones covering them)', using(make, (h) => {
      const m = h.kernel.inner.maps.vr_rt4;
      const keys = [rk(1, [10, 0, 0, 0], 8), rk(1, [10, 1, 0, 0], 16), rk(0, [192, 168, 0, 0], 16), rk(1, [10, 0, 128, 0], 17)];
      for (const k of keys) m.update(k, rv(k.readUInt32LE(0) - 32));
      assert.deepEqual(
        [...m.entries()].map(([k]) => k.toString('hex')),
        [keys[2]!, keys[3]!, keys[1]!, keys[0]!].map((k) => k.toString('hex')),
      );
    }, SMALL));
  });
}
