/**
 * vr_rt_probe (many route lookups per BPF_PROG_TEST_RUN) answers exactly
 * what one lookup per key answers (RouteTable's own: a full-length key in
 * the host hash, then the trie): the longest match's value, which
 * RouteTable.exactMany turns into "this exact route exists".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { privateNetns } from '../helpers/private-netns.ts';
import { OBJECT, openTestDatapath } from '../helpers/datapath.ts';
import { route } from '../helpers/specs.ts';
import { RouteTable } from '../../src/maps/tables/route-table.ts';
import { RoutePack, type RouteSlot } from '../../src/maps/tables/route-pack.ts';
import { RouteProbe } from '../../src/maps/tables/route-probe.ts';

let t: ReturnType<typeof openTestDatapath>;
let probe: RouteProbe;

before(async () => {
  privateNetns();
  t = openTestDatapath({ maxInterfaces: 8, maxNextHops: 64, maxRoutes: 8192 });
  await t.mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
  await t.mgr.addNextHop({ id: 2, vrf: 1, kind: 'discard' });
  const routes = [
    route(1, '10.1.0.0/16', 1), route(1, '10.1.2.0/24', 2, true), route(2, '10.1.2.0/24', 1), route(1, '0.0.0.0/0', 2),
    route(1, 'fd00:1::/64', 1, true), route(1, 'fd00:1::/48', 2), route(3, '::/0', 1),
  ];
  // and enough host routes that a probe needs several runs of 1024 keys
  for (let i = 0; i < 3000; i++) routes.push(route(5, `10.9.${i >> 8}.${i & 255}/32`, 1 + (i & 1)));
  // IPv6 host routes, one of them inside a prefix of its VRF
  routes.push(route(1, 'fd00:1::5/128', 2), route(1, 'fd00:9::5/128', 1, true), route(3, 'fd00:1::5/128', 1));
  await t.mgr.addRoutes(routes);
  const p = RouteProbe.open(OBJECT, t.dp.maps);
  assert.ok(p, 'the object has vr_rt_probe');
  probe = p;
});
after(() => {
  probe.close();
  t.dispose();
});

function pack(slot: RouteSlot, prefixes: [number, string][]): RoutePack {
  const p = new RoutePack(slot, prefixes.length);
  for (const [vrf, prefix] of prefixes) p.push(route(vrf, prefix, 0));
  return p;
}

describe('route probe', () => {
  const m = t.dp.maps;
  const maps = () => ({ rt4: m.vr_rt4, host4: m.vr_host4, rt6: m.vr_rt6, host6: m.vr_host6 });
  const withProbe = () => new RouteTable(maps(), probe);
  const perKey = () => new RouteTable(maps());
  const cases: [RouteSlot, [number, string][]][] = [
    ['rt4', [[1, '10.1.0.0/16'], [1, '10.1.2.0/24'], [1, '10.1.2.0/25'], [1, '10.1.3.0/24'], [2, '10.1.2.0/24'], [2, '10.1.0.0/16'], [1, '0.0.0.0/0'], [7, '10.1.0.0/16']]],
    ['rt6', [[1, 'fd00:1::/64'], [1, 'fd00:1::/48'], [1, 'fd00:1::/56'], [3, '::/0'], [3, 'fd00::/8'], [1, 'fd00:2::/64']]],
    // host keys: in the hash, or answered by a covering prefix of the trie, or by nothing
    ['host4', [...Array.from({ length: 3100 }, (_, i) => [5, `10.9.${i >> 8}.${i & 255}/32`] as [number, string]), [1, '10.1.2.3/32'], [9, '10.1.2.3/32']]],
    ['host6', [[1, 'fd00:1::5/128'], [1, 'fd00:1::6/128'], [1, 'fd00:9::5/128'], [3, 'fd00:1::5/128'], [3, 'fd00:1::6/128'], [2, 'fd00:1::5/128']]],
  ];
  for (const [slot, prefixes] of cases)
    it(`${slot}: ${prefixes.length} keys, exact and covering, answered alike by the probe and one lookup per key`, () => {
      const p = pack(slot, prefixes);
      const a = withProbe().exactMany(p, 0, p.count);
      const b = perKey().exactMany(p, 0, p.count);
      assert.deepEqual([...a.found], [...b.found]);
      for (let i = 0; i < p.count; i++) if (a.found[i]) assert.deepEqual(a.values.subarray(i * 12, i * 12 + 12), b.values.subarray(i * 12, i * 12 + 12));
    });
  it('what it says exists is exactly the programmed routes', () => {
    const p = pack('rt4', [[1, '10.1.2.0/24'], [1, '10.1.2.0/25'], [1, '10.1.2.128/25']]);
    assert.deepEqual([...withProbe().exactMany(p, 0, p.count).found], [1, 0, 0]);
    const v = withProbe().exactMany(p, 0, 1).values;
    assert.deepEqual([v.readUInt32LE(0), v.readUInt16LE(4), v[6]], [2, 1, 24], 'next hop 2, proxy flag, plen 24');
    const h = pack('host4', [[5, '10.9.11.183/32'], [5, '10.9.11.184/32'], [1, '10.1.2.3/32']]);
    assert.deepEqual([...withProbe().exactMany(h, 0, h.count).found], [1, 0, 0], 'a host key covered by a prefix is not an exact route');
    const h6 = pack('host6', [[1, 'fd00:9::5/128'], [1, 'fd00:1::6/128']]);
    const r6 = withProbe().exactMany(h6, 0, h6.count);
    assert.deepEqual([...r6.found], [1, 0]);
    assert.deepEqual([r6.values.readUInt32LE(0), r6.values.readUInt16LE(4), r6.values[6]], [1, 1, 128], 'from vr_host6: next hop 1, proxy flag, plen 128');
    assert.equal(r6.values[12 + 6], 64, 'the covering fd00:1::/64 answers the absent host route');
  });

  it('host routes live in the host hashes only, prefixes in the tries only', () => {
    assert.equal(m.vr_host4.count(), 3000);
    assert.equal(m.vr_host6.count(), 3);
    assert.equal(m.vr_rt4.count(), 4);
    assert.equal(m.vr_rt6.count(), 3);
  });
});
