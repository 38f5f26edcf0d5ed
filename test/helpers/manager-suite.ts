/**
 * managerBehaviour: what the DatapathManager promises, written once and run
 * on the fake and on the real kernel: validation (code, field, nothing
 * written), exact vs covering routes, non-atomic apply, sync epochs,
 * reference counts and a restarted manager.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Route } from '../../src/manager/model.ts';
import { DatapathError } from '../../src/manager/errors.ts';
import { encapNh, route, routeKey, vif } from './specs.ts';
import { MAX_VRFS, dump, is, state, using, type Harness, type HarnessFactory } from './manager-harness.ts';

/** base: vif 1 (its name returned), receive next hop 1, encap next hop 2 on vif 1, two routes. */
async function base(h: Harness): Promise<string> {
  const name = h.netdev();
  await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name, vrf: 1 }));
  await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
  await h.mgr.addNextHop(encapNh(2, 1, 1, '02:00:00:00:00:02'));
  await h.mgr.addRoutes([route(1, '10.1.0.0/16', 1), route(1, 'fd00:1::/64', 2)]);
  return name;
}

const v4 = (n: number, nh = 1) => Array.from({ length: n }, (_, i) => route(1, `10.9.${i}.0/24`, nh));

export function managerBehaviour(make: HarnessFactory): void {
  describe('validation: the code and field of every refusal, and nothing written', () => {
    type Case = [string, (h: Harness, name: string) => Promise<unknown>, ReturnType<typeof is>];
    const cases: Case[] = [
      ['vif index past max_interfaces', (h) => h.mgr.addInterface(vif({ index: 16, type: 'virtual', name: h.netdev() })), is('invalid_argument', 'index')],
      ['vif without a type', (h) => h.mgr.addInterface(vif({ index: 3, type: undefined, name: h.netdev() })), is('invalid_argument', 'type')],
      ['vif without a name', (h) => h.mgr.addInterface(vif({ index: 3, type: 'virtual', name: '' })), is('invalid_argument', 'name')],
      ['vif name too long', (h) => h.mgr.addInterface(vif({ index: 3, type: 'virtual', name: 'x'.repeat(16) })), is('invalid_argument', 'name')],
      ['vif vrf past max_vrfs', (h) => h.mgr.addInterface(vif({ index: 3, type: 'virtual', name: h.netdev(), vrf: MAX_VRFS })), is('invalid_argument', 'vrf')],
      ['vif mtu too small', (h) => h.mgr.addInterface(vif({ index: 3, type: 'virtual', name: h.netdev(), mtu: 67 })), is('invalid_argument', 'mtu')],
      ['vif index taken', (h) => h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev() })), is('already_exists', 'index')],
      ['vif on no kernel interface', (h) => h.mgr.addInterface(vif({ index: 3, type: 'virtual', name: 'nosuchdev0' })), is('not_found', 'name')],
      ['vif on an interface that is already a vif', (h, name) => h.mgr.addInterface(vif({ index: 3, type: 'virtual', name })), is('already_exists', 'name')],
      ['update of a missing vif', (h) => h.mgr.updateInterface(5, { mtu: 1400 }), is('not_found', 'index')],
      ['update to a bad vrf', (h) => h.mgr.updateInterface(1, { vrf: MAX_VRFS }), is('invalid_argument', 'vrf')],
      ['update to a bad mtu', (h) => h.mgr.updateInterface(1, { mtu: 65536 }), is('invalid_argument', 'mtu')],
      ['delete of a missing vif', (h) => h.mgr.deleteInterface(5), is('not_found', 'index')],
      ['delete of a vif a next hop outputs on', (h) => h.mgr.deleteInterface(1), is('failed_precondition', 'index')],
      ['next hop 0', (h) => h.mgr.addNextHop({ id: 0, vrf: 0, kind: 'receive' }), is('invalid_argument', 'id')],
      ['next hop id past max_next_hops', (h) => h.mgr.addNextHop({ id: 64, vrf: 0, kind: 'receive' }), is('invalid_argument', 'id')],
      ['next hop vrf past max_vrfs', (h) => h.mgr.addNextHop({ id: 3, vrf: MAX_VRFS, kind: 'receive' }), is('invalid_argument', 'vrf')],
      ['next hop without a kind', (h) => h.mgr.addNextHop({ id: 3, vrf: 0, kind: undefined }), is('invalid_argument', 'kind')],
      ['encap on a missing vif', (h) => h.mgr.addNextHop(encapNh(3, 1, 9, '02:00:00:00:00:03')), is('not_found', 'encap.vifIndex')],
      ['encap without a destination MAC', (h) => h.mgr.addNextHop({ id: 3, vrf: 1, kind: 'encap', encap: { vifIndex: 1, dmac: undefined, smac: undefined } }), is('invalid_argument', 'encap.dmac')],
      ['encap without its encap part', (h) => h.mgr.addNextHop({ id: 3, vrf: 1, kind: 'encap' }), is('invalid_argument', 'encap')],
      ['next hop id taken', (h) => h.mgr.addNextHop({ id: 1, vrf: 0, kind: 'receive' }), is('already_exists', 'id')],
      ['update of a missing next hop', (h) => h.mgr.updateNextHop({ id: 9, vrf: 0, kind: 'receive' }), is('not_found', 'id')],
      ['next hop kind change', (h) => h.mgr.updateNextHop({ id: 1, vrf: 1, kind: 'discard' }), is('failed_precondition', 'kind')],
      ['delete of next hop 0', (h) => h.mgr.deleteNextHop(0), is('failed_precondition', 'id')],
      ['delete of a missing next hop', (h) => h.mgr.deleteNextHop(9), is('not_found', 'id')],
      ['delete of a next hop routes use', (h) => h.mgr.deleteNextHop(1), is('failed_precondition', 'id')],
      ['route vrf past max_vrfs', (h) => h.mgr.addRoutes([route(1, '10.2.0.0/16', 1), route(MAX_VRFS, '10.2.0.0/16', 1)]), is('invalid_argument', 'vrf', 1)],
      ['route to a missing next hop', (h) => h.mgr.addRoutes([route(1, '10.2.0.0/16', 1), route(1, '10.3.0.0/16', 9)]), is('not_found', 'nhId', 1)],
      ['route twice in a batch', (h) => h.mgr.addRoutes([route(1, '10.2.0.0/16', 1), route(1, '10.3.0.0/16', 1), route(1, '10.2.0.0/16', 1)]), is('invalid_argument', 'prefix', 2)],
      ['route that exists', (h) => h.mgr.addRoutes([route(1, '10.2.0.0/16', 1), route(1, 'fd00:1::/64', 1)]), is('already_exists', 'prefix', 1)],
      ['routes past max_routes', (h) => h.mgr.addRoutes(v4(64)), is('resource_exhausted')],
      ['update of a missing route', (h) => h.mgr.updateRoute(route(1, '10.2.0.0/16', 1)), is('not_found', 'prefix')],
      ['update to a missing next hop', (h) => h.mgr.updateRoute(route(1, '10.1.0.0/16', 9)), is('not_found', 'nhId')],
      ['delete of a missing route', (h) => h.mgr.deleteRoutes([routeKey(1, '10.1.0.0/16'), routeKey(1, '10.2.0.0/16')]), is('not_found', 'prefix', 1)],
      ['delete of a route twice', (h) => h.mgr.deleteRoutes([routeKey(1, '10.1.0.0/16'), routeKey(1, '10.1.0.0/16')]), is('invalid_argument', 'prefix', 1)],
      ['end of an epoch that is not open', (h) => h.mgr.endSync(7), is('failed_precondition', 'epoch')],
    ];
    for (const [what, call, check] of cases)
      it(what, using(make, async (h) => {
        const name = await base(h);
        const before = dump(h);
        const st = state(h);
        h.kernel.resetWrites();
        await assert.rejects(Promise.resolve().then(() => call(h, name)), check);
        assert.equal(h.kernel.writes(), 0, 'no map written');
        assert.deepEqual(dump(h), before);
        assert.deepEqual(state(h), st);
      }));

    it('reads: a missing route, no route for an address', using(make, async (h) => {
      await base(h);
      assert.throws(() => h.mgr.routes.get(routeKey(1, '10.2.0.0/16')), is('not_found', 'prefix'));
      assert.throws(() => h.mgr.routes.lookup(2, Buffer.from([10, 1, 0, 1])), is('not_found', 'address'));
    }));
  });

  describe('routes: exact vs covering', () => {
    it('a /25 inside a /24 is absent until added; lookup finds the longest match and reports its prefix', using(make, async (h) => {
      await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
      await h.mgr.addNextHop({ id: 2, vrf: 1, kind: 'discard' });
      await h.mgr.addRoutes([route(1, '10.1.1.0/24', 1)]);
      assert.throws(() => h.mgr.routes.get(routeKey(1, '10.1.1.0/25')), is('not_found', 'prefix'));
      await assert.rejects(h.mgr.updateRoute(route(1, '10.1.1.0/25', 2)), is('not_found', 'prefix'));
      await assert.rejects(h.mgr.deleteRoutes([routeKey(1, '10.1.1.0/25')]), is('not_found', 'prefix'));
      assert.deepEqual(h.mgr.routes.lookup(1, Buffer.from([10, 1, 1, 7])), route(1, '10.1.1.0/24', 1));

      await h.mgr.addRoutes([route(1, '10.1.1.0/25', 2)]);
      assert.deepEqual(h.mgr.routes.get(routeKey(1, '10.1.1.0/25')), route(1, '10.1.1.0/25', 2));
      assert.deepEqual(h.mgr.routes.get(routeKey(1, '10.1.1.0/24')), route(1, '10.1.1.0/24', 1));
      assert.deepEqual(h.mgr.routes.lookup(1, Buffer.from([10, 1, 1, 7])), route(1, '10.1.1.0/25', 2));
      assert.deepEqual(h.mgr.routes.lookup(1, Buffer.from([10, 1, 1, 200])), route(1, '10.1.1.0/24', 1));
      assert.equal(h.mgr.nhs.refCount(1), 1);
      assert.equal(h.mgr.nhs.refCount(2), 1);

      await h.mgr.deleteRoutes([routeKey(1, '10.1.1.0/25')]);
      assert.deepEqual(h.mgr.routes.lookup(1, Buffer.from([10, 1, 1, 7])), route(1, '10.1.1.0/24', 1));
      await assert.rejects(h.mgr.addRoutes([route(1, '10.1.1.0/24', 2)]), is('already_exists', 'prefix', 0));
      assert.equal(h.mgr.routes.count(4), 1);
    }));

    it('the same for IPv6, a host route and a default route; vrfs are apart', using(make, async (h) => {
      await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
      await h.mgr.addRoutes([route(1, '::/0', 1), route(1, 'fd00::/16', 1), route(1, 'fd00::5/128', 1), route(2, '0.0.0.0/0', 1)]);
      const six = (s: string) => Buffer.from(s.replace(/:/g, ''), 'hex');
      assert.deepEqual(h.mgr.routes.lookup(1, six('fd00:0000:0000:0000:0000:0000:0000:0005')), route(1, 'fd00::5/128', 1));
      assert.deepEqual(h.mgr.routes.lookup(1, six('fd00:0000:0000:0000:0000:0000:0000:0006')), route(1, 'fd00::/16', 1));
      assert.deepEqual(h.mgr.routes.lookup(1, six('fe80:0000:0000:0000:0000:0000:0000:0006')), route(1, '::/0', 1));
      assert.throws(() => h.mgr.routes.get(routeKey(1, 'fd00::/64')), is('not_found'));
      assert.throws(() => h.mgr.routes.lookup(1, Buffer.from([1, 2, 3, 4])), is('not_found', 'address'));
      assert.deepEqual(h.mgr.routes.lookup(2, Buffer.from([1, 2, 3, 4])), route(2, '0.0.0.0/0', 1));
      assert.deepEqual([...h.mgr.routes.list(1)].flat().length, 3);
    }));
  });

  describe('host routes: a map of their own, one table to read', () => {
    const hosts = [route(1, '10.1.1.7/32', 2, true), route(1, '10.1.1.8/32', 1), route(1, 'fd00:1::7/128', 2), route(2, '10.1.1.7/32', 1)];

    it('a /32 or /128 goes to the host hash only; get, lookup, list and the counts see both maps', using(make, async (h) => {
      await base(h);
      await h.mgr.addNextHop({ id: 3, vrf: 1, kind: 'discard' });
      await h.mgr.addRoutes([...hosts, route(1, '10.1.1.0/24', 3)]);
      const d = dump(h);
      assert.deepEqual([d.vr_rt4.length, d.vr_host4.length, d.vr_rt6.length, d.vr_host6.length], [2, 3, 1, 1]);
      assert.ok(d.vr_host4.some((e) => e.startsWith('000000010a010107=')), 'keyed by vrf (big-endian) + address');
      assert.deepEqual(h.mgr.routes.get(routeKey(1, '10.1.1.7/32')), hosts[0]);
      assert.deepEqual(h.mgr.routes.get(routeKey(1, 'fd00:1::7/128')), hosts[2]);
      assert.throws(() => h.mgr.routes.get(routeKey(1, '10.1.1.9/32')), is('not_found', 'prefix'), 'covered by the /24, not a route');
      assert.deepEqual(h.mgr.routes.lookup(1, Buffer.from([10, 1, 1, 7])), hosts[0]);
      assert.deepEqual(h.mgr.routes.lookup(1, Buffer.from([10, 1, 1, 9])), route(1, '10.1.1.0/24', 3));
      assert.deepEqual(h.mgr.routes.lookup(2, Buffer.from([10, 1, 1, 7])), hosts[3], 'each VRF its own');
      assert.throws(() => h.mgr.routes.lookup(2, Buffer.from([10, 1, 1, 8])), is('not_found', 'address'), 'VRF 1\'s /32 is not VRF 2\'s');
      const listed = [...h.mgr.routes.list()].flat();
      assert.equal(listed.length, 7);
      for (const r of [...hosts, route(1, '10.1.1.0/24', 3)]) assert.ok(listed.some((l) => l.vrf === r.vrf && l.addr.equals(r.addr) && l.plen === r.plen && l.nhId === r.nhId && l.proxyArp === r.proxyArp));
      assert.equal([...h.mgr.routes.list(2)].flat().length, 1);
      assert.deepEqual([h.mgr.routes.count(4), h.mgr.routes.count(6)], [5, 2]);
      const usage = h.mgr.mapUsage();
      assert.deepEqual([usage.vr_rt4, usage.vr_host4, usage.vr_rt6, usage.vr_host6], [2, 3, 1, 1]);
      assert.equal(h.mgr.nhs.refCount(2), 3);
      // an existing host route is refused like any other; a delete falls back to the covering route
      await assert.rejects(h.mgr.addRoutes([route(1, '10.1.1.7/32', 1)]), is('already_exists', 'prefix', 0));
      await h.mgr.deleteRoutes([routeKey(1, '10.1.1.7/32')]);
      assert.deepEqual(h.mgr.routes.lookup(1, Buffer.from([10, 1, 1, 7])), route(1, '10.1.1.0/24', 3));
      await h.mgr.updateRoute(route(1, 'fd00:1::7/128', 1, true));
      assert.deepEqual(h.mgr.routes.get(routeKey(1, 'fd00:1::7/128')), route(1, 'fd00:1::7/128', 1, true));
      const st = state(h);
      await h.restart();
      assert.deepEqual(state(h), st, 'a restarted manager counts both maps');
    }));

    it('the host hash has its own capacity (max-routes): full, it is RESOURCE_EXHAUSTED; prefixes still fit the trie', using(make, async (h) => {
      await h.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
      const host = (n: number, third = 0) => Array.from({ length: n }, (_, i) => route(1, `10.7.${third}.${i}/32`, 1));
      await assert.rejects(h.mgr.addRoutes(host(9)), (e: unknown) => is('resource_exhausted')(e) && /vr_host4\) full: 0 of 8 used, 9 asked for/.test((e as Error).message));
      assert.equal(await h.mgr.addRoutes(host(8)), 8);
      await assert.rejects(h.mgr.addRoutes(host(1, 1)), is('resource_exhausted'));
      assert.equal(await h.mgr.addRoutes(v4(8)), 8, 'the trie is another map');
      assert.equal(h.mgr.routes.count(4), 16);
    }, { maxRoutes: 8 }));

    it('a sync sweep removes the host routes not re-sent and rewrites only the changed one', using(make, async (h) => {
      await base(h);
      await h.mgr.addRoutes(hosts);
      const s = await h.mgr.beginSync('agent', 60_000);
      h.kernel.resetWrites();
      const resent = [route(1, '10.1.0.0/16', 1), route(1, 'fd00:1::/64', 2), hosts[0]!, route(1, '10.1.1.8/32', 2), hosts[2]!];
      assert.deepEqual((await h.mgr.apply(resent.map((spec) => ({ kind: 'route', action: 'add', spec })), false)).filter(Boolean), []);
      assert.equal(h.kernel.writes('vr_host4'), 1, 'one host route write: the changed one');
      assert.equal(h.kernel.writes('vr_rt4') + h.kernel.writes('vr_rt6') + h.kernel.writes('vr_host6'), 0);
      const end = await h.mgr.endSync(s.epoch);
      assert.equal(end.removed.routes, 1, "VRF 2's 10.1.1.7/32, not re-sent");
      assert.equal(dump(h).vr_host4.length, 2);
      const key = (r: Route) => `${r.vrf} ${r.addr.toString('hex')}/${r.plen} ${r.nhId}`;
      assert.deepEqual([...h.mgr.routes.list()].flat().map(key).sort(), resent.map(key).sort());
    }));
  });

  describe('non-atomic apply', () => {
    it('a bad op in the middle gets its own error; the others are applied', using(make, async (h) => {
      const name = h.netdev();
      const out = await h.mgr.apply(
        [
          { kind: 'vif', action: 'add', spec: vif({ index: 1, type: 'virtual', name }) },
          { kind: 'nh', action: 'add', spec: { id: 5, vrf: 0, kind: 'receive' } },
          { kind: 'route', action: 'add', spec: route(0, '10.1.0.0/16', 9) },
          { kind: 'route', action: 'add', spec: route(0, '10.2.0.0/16', 5) },
          { kind: 'vif', action: 'delete', index: 7 },
          { kind: 'nh', action: 'add', spec: encapNh(6, 0, 1, '02:00:00:00:00:06') },
        ],
        false,
      );
      assert.equal(out.filter(Boolean).length, 2);
      assert.ok(is('not_found', 'nhId', 2)(out[2]));
      assert.ok(is('not_found', 'index', 4)(out[4]));
      assert.ok(h.mgr.vifs.has(1));
      assert.deepEqual([...h.mgr.nhs.ids()], [0, 5, 6]);
      assert.deepEqual([...h.mgr.routes.list()].flat(), [route(0, '10.2.0.0/16', 5)]);
    }));

    it('every failed op of a shared failure names its own position', using(make, async (h) => {
      await h.mgr.addNextHop({ id: 1, vrf: 0, kind: 'receive' });
      const ops = Array.from({ length: 70 }, (_, i) => ({ kind: 'route' as const, action: 'add' as const, spec: route(0, `10.5.${i}.0/24`, 1) }));
      const out = await h.mgr.apply(ops, false);
      out.forEach((e, i) => assert.ok(is('resource_exhausted', undefined, i)(e)));
      assert.equal(h.mgr.routes.count(4), 0);
      h.kernel.failNext('vr_rt4', 'updateBatch', 5 /* EIO */, 2);
      const failed = await h.mgr.apply(ops.slice(0, 5), false);
      failed.forEach((e, i) => assert.ok(is('internal', undefined, i)(e)));
      assert.equal(h.mgr.routes.count(4), 0);
      assert.deepEqual(dump(h).vr_rt4, [], 'the two written before the failure were removed');
    }));
  });

  describe('sync epochs', () => {
    async function programmed(h: Harness, name: string, routes: Route[], changed = false) {
      return h.mgr.apply(
        [
          { kind: 'vif', action: 'add', spec: vif({ index: 1, type: 'virtual', name, vrf: 1 }) },
          { kind: 'nh', action: 'add', spec: { id: 1, vrf: 1, kind: 'receive' } },
          { kind: 'nh', action: 'add', spec: encapNh(2, 1, 1, '02:00:00:00:00:02') },
          ...(changed ? [] : [{ kind: 'nh' as const, action: 'add' as const, spec: { id: 3, vrf: 1, kind: 'discard' as const } }]),
          ...routes.map((spec) => ({ kind: 'route' as const, action: 'add' as const, spec })),
        ],
        false,
      );
    }
    const all = [route(1, '10.1.0.0/16', 1), route(1, '10.2.0.0/16', 2), route(1, 'fd00:1::/64', 1), route(1, '10.3.0.0/16', 3), route(1, '10.4.0.0/16', 1)];

    it('re-sent with one route changed and one omitted: exactly those two change; unchanged routes are not written', using(make, async (h) => {
      const name = h.netdev();
      assert.deepEqual((await programmed(h, name, all)).filter(Boolean), []);
      const before = dump(h);
      const s = await h.mgr.beginSync('agent', 60_000);
      assert.equal(s.state, 'open');
      h.kernel.resetWrites();
      const resent = [all[0]!, all[1]!, all[2]!, route(1, '10.3.0.0/16', 1)]; // 10.3/16 moves to nh 1; 10.4/16 omitted
      assert.deepEqual((await programmed(h, name, resent, true)).filter(Boolean), []);
      assert.equal(h.kernel.writes('vr_rt4') + h.kernel.writes('vr_rt6'), 1, 'one route write: the changed one');
      assert.equal(h.kernel.writes('vr_vifs'), 0, 'the vif re-sent unchanged is not rewritten');
      assert.equal(h.kernel.writes('vr_nexthops'), 0, 'the next hops re-sent unchanged are not rewritten');
      const end = await h.mgr.endSync(s.epoch);
      assert.equal(end.state, 'completed');
      assert.deepEqual(end.removed, { vifs: 0, nextHops: 1, routes: 1, labels: 0, vnis: 0, bridge: 0 });
      const after = dump(h);
      const diff = (m: 'vr_rt4' | 'vr_rt6' | 'vr_nexthops') => ({
        gone: before[m].filter((x) => !after[m].includes(x)).length,
        new: after[m].filter((x) => !before[m].includes(x)).length,
      });
      assert.deepEqual(diff('vr_rt4'), { gone: 2, new: 1 }, '10.3/16 rewritten, 10.4/16 gone');
      assert.deepEqual(diff('vr_rt6'), { gone: 0, new: 0 });
      assert.deepEqual(diff('vr_nexthops'), { gone: 1, new: 1 }, 'next hop 3 cleared');
      assert.deepEqual([...h.mgr.routes.list()].flat().sort((a, b) => a.addr.compare(b.addr)), resent.sort((a, b) => a.addr.compare(b.addr)));
      assert.equal(h.mgr.nhs.refCount(1), 3);
      assert.equal(h.mgr.syncStatus().last?.state, 'completed');
    }));

    it('what single calls add while an epoch is open counts as seen: the sweep keeps it', using(make, async (h) => {
      const name = h.netdev();
      await programmed(h, name, all);
      const s = await h.mgr.beginSync('agent', 60_000);
      await programmed(h, name, all.slice(0, 2), true); // the agent re-sends less than there is
      await h.mgr.addNextHop({ id: 9, vrf: 1, kind: 'discard' }); // another client, meanwhile
      await h.mgr.addRoutes([route(1, '10.9.0.0/16', 9)]);
      await assert.rejects(h.mgr.addRoutes([route(1, '10.1.0.0/16', 1)]), (e: unknown) => e instanceof DatapathError && e.code === 'already_exists', 'a single add is still an add');
      const end = await h.mgr.endSync(s.epoch);
      assert.deepEqual(end.removed, { vifs: 0, nextHops: 1, routes: 3, labels: 0, vnis: 0, bridge: 0 }, 'next hop 3 and three routes not re-sent; 9 and 10.9/16 kept');
      assert.equal(h.mgr.routes.get(route(1, '10.9.0.0/16', 0)).nhId, 9);
    }));

    it('orphaned: nothing is removed after the timeout and the status says abandoned', using(make, async (h) => {
      const name = h.netdev();
      await programmed(h, name, all);
      const before = dump(h);
      const s = await h.mgr.beginSync('agent', 20);
      await programmed(h, name, all.slice(0, 1), true);
      h.mgr.orphanSync(s.epoch);
      assert.equal(h.mgr.syncStatus().current?.state, 'orphaned');
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(h.mgr.syncStatus().current, undefined);
      assert.equal(h.mgr.syncStatus().last?.state, 'abandoned');
      assert.deepEqual(h.mgr.syncStatus().last?.removed, { vifs: 0, nextHops: 0, routes: 0, labels: 0, vnis: 0, bridge: 0 });
      await assert.rejects(h.mgr.endSync(s.epoch), is('failed_precondition', 'epoch'));
      assert.deepEqual(dump(h), before);
    }));
  });

  describe('reference counts', () => {
    it('next hop and vif deletes are refused while used, allowed after', using(make, async (h) => {
      await base(h);
      await assert.rejects(h.mgr.deleteNextHop(2), is('failed_precondition', 'id'));
      await h.mgr.updateRoute(route(1, 'fd00:1::/64', 1));
      assert.equal(h.mgr.nhs.refCount(2), 0);
      assert.equal(h.mgr.nhs.refCount(1), 2);
      await assert.rejects(h.mgr.deleteInterface(1), is('failed_precondition', 'index'));
      await h.mgr.deleteNextHop(2);
      await h.mgr.deleteInterface(1);
      await assert.rejects(h.mgr.deleteNextHop(1), is('failed_precondition', 'id'));
      await h.mgr.deleteRoutes([routeKey(1, '10.1.0.0/16'), routeKey(1, 'fd00:1::/64')]);
      assert.equal(h.mgr.nhs.refCount(1), 0);
      await h.mgr.deleteNextHop(1);
      assert.deepEqual([...h.mgr.nhs.ids()], [0]);
      assert.deepEqual(dump(h).vr_vifs, []);
    }));
  });

  describe('hooks: policy, make before break, adoption', () => {
    const entry = (h: Harness, ifindex: number) => {
      const raw = Buffer.from(dump(h).vr_vifs.find((e) => e.startsWith(Buffer.from(new Uint32Array([ifindex]).buffer).toString('hex')))!.split('=')[1]!, 'hex');
      return { attachMode: raw[15], hookPolicy: raw[22] };
    };
    const links = (h: Harness, ifindex: number) => ({ xdp: !!h.kernel.openXdp(ifindex), tc: !!h.kernel.openTc(ifindex) });

    it('auto puts a veth on TC; xdp and tc are obeyed; the entry records hook and policy', using(make, async (h) => {
      const a = await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev() }));
      const b = await h.mgr.addInterface(vif({ index: 2, type: 'virtual', name: h.netdev(), hookPolicy: 'xdp' }));
      const c = await h.mgr.addInterface(vif({ index: 3, type: 'virtual', name: h.netdev(), hookPolicy: 'tc' }));
      assert.deepEqual([a.hookPolicy, a.hook, b.hookPolicy, b.hook, c.hookPolicy, c.hook], ['auto', 'tc', 'xdp', 'xdp', 'tc', 'tc']);
      assert.deepEqual(links(h, a.ifindex), { xdp: false, tc: true });
      assert.deepEqual(links(h, b.ifindex), { xdp: true, tc: true }, 'an XDP vif has its tcx link too (the skb path)');
      assert.deepEqual(entry(h, a.ifindex), { attachMode: 3, hookPolicy: 0 }, 'VR_ATTACH_TC, auto');
      assert.deepEqual(entry(h, b.ifindex), { attachMode: 1, hookPolicy: 1 }, 'VR_ATTACH_NATIVE, xdp');
      assert.deepEqual(entry(h, c.ifindex), { attachMode: 3, hookPolicy: 2 }, 'VR_ATTACH_TC, tc');
    }));

    it('a policy change moves the vif to the other hook and back; the XDP link comes and goes, the tcx link stays', using(make, async (h) => {
      const v = await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev(), hookPolicy: 'xdp' }));
      const moved = await h.mgr.updateInterface(1, { hookPolicy: 'tc' });
      assert.deepEqual([moved.hook, moved.hookPolicy], ['tc', 'tc']);
      assert.deepEqual(links(h, v.ifindex), { xdp: false, tc: true });
      assert.deepEqual(entry(h, v.ifindex), { attachMode: 3, hookPolicy: 2 });
      const auto = await h.mgr.updateInterface(1, { hookPolicy: 'auto' });
      assert.deepEqual([auto.hook, auto.hookPolicy], ['tc', 'auto'], 'auto on a veth: stays on TC');
      assert.deepEqual(links(h, v.ifindex), { xdp: false, tc: true });
      const back = await h.mgr.updateInterface(1, { hookPolicy: 'xdp' });
      assert.deepEqual([back.hook, back.attachMode], ['xdp', 'native']);
      assert.deepEqual(links(h, v.ifindex), { xdp: true, tc: true });
      assert.deepEqual(entry(h, v.ifindex), { attachMode: 1, hookPolicy: 1 });
    }));

    it('a move to XDP whose attach fails leaves the vif on TC, entry and links unchanged', using(make, async (h) => {
      const v = await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev(), hookPolicy: 'tc' }));
      const before = dump(h);
      const st = state(h);
      h.kernel.failAttach(5 /* EIO */, 5 /* EIO: generic too */);
      await assert.rejects(h.mgr.updateInterface(1, { hookPolicy: 'xdp', mtu: 1400 }), is('failed_precondition', 'name'));
      assert.deepEqual(dump(h), before);
      assert.deepEqual(state(h), st);
      assert.deepEqual(links(h, v.ifindex), { xdp: false, tc: true });
    }));

    it('an XDP vif whose tcx link cannot attach is not added', using(make, async (h) => {
      const before = dump(h);
      h.kernel.failTcAttach(5 /* EIO */);
      const name = h.netdev();
      await assert.rejects(h.mgr.addInterface(vif({ index: 1, type: 'virtual', name, hookPolicy: 'xdp' })), is('failed_precondition', 'name'));
      assert.deepEqual(dump(h), before);
      assert.equal(h.mgr.vifs.has(1), false);
      const ifindex = h.kernel.netdev(name)!.ifindex;
      assert.deepEqual(links(h, ifindex), { xdp: false, tc: false });
    }));

    it('a restarted manager adopts TC and XDP links alike, and reports each hook', using(make, async (h) => {
      const a = await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev(), hookPolicy: 'tc' }));
      const b = await h.mgr.addInterface(vif({ index: 2, type: 'virtual', name: h.netdev(), hookPolicy: 'xdp' }));
      const ids = [h.mgr.vifs.linkOf(1)!.info().id, h.mgr.vifs.linkOf(2)!.info().id];
      const st = state(h);
      await h.restart();
      assert.deepEqual(state(h), st);
      assert.deepEqual([h.mgr.vifs.linkOf(1)!.info().id, h.mgr.vifs.linkOf(2)!.info().id], ids, 'the same links, not new ones');
      assert.deepEqual([h.mgr.vifs.get(1).hook, h.mgr.vifs.get(2).hook], ['tc', 'xdp']);
      assert.deepEqual([links(h, a.ifindex), links(h, b.ifindex)], [{ xdp: false, tc: true }, { xdp: true, tc: true }]);
    }));

    it('a restart after a move to TC cut short detaches the XDP link the entry no longer names', using(make, async (h) => {
      const a = await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev(), hookPolicy: 'xdp' }));
      const b = await h.mgr.addInterface(vif({ index: 2, type: 'virtual', name: h.netdev(), hookPolicy: 'tc' }));
      // the entry says TC, the daemon gone before the XDP link was detached
      h.kernel.attachXdp(b.ifindex, 'native');
      await h.restart();
      assert.deepEqual([links(h, a.ifindex), links(h, b.ifindex)], [{ xdp: true, tc: true }, { xdp: false, tc: true }]);
      assert.deepEqual([h.mgr.vifs.get(1).hook, h.mgr.vifs.get(2).hook], ['xdp', 'tc']);
    }));

    it('deleting a TC vif detaches its link; a failed delete attaches it again', using(make, async (h) => {
      const v = await h.mgr.addInterface(vif({ index: 1, type: 'virtual', name: h.netdev() }));
      h.kernel.failNext('vr_vifs', 'delete', 5 /* EIO */);
      await assert.rejects(h.mgr.deleteInterface(1), is('internal'));
      assert.deepEqual(links(h, v.ifindex), { xdp: false, tc: true });
      await h.mgr.deleteInterface(1);
      assert.deepEqual(links(h, v.ifindex), { xdp: false, tc: false });
    }));
  });

  describe('host vifs: the tcx egress link (what the host sends out of its interface)', () => {
    const links = (h: Harness, ifindex: number) => ({ xdp: !!h.kernel.openXdp(ifindex), tc: !!h.kernel.openTc(ifindex), egress: !!h.kernel.openTcEgress(ifindex) });

    it('a host vif gets an egress link beside its ingress one, on either hook; other vifs none', using(make, async (h) => {
      const a = await h.mgr.addInterface(vif({ index: 1, type: 'host', name: h.netdev(), hookPolicy: 'tc' }));
      const b = await h.mgr.addInterface(vif({ index: 2, type: 'host', name: h.netdev(), hookPolicy: 'xdp' }));
      const c = await h.mgr.addInterface(vif({ index: 3, type: 'fabric', name: h.netdev(), hookPolicy: 'tc' }));
      assert.deepEqual(links(h, a.ifindex), { xdp: false, tc: true, egress: true });
      assert.deepEqual(links(h, b.ifindex), { xdp: true, tc: true, egress: true });
      assert.deepEqual(links(h, c.ifindex), { xdp: false, tc: true, egress: false });
      assert.ok(h.mgr.vifs.egressLinkOf(1));
      assert.equal(h.mgr.vifs.egressLinkOf(3), undefined);
      // a hook change leaves the egress link alone
      await h.mgr.updateInterface(2, { hookPolicy: 'tc' });
      assert.deepEqual(links(h, b.ifindex), { xdp: false, tc: true, egress: true });
    }));

    it('a host vif whose egress link cannot attach is not added: no entry, no ingress link', using(make, async (h) => {
      const before = dump(h);
      h.kernel.failEgressAttach(5 /* EIO */);
      const name = h.netdev();
      await assert.rejects(h.mgr.addInterface(vif({ index: 1, type: 'host', name, hookPolicy: 'xdp' })), is('failed_precondition', 'name'));
      assert.deepEqual(dump(h), before);
      assert.equal(h.mgr.vifs.has(1), false);
      assert.deepEqual(links(h, h.kernel.netdev(name)!.ifindex), { xdp: false, tc: false, egress: false });
    }));

    it('a restarted manager adopts the egress link (the same link), and attaches it when its pin is gone', using(make, async (h) => {
      const a = await h.mgr.addInterface(vif({ index: 1, type: 'host', name: h.netdev(), hookPolicy: 'tc' }));
      const id = h.mgr.vifs.egressLinkOf(1)!.info().id;
      await h.restart();
      assert.equal(h.mgr.vifs.egressLinkOf(1)!.info().id, id, 'the same link, not a new one');
      // a daemon without the egress entry added this vif (or the pin was lost)
      h.kernel.openTcEgress(a.ifindex)!.detach();
      await h.restart();
      assert.deepEqual(links(h, a.ifindex), { xdp: false, tc: true, egress: true });
      assert.notEqual(h.mgr.vifs.egressLinkOf(1)!.info().id, id);
    }));

    it('deleting a host vif detaches both links; a failed delete attaches them again', using(make, async (h) => {
      const v = await h.mgr.addInterface(vif({ index: 1, type: 'host', name: h.netdev() }));
      h.kernel.failNext('vr_vifs', 'delete', 5 /* EIO */);
      await assert.rejects(h.mgr.deleteInterface(1), is('internal'));
      assert.deepEqual(links(h, v.ifindex), { xdp: false, tc: true, egress: true });
      assert.ok(h.mgr.vifs.egressLinkOf(1));
      await h.mgr.deleteInterface(1);
      assert.deepEqual(links(h, v.ifindex), { xdp: false, tc: false, egress: false });
    }));
  });

  describe('restart', () => {
    it('a new manager on the same kernel has the same state', using(make, async (h) => {
      await base(h);
      const a = h.netdev();
      await h.mgr.addInterface(vif({ index: 4, type: 'fabric', name: a, vrf: 2, ip4: '10.0.0.4', ip6: 'fd00::4', mtu: 1400, policyEnabled: true, disabled: true, attachMode: 'generic' }));
      await h.mgr.addNextHop(encapNh(7, 2, 4, '02:00:00:00:00:07', '02:00:00:00:00:70'));
      await h.mgr.addRoutes([...v4(5, 7), route(2, 'fd00:2::/64', 7, true)]);
      const before = state(h);
      const routes = [...h.mgr.routes.list()].flat();
      await h.restart();
      assert.deepEqual(state(h), before);
      assert.deepEqual([...h.mgr.routes.list()].flat(), routes);
      assert.ok(h.mgr.vifs.linkOf(4), 'the pinned link is adopted');
      assert.equal(h.mgr.vifs.get(4).attachMode, 'generic');
      assert.equal(h.mgr.nhs.refCount(7), 6);
    }));
  });
}
