/**
 * vr_rt_probe (many route lookups per BPF_PROG_TEST_RUN) answers exactly
 * what one bpf_map_lookup_elem per key answers: the longest match's value,
 * which RouteTable.exactMany turns into "this exact route exists".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { privateNetns } from '../helpers/private-netns.ts';
import { OBJECT, openTestDatapath } from '../helpers/datapath.ts';
import { route } from '../helpers/specs.ts';
import { RoutePack, RouteTable } from '../../src/maps/tables/route-table.ts';
import { RouteProbe } from '../../src/maps/tables/route-probe.ts';
import type { Family } from '../../src/manager/model.ts';

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
  await t.mgr.addRoutes(routes);
  const p = RouteProbe.open(OBJECT, t.dp.maps);
  assert.ok(p, 'the object has vr_rt_probe');
  probe = p;
});
after(() => {
  probe.close();
  t.dispose();
});

function pack(family: Family, prefixes: [number, string][]): RoutePack {
  const p = new RoutePack(family, prefixes.length);
  for (const [vrf, prefix] of prefixes) p.push(route(vrf, prefix, 0));
  return p;
}

describe('route probe', () => {
  const withProbe = () => new RouteTable(t.dp.maps.vr_rt4, t.dp.maps.vr_rt6, probe);
  const perKey = () => new RouteTable(t.dp.maps.vr_rt4, t.dp.maps.vr_rt6);
  const cases: [Family, [number, string][]][] = [
    [4, [[1, '10.1.0.0/16'], [1, '10.1.2.0/24'], [1, '10.1.2.0/25'], [1, '10.1.3.0/24'], [2, '10.1.2.0/24'], [2, '10.1.0.0/16'], [1, '0.0.0.0/0'], [7, '10.1.0.0/16']]],
    [6, [[1, 'fd00:1::/64'], [1, 'fd00:1::/48'], [1, 'fd00:1::/56'], [3, '::/0'], [3, 'fd00::/8'], [1, 'fd00:2::/64']]],
    [4, Array.from({ length: 3100 }, (_, i) => [5, `10.9.${i >> 8}.${i & 255}/32`] as [number, string])],
  ];
  for (const [family, prefixes] of cases)
    it(`IPv${family}: ${prefixes.length} keys, exact and covering, answered alike by the probe and one lookup per key`, () => {
      const p = pack(family, prefixes);
      const a = withProbe().exactMany(p, 0, p.count);
      const b = perKey().exactMany(p, 0, p.count);
      assert.deepEqual([...a.found], [...b.found]);
      for (let i = 0; i < p.count; i++) if (a.found[i]) assert.deepEqual(a.values.subarray(i * 12, i * 12 + 12), b.values.subarray(i * 12, i * 12 + 12));
    });
  it('what it says exists is exactly the programmed routes', () => {
    const p = pack(4, [[1, '10.1.2.0/24'], [1, '10.1.2.0/25'], [1, '10.1.2.128/25'], [5, '10.9.11.183/32'], [5, '10.9.11.184/32']]);
    assert.deepEqual([...withProbe().exactMany(p, 0, p.count).found], [1, 0, 0, 1, 0]);
    const v = withProbe().exactMany(p, 0, 1).values;
    assert.deepEqual([v.readUInt32LE(0), v.readUInt16LE(4), v[6]], [2, 1, 24], 'next hop 2, proxy flag, plen 24');
  });
});
