/**
 * The manager's multi-entry writes against real maps, with one kernel
 * failure injected: what was written before the failure is undone, the
 * daemon's own counts are untouched, and the error is a status, not a crash.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { openTestDatapath } from '../helpers/datapath.ts';
import { encapNh, route, routeKey, vif } from '../helpers/specs.ts';
import { BpfError } from '../../src/bpf/errors.ts';
import { BpfMap } from '../../src/bpf/map.ts';
import { DatapathError } from '../../src/manager/errors.ts';
import { DatapathManager } from '../../src/manager/datapath-manager.ts';
import { kernelOf } from '../../src/maps/kernel.ts';
import { RT4_KEY_SIZE, RT_VALUE_SIZE } from '../../src/maps/codecs.ts';

let t: ReturnType<typeof openTestDatapath>;

before(async () => {
  privateNetns();
  t = openTestDatapath();
  await t.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
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

const batch = (n: number) => Array.from({ length: n }, (_, i) => route(1, `10.9.${i}.0/24`, 1));
const all = (m: DatapathManager) => [...m.routes.list()].flat();

describe('manager writes', () => {
  it('a batch that fails half-way is undone in the kernel and in the counts', async () => {
    const restore = failAfter(5, 12 /* ENOMEM */);
    try {
      await assert.rejects(t.mgr.addRoutes(batch(10)), (e: unknown) => e instanceof DatapathError && e.code === 'resource_exhausted');
    } finally {
      restore();
    }
    assert.equal(t.dp.maps.vr_rt4.count(), 0, 'no route left in the kernel map');
    assert.equal(t.mgr.routes.count(4), 0, 'no route counted');
    assert.equal(t.mgr.nhs.refCount(1), 0, 'next hop not referenced');
  });

  it('an unexpected kernel error becomes INTERNAL and is undone too', async () => {
    const restore = failAfter(3, 22 /* EINVAL */);
    try {
      await assert.rejects(t.mgr.addRoutes(batch(4)), (e: unknown) => e instanceof DatapathError && e.code === 'internal' && /EINVAL/.test(e.message));
    } finally {
      restore();
    }
    assert.equal(t.dp.maps.vr_rt4.count(), 0);
  });

  it('a mixed IPv4 + IPv6 batch whose IPv6 part fails leaves no IPv4 route behind', async () => {
    const map = t.dp.maps.vr_rt6;
    const real = map.updateBatch;
    map.updateBatch = () => {
      throw Object.assign(new BpfError('bpf_map_update_batch', 'vr_rt6', 28 /* ENOSPC */), { written: 0 });
    };
    try {
      await assert.rejects(t.mgr.addRoutes([...batch(3), route(1, 'fd00:9::/64', 1), route(1, 'fd00:8::/64', 1)]), (e: unknown) => e instanceof DatapathError && e.code === 'resource_exhausted');
    } finally {
      map.updateBatch = real;
    }
    assert.equal(t.dp.maps.vr_rt4.count(), 0, 'the IPv4 routes written first were removed');
    assert.equal(t.mgr.routes.count(4), 0);
    assert.equal(t.mgr.nhs.refCount(1), 0);
  });

  it('a delete batch that fails half-way puts the deleted routes back', async () => {
    await t.mgr.addRoutes(batch(6));
    const map = t.dp.maps.vr_rt4;
    const real = map.deleteBatch;
    map.deleteBatch = function (keys: Buffer) {
      for (let i = 0; i < 2; i++) this.delete(keys.subarray(i * RT4_KEY_SIZE, (i + 1) * RT4_KEY_SIZE));
      throw Object.assign(new BpfError('bpf_map_delete_batch', 'vr_rt4', 22), { written: 2 });
    };
    try {
      await assert.rejects(t.mgr.deleteRoutes(batch(6).map((r) => ({ vrf: r.vrf, addr: r.addr, plen: r.plen }))));
    } finally {
      map.deleteBatch = real;
    }
    assert.equal(map.count(), 6, 'every route is back');
    assert.equal(t.mgr.routes.count(4), 6);
    assert.equal(t.mgr.nhs.refCount(1), 6);
    assert.equal(await t.mgr.deleteRoutes(batch(6).map((r) => routeKey(1, `${[...r.addr].join('.')}/24`))), 6);
    assert.equal(map.count(), 0);
  });

  it('the same batch then goes through whole, and the kernel holds exactly it', async () => {
    assert.equal(await t.mgr.addRoutes(batch(10)), 10);
    assert.equal(t.dp.maps.vr_rt4.count(), 10);
    assert.equal(t.mgr.nhs.refCount(1), 10);
    assert.equal(await t.mgr.deleteRoutes(batch(10)), 10);
    assert.equal(t.dp.maps.vr_rt4.count(), 0);
  });

  it('a restarted manager rebuilds the same state from the maps', async () => {
    await t.mgr.addRoutes([...batch(3), route(1, 'fd00:9::/64', 1, true)]);
    for (const i of [1, 2, 3]) {
      vethPair(`w${i}`, `x${i}`);
      await t.mgr.addInterface(
        vif({
          index: i * 10, type: i === 1 ? 'fabric' : 'virtual', name: `w${i}`, vrf: i, ip4: `10.0.0.${i}`, ip6: i === 2 ? 'fd00::2' : '',
          mtu: 1400 + i, policyEnabled: i === 3, disabled: i === 2, attachMode: i === 3 ? 'generic' : undefined,
        }),
      );
    }
    await t.mgr.addNextHop(encapNh(7, 2, 20, '02:00:00:00:00:07'));
    const again = new DatapathManager(kernelOf(t.dp), { maxVrfs: 4096 }, pino({ level: 'silent' }));
    await again.load();
    assert.deepEqual(again.vifs.list(), t.mgr.vifs.list());
    assert.deepEqual(all(again), all(t.mgr));
    assert.deepEqual([...again.nhs.ids()].map((id) => again.nhs.get(id)), [...t.mgr.nhs.ids()].map((id) => t.mgr.nhs.get(id)));
    assert.equal(again.nhs.refCount(1), 4); // three IPv4 routes and one IPv6
    assert.deepEqual(again.nhs.usersOf(20), [7]);
  });
});
