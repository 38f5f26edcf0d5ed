/**
 * The manager's multi-entry writes against real maps, with one kernel
 * failure injected: what was written before the failure is undone, the
 * model is untouched, and the error is a status, not a crash.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { openTestDatapath } from '../helpers/datapath.ts';
import { BpfError } from '../../src/bpf/errors.ts';
import { BpfMap } from '../../src/bpf/map.ts';
import { DatapathError } from '../../src/manager/errors.ts';
import { RT4_KEY_SIZE, RT_VALUE_SIZE } from '../../src/maps/codecs.ts';

let t: ReturnType<typeof openTestDatapath>;

before(() => {
  privateNetns();
  t = openTestDatapath();
  t.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
});
after(() => t.dispose());

/** failAfter: makes vr_rt4's next batch write `k` entries for real, then fail like the kernel would. */
function failAfter(k: number, errno: number): () => void {
  const map = t.dp.maps.vr_rt4;
  const real = BpfMap.prototype.updateBatch;
  map.updateBatch = function (keys: Buffer, values: Buffer) {
    for (let i = 0; i < k; i++)
      this.update(keys.subarray(i * RT4_KEY_SIZE, (i + 1) * RT4_KEY_SIZE), values.subarray(i * RT_VALUE_SIZE, (i + 1) * RT_VALUE_SIZE));
    throw Object.assign(new BpfError('bpf_map_update_batch', 'vr_rt4', errno), { written: k });
  };
  return () => {
    map.updateBatch = real;
  };
}

const batch = (n: number) => Array.from({ length: n }, (_, i) => ({ vrf: 1, prefix: `10.9.${i}.0/24`, nextHopId: 1, proxyArp: false }));

describe('manager writes', () => {
  it('a batch that fails half-way is undone in the kernel and in the model', () => {
    const restore = failAfter(5, 12 /* ENOMEM */);
    try {
      assert.throws(() => t.mgr.addRoutes(batch(10)), (e: unknown) => e instanceof DatapathError && e.code === 'resource_exhausted');
    } finally {
      restore();
    }
    assert.equal(t.dp.maps.vr_rt4.count(), 0, 'no route left in the kernel map');
    assert.equal(t.mgr.listRoutes().length, 0, 'no route in the model');
    assert.equal(t.mgr.refCount(1), 0, 'next hop not referenced');
  });

  it('an unexpected kernel error becomes INTERNAL and is undone too', () => {
    const restore = failAfter(3, 22 /* EINVAL */);
    try {
      assert.throws(() => t.mgr.addRoutes(batch(4)), (e: unknown) => e instanceof DatapathError && e.code === 'internal' && /EINVAL/.test(e.message));
    } finally {
      restore();
    }
    assert.equal(t.dp.maps.vr_rt4.count(), 0);
  });

  it('the same batch then goes through whole, and the kernel holds exactly it', () => {
    assert.equal(t.mgr.addRoutes(batch(10)).length, 10);
    assert.equal(t.dp.maps.vr_rt4.count(), 10);
    assert.equal(t.mgr.refCount(1), 10);
    assert.equal(t.mgr.deleteRoutes(batch(10).map(({ vrf, prefix }) => ({ vrf, prefix }))), 10);
    assert.equal(t.dp.maps.vr_rt4.count(), 0);
  });

  it('a restarted manager rebuilds the same model from the maps', async () => {
    t.mgr.addRoutes(batch(3));
    t.mgr.addRoute({ vrf: 1, prefix: 'fd00:9::/64', nextHopId: 1, proxyArp: true });
    for (const i of [1, 2, 3]) {
      vethPair(`w${i}`, `x${i}`);
      t.mgr.addInterface({
        index: i * 10, type: i === 1 ? 'fabric' : 'virtual', name: `w${i}`, vrf: i, mac: '', ipv4: `10.0.0.${i}`, ipv6: i === 2 ? 'fd00::2' : '',
        mtu: 1400 + i, policyEnabled: i === 3, disabled: i === 2, attachMode: i === 3 ? 'generic' : undefined,
      });
    }
    t.mgr.addNextHop({ id: 7, vrf: 2, kind: 'encap', encap: { vifIndex: 20, dstMac: '02:00:00:00:00:07', srcMac: '' } });
    const { DatapathManager } = await import('../../src/manager/datapath-manager.ts');
    const { pino } = await import('pino');
    const again = new DatapathManager(t.dp, t.mgr.limits, pino({ level: 'silent' }));
    again.load();
    assert.deepEqual(again.listInterfaces(), t.mgr.listInterfaces());
    assert.deepEqual(again.listRoutes(), t.mgr.listRoutes());
    assert.deepEqual(again.listNextHops(), t.mgr.listNextHops());
    assert.equal(again.refCount(1), 4); // three IPv4 routes and one IPv6
  });
});
