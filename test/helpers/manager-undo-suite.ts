/**
 * managerUndo: every change that spans entries or maps, failed at a chosen
 * step, leaves every map exactly as before (full dumps compared); a
 * transaction succeeds whatever the order of its operations.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BpfError } from '../../src/bpf/errors.ts';
import type { Op } from '../../src/manager/model.ts';
import { encodeRouteKey } from '../../src/maps/codecs.ts';
import { encapNh, route, routeKey, vif } from './specs.ts';
import { dump, is, state, statusOf, using, type Harness, type HarnessFactory } from './manager-harness.ts';

const EIO = 5;
const ENOMEM = 12;
const EINVAL = 22;
const ENOSPC = 28;
const EOPNOTSUPP = 95;

const v4 = (n: number, nh = 1, vrf = 1) => Array.from({ length: n }, (_, i) => route(vrf, `10.${100 + (i >> 8)}.${i & 255}.0/24`, nh));

/** unchanged: runs fn (which must fail) and checks the datapath and the manager are as before. */
async function unchanged(h: Harness, fn: () => Promise<unknown>, check: (e: unknown) => boolean): Promise<void> {
  const before = dump(h);
  const st = state(h);
  await assert.rejects(fn(), check);
  assert.deepEqual(dump(h), before, 'every map as before');
  assert.deepEqual(state(h), st, 'the manager as before');
}

const internal = (e: unknown) => statusOf(e) === 'internal';

export function managerUndo(make: HarnessFactory): void {
  describe('vifs: attach and next-hop copies', () => {
    it('a vif whose XDP attach fails leaves no entry; the kernel says EBUSY (same mode) or EEXIST (other mode)', using(make, async (h) => {
      const name = h.netdev();
      const release = h.occupy(name, 'native');
      const cause = (code: string) => (e: unknown) => is('failed_precondition', 'name')(e) && (e as Error).cause instanceof BpfError && ((e as Error).cause as BpfError).code === code;
      await unchanged(h, () => h.mgr.addInterface(vif({ index: 3, type: 'virtual', name, attachMode: 'native' })), cause('EBUSY'));
      await unchanged(h, () => h.mgr.addInterface(vif({ index: 3, type: 'virtual', name, hookPolicy: 'xdp' })), cause('EEXIST'));
      assert.equal(h.mgr.vifs.has(3), false);
      release();
      const v = await h.mgr.addInterface(vif({ index: 3, type: 'virtual', name, hookPolicy: 'xdp' }));
      assert.equal(v.attachMode, 'native');
      assert.ok(h.kernel.openXdp(v.ifindex));
    }));

    it('a refused native attach falls back to generic, and the entry records it', using(make, async (h) => {
      h.kernel.failAttach(EOPNOTSUPP);
      const v = await h.mgr.addInterface(vif({ index: 3, type: 'virtual', name: h.netdev(), hookPolicy: 'xdp' }));
      assert.equal(v.attachMode, 'generic');
      assert.equal(dump(h).vr_vifs.length, 1);
      assert.equal(Buffer.from(dump(h).vr_vifs[0]!.split('=')[1]!, 'hex')[15], 2, 'attach_mode GENERIC');
    }));

    it('a vif update failing half-way through its next hops\' copies restores them all', using(make, async (h) => {
      await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev(), vrf: 1 }));
      for (const id of [2, 3, 4]) await h.mgr.addNextHop(encapNh(id, 1, 1, `02:00:00:00:00:0${id}`));
      h.kernel.failNext('vr_nexthops', 'update', EIO, 1);
      await unchanged(h, () => h.mgr.updateInterface(1, { mtu: 1400, disabled: true }), internal);
      await h.mgr.updateInterface(1, { mtu: 1400, disabled: true });
      for (const id of [2, 3, 4]) {
        const raw = h.kernel.maps.vr_nexthops.lookup(Buffer.from([id, 0, 0, 0]))!;
        assert.deepEqual([raw[1]! & 1, raw.readUInt16LE(28)], [0, 1400], `next hop ${id}: the vif's state (disabled) and MTU`);
      }
    }));
  });

  describe('route batches', () => {
    it('a batch failing in the middle of its second chunk is undone whole', using(make, async (h) => {
      await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
      h.kernel.failNext('vr_rt4', 'updateBatch', ENOMEM, 8192 + 900);
      await unchanged(h, () => h.mgr.addRoutes(v4(10_000)), is('resource_exhausted', undefined, 8192 + 900)); // the route the kernel stopped at
      assert.equal(h.mgr.nhs.refCount(1), 0);
      assert.equal(await h.mgr.addRoutes(v4(10_000)), 10_000);
      assert.equal(dump(h).vr_rt4.length, 10_000);
    }, { maxRoutes: 12_000 }));

    it('an unexpected errno half-way through a batch is INTERNAL and undone', using(make, async (h) => {
      await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
      h.kernel.failNext('vr_rt4', 'updateBatch', EINVAL, 5);
      await unchanged(h, () => h.mgr.addRoutes(v4(10)), is('internal'));
    }));

    it('a mixed IPv4 + IPv6 batch failing in its IPv6 part leaves no IPv4 route', using(make, async (h) => {
      await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
      h.kernel.failNext('vr_rt6', 'updateBatch', ENOSPC, 1);
      await unchanged(h, () => h.mgr.addRoutes([...v4(3), route(1, 'fd00:9::/64', 1), route(1, 'fd00:8::/64', 1)]), is('resource_exhausted', undefined, 4));
    }));

    it('a delete batch failing half-way puts every route back', using(make, async (h) => {
      await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
      await h.mgr.addRoutes([...v4(6), route(1, 'fd00:9::/64', 1)]);
      h.kernel.failNext('vr_rt4', 'deleteBatch', EIO, 2);
      await unchanged(h, () => h.mgr.deleteRoutes([routeKey(1, 'fd00:9::/64'), ...v4(6)]), (e) => internal(e) && (e as { index?: number }).index === 3);
      h.kernel.failNext('vr_rt6', 'delete', EIO);
      await unchanged(h, () => h.mgr.deleteRoutes([...v4(6), routeKey(1, 'fd00:9::/64')]), internal);
      assert.equal(await h.mgr.deleteRoutes([...v4(6), routeKey(1, 'fd00:9::/64')]), 7);
    }));

    const hosts = (n: number, vrf = 1) => Array.from({ length: n }, (_, i) => route(vrf, `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`, 1));

    it('a host-route batch failing in its second chunk is undone whole; a mixed one failing in its host part leaves no prefix', using(make, async (h) => {
      await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
      h.kernel.failNext('vr_host4', 'updateBatch', ENOMEM, 4096 + 10);
      await unchanged(h, () => h.mgr.addRoutes([...v4(3), ...hosts(5000)]), is('resource_exhausted', undefined, 3 + 4096 + 10));
      h.kernel.failNext('vr_host6', 'update', EIO);
      await unchanged(h, () => h.mgr.addRoutes([...v4(3), ...hosts(5), route(1, 'fd00:9::1/128', 1)]), internal);
      assert.equal(await h.mgr.addRoutes([...v4(3), ...hosts(5000), route(1, 'fd00:9::1/128', 1)]), 5004);
      assert.deepEqual([dump(h).vr_rt4.length, dump(h).vr_host4.length, dump(h).vr_host6.length], [3, 5000, 1]);
    }, { maxRoutes: 6000 }));

    it('a delete batch failing in the host hash puts every route back, prefixes included', using(make, async (h) => {
      await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
      await h.mgr.addRoutes([...v4(4), ...hosts(6)]);
      h.kernel.failNext('vr_host4', 'deleteBatch', EIO, 3);
      await unchanged(h, () => h.mgr.deleteRoutes([...v4(4), ...hosts(6)]), (e) => internal(e) && (e as { index?: number }).index === 4 + 3);
      assert.equal(await h.mgr.deleteRoutes([...hosts(6), ...v4(4)]), 10);
    }));

    it('a trie filled behind the manager\'s back: the kernel\'s ENOSPC mid-batch is RESOURCE_EXHAUSTED, undone', using(make, async (h) => {
      await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
      const rt4 = h.kernel.inner.maps.vr_rt4;
      for (const r of v4(5, 1, 9)) {
        const v = Buffer.alloc(12);
        v.writeUInt32LE(1, 0);
        v[6] = r.plen;
        rt4.update(encodeRouteKey(r), v);
      }
      await unchanged(h, () => h.mgr.addRoutes(v4(4)), is('resource_exhausted'));
      assert.equal(dump(h).vr_rt4.length, 5, 'only the foreign routes');
    }, { maxRoutes: 8 }));
  });

  describe('transactions', () => {
    /** setup: base state, with an unused next hop 9, an unused vif 3 and a route to delete */
    async function setup(h: Harness): Promise<{ b: string }> {
      await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev(), vrf: 1 }));
      await h.mgr.addInterface(vif({ index: 3, type: 'virtual', name: h.netdev(), vrf: 1 }));
      await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
      await h.mgr.addNextHop(encapNh(2, 1, 1, '02:00:00:00:00:02'));
      await h.mgr.addNextHop({ id: 9, vrf: 1, kind: 'discard' });
      await h.mgr.addRoutes([route(1, '10.1.0.0/16', 1), route(1, 'fd00:1::/64', 2), route(1, '10.7.0.0/16', 2)]);
      return { b: h.netdev() };
    }
    const tx = (b: string): Op[] => [
      { kind: 'route', action: 'add', spec: route(1, '10.20.0.0/16', 5) },
      { kind: 'nh', action: 'delete', id: 9 },
      { kind: 'route', action: 'add', spec: route(1, 'fd00:20::/64', 5) },
      { kind: 'vif', action: 'delete', index: 3 },
      { kind: 'nh', action: 'add', spec: encapNh(5, 1, 2, '02:00:00:00:00:05') },
      { kind: 'route', action: 'delete', key: routeKey(1, '10.7.0.0/16') },
      { kind: 'route', action: 'add', spec: route(1, '10.21.0.0/16', 5) },
      { kind: 'vif', action: 'add', spec: vif({ index: 2, type: 'virtual', name: b, vrf: 1 }) },
      { kind: 'route', action: 'update', spec: route(1, '10.1.0.0/16', 5) },
    ];
    const inverse = (name3: string): Op[] => [
      { kind: 'vif', action: 'add', spec: vif({ index: 3, type: 'virtual', name: name3, vrf: 1 }) },
      { kind: 'route', action: 'delete', key: routeKey(1, '10.20.0.0/16') },
      { kind: 'vif', action: 'delete', index: 2 },
      { kind: 'route', action: 'update', spec: route(1, '10.1.0.0/16', 1) },
      { kind: 'nh', action: 'delete', id: 5 },
      { kind: 'route', action: 'delete', key: routeKey(1, 'fd00:20::/64') },
      { kind: 'nh', action: 'add', spec: { id: 9, vrf: 1, kind: 'discard' } },
      { kind: 'route', action: 'delete', key: routeKey(1, '10.21.0.0/16') },
      { kind: 'route', action: 'add', spec: route(1, '10.7.0.0/16', 2) },
    ];

    it('a transaction failing at its last step (vif delete) leaves every map as before', using(make, async (h) => {
      const { b } = await setup(h);
      const ifindex3 = h.mgr.vifs.get(3).ifindex;
      const before = dump(h);
      const st = state(h);
      h.kernel.failNext('vr_vifs', 'delete', EIO);
      const ops = tx(b);
      const out = await h.mgr.apply(ops, true);
      out.forEach((e, i) => assert.equal(e?.code, i === 3 ? 'internal' : 'aborted', `op ${i}`));
      assert.equal(out[3]!.index, 3);
      assert.deepEqual(dump(h), before);
      assert.deepEqual(state(h), st);
      assert.ok(h.kernel.openTc(ifindex3), 'vif 3 attached again');
      assert.equal(h.kernel.netdev(b) && h.kernel.openTc(h.kernel.netdev(b)!.ifindex), undefined, 'vif 2 detached');
    }));

    it('a transaction failing at its next hop delete leaves every map as before', using(make, async (h) => {
      const { b } = await setup(h);
      h.kernel.failNext('vr_nexthops', 'update', EIO, 1); // nh 5 written, nh 9's clear fails
      const before = dump(h);
      const st = state(h);
      const out = await h.mgr.apply(tx(b).filter((o) => !(o.kind === 'vif' && o.action === 'delete')), true);
      assert.equal(out[1]?.code, 'internal');
      assert.equal(out.filter((e) => e?.code === 'aborted').length, out.length - 1);
      assert.deepEqual(dump(h), before);
      assert.deepEqual(state(h), st);
    }));

    it('the same transaction succeeds in any order, and so does its inverse', using(make, async (h) => {
      const { b } = await setup(h);
      const name3 = h.mgr.vifs.get(3).name;
      const d0 = dump(h);
      const s0 = state(h);
      const orders = [(x: Op[]) => x, (x: Op[]) => [...x].reverse(), (x: Op[]) => [...x.filter((_, i) => i % 2), ...x.filter((_, i) => !(i % 2))]];
      let d1: ReturnType<typeof dump> | undefined;
      for (const order of orders) {
        assert.deepEqual((await h.mgr.apply(order(tx(b)), true)).filter(Boolean), []);
        d1 ??= dump(h);
        assert.deepEqual(dump(h), d1);
        assert.equal(h.mgr.nhs.refCount(5), 4);
        assert.deepEqual((await h.mgr.apply(order(inverse(name3)), true)).filter(Boolean), []);
        assert.deepEqual(dump(h), d0);
        assert.deepEqual(state(h), s0);
      }
    }));
  });
}
