/**
 * Host routes (layout v4) through the real datapath, on both entries (XDP
 * and TC), with BPF_PROG_TEST_RUN: a /32 or /128 lives in the exact-match
 * hash (vr_host4 / vr_host6), looked up before the trie. The hash's route
 * wins over a covering prefix, a host route of another VRF never matches,
 * proxy ARP / ND answer from it, and once it is deleted (or before it is
 * added) the covering prefix of the trie answers again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { HOOKS, openTestDatapath, XDP_DROP, XDP_REDIRECT } from '../helpers/datapath.ts';
import { arpReply, arpRequest, eth, ipv4, ipv6, neighborAdvert, neighborSolicitation, udp } from '../helpers/packets.ts';
import { ifindexOf } from '../../src/bpf/netdev.ts';
import { encodeRouteKey } from '../../src/maps/codecs.ts';
import type { DatapathManager } from '../../src/manager/datapath-manager.ts';
import type { PinnedDatapath } from '../../src/maps/pinned-datapath.ts';
import { encapNh, route as rt, routeKey, vif as vifOf } from '../helpers/specs.ts';

const POD = '02:aa:00:00:00:01';
const VIF1_MAC = '02:00:00:00:01:01';
const VIF2_MAC = '02:00:00:00:02:01';
const VIF3_MAC = '02:00:00:00:03:01';
const VIF4_MAC = '02:00:00:00:04:01';
/** next hop 12: the covering prefixes' (vif 2); 13: the host routes' (vif 3) */
const NH12_MAC = '02:aa:00:00:00:12';
const NH13_MAC = '02:aa:00:00:00:13';

let t: ReturnType<typeof openTestDatapath>;
let mgr: DatapathManager;
let dp: PinnedDatapath;

const payload = () => udp(1000, 2000, Buffer.alloc(18));
const udp4 = (dst: string, mac = VIF1_MAC) => eth(mac, POD, 0x0800, ipv4('10.1.1.2', dst, 17, payload()));
const udp6 = (dst: string) => eth(VIF1_MAC, POD, 0x86dd, ipv6('fd00:1::2', dst, 17, payload()));
/** what a frame becomes out of vif 2 (nh 12) or vif 3 (nh 13) */
const out4 = (dst: string, nh: 12 | 13) =>
  eth(nh === 12 ? NH12_MAC : NH13_MAC, nh === 12 ? VIF2_MAC : VIF3_MAC, 0x0800, ipv4('10.1.1.2', dst, 17, payload(), { ttl: 63 }));
const out6 = (dst: string, nh: 12 | 13) => eth(nh === 12 ? NH12_MAC : NH13_MAC, nh === 12 ? VIF2_MAC : VIF3_MAC, 0x86dd, ipv6('fd00:1::2', dst, 17, payload(), 63));

before(async () => {
  privateNetns();
  for (const [a, b] of [['h1', 'hq1'], ['h2', 'hq2'], ['h3', 'hq3'], ['h4', 'hq4']]) vethPair(a!, b!);
  t = openTestDatapath();
  mgr = t.mgr;
  dp = t.dp;
  const vif = (index: number, name: string, vrf: number, mac: string) => mgr.addInterface(vifOf({ index, type: 'virtual', name, vrf, mac, hookPolicy: 'xdp' }));
  await vif(1, 'h1', 1, VIF1_MAC);
  await vif(2, 'h2', 1, VIF2_MAC);
  await vif(3, 'h3', 1, VIF3_MAC);
  await vif(4, 'h4', 2, VIF4_MAC); // VRF 2
  await mgr.addNextHop(encapNh(12, 1, 2, NH12_MAC));
  await mgr.addNextHop(encapNh(13, 1, 3, NH13_MAC));
  await mgr.addRoutes([
    rt(1, '10.2.0.0/16', 12),
    rt(1, '10.2.0.7/32', 13, true),
    rt(1, 'fd00:2::/48', 12),
    rt(1, 'fd00:2::7/128', 13, true),
    // VRF 2: host routes only; VRF 1 has none for these addresses
    rt(2, '10.2.0.9/32', 13),
    rt(2, 'fd00:2::9/128', 13),
  ]);
});

after(() => t.dispose());

function run(hook: (typeof HOOKS)[number], frame: Buffer, on = 'h1') {
  return hook.prog(dp).testRun({ data: frame, ingressIfindex: ifindexOf(on) });
}

describe('host routes live in the hashes, prefixes in the tries', () => {
  it('each route in the map its length says, and only there', () => {
    const m = dp.maps;
    assert.deepEqual([m.vr_host4.count(), m.vr_host6.count(), m.vr_rt4.count(), m.vr_rt6.count()], [2, 2, 1, 1]);
    const lpm = encodeRouteKey(rt(1, '10.2.0.7/32', 0));
    assert.equal(m.vr_rt4.lookup(lpm)?.[6], 16, 'the trie has only the covering /16');
    assert.equal(m.vr_host4.lookup(lpm.subarray(4))?.readUInt32LE(0), 13, 'the hash keys it by vrf + address');
    assert.deepEqual(
      [mgr.mapUsage().vr_host4, mgr.mapUsage().vr_rt4, mgr.mapUsage().vr_host6, mgr.mapUsage().vr_rt6],
      [2, 1, 2, 1],
      'usage counted per map',
    );
  });
});

for (const hook of HOOKS)
  describe(`${hook.name}: host routes before the trie`, () => {
    it('the /32 and /128 in the hash win over the covering prefix; their neighbours take the prefix', () => {
      for (const [frame, out] of [
        [udp4('10.2.0.7'), out4('10.2.0.7', 13)],
        [udp4('10.2.0.8'), out4('10.2.0.8', 12)],
        [udp6('fd00:2::7'), out6('fd00:2::7', 13)],
        [udp6('fd00:2::8'), out6('fd00:2::8', 12)],
      ] as const) {
        const r = run(hook, frame);
        assert.equal(r.retval, hook.verdict(XDP_REDIRECT));
        assert.equal(r.data.toString('hex'), out.toString('hex'));
      }
    });

    it('a host route of another VRF does not match: the covering prefix of the arrival VRF answers, or nothing', () => {
      // 10.2.0.9/32 and fd00:2::9/128 are VRF 2's: from VRF 1 the /16 and /48 answer
      assert.equal(run(hook, udp4('10.2.0.9')).data.toString('hex'), out4('10.2.0.9', 12).toString('hex'));
      assert.equal(run(hook, udp6('fd00:2::9')).data.toString('hex'), out6('fd00:2::9', 12).toString('hex'));
      // from VRF 2 (vif 4), VRF 1's host route is not there and VRF 2 has no prefix
      const before = mgr.dropStats().find((d) => d.name === 'no_route')!.packets;
      assert.equal(run(hook, udp4('10.2.0.7', VIF4_MAC), 'h4').retval, hook.verdict(XDP_DROP));
      assert.equal(mgr.dropStats().find((d) => d.name === 'no_route')!.packets - before, 1n, 'counted as no_route');
    });

    it('proxy ARP / ND answer from the hash; an address the prefix covers is not proxied', () => {
      const arp = run(hook, arpRequest(POD, '10.1.1.2', '10.2.0.7'));
      assert.equal(arp.retval, hook.verdict(XDP_REDIRECT));
      assert.equal(arp.data.toString('hex'), arpReply(VIF1_MAC, '10.2.0.7', POD, '10.1.1.2').toString('hex'));
      const nd = run(hook, neighborSolicitation(POD, 'fd00:1::2', 'fd00:2::7'));
      assert.equal(nd.retval, hook.verdict(XDP_REDIRECT));
      assert.equal(nd.data.toString('hex'), neighborAdvert(VIF1_MAC, 'fd00:2::7', POD, 'fd00:1::2').toString('hex'));
      assert.equal(run(hook, arpRequest(POD, '10.1.1.2', '10.2.0.8')).retval, hook.verdict(XDP_DROP), 'the /16 has no proxy flag');
    });

    it('deleted, the host route gives way to the covering prefix; added again, it wins again; an update moves it', async () => {
      await mgr.deleteRoutes([routeKey(1, '10.2.0.7/32'), routeKey(1, 'fd00:2::7/128')]);
      try {
        assert.equal(dp.maps.vr_host4.count(), 1, 'gone from the hash');
        assert.equal(run(hook, udp4('10.2.0.7')).data.toString('hex'), out4('10.2.0.7', 12).toString('hex'));
        assert.equal(run(hook, udp6('fd00:2::7')).data.toString('hex'), out6('fd00:2::7', 12).toString('hex'));
      } finally {
        await mgr.addRoutes([rt(1, '10.2.0.7/32', 13, true), rt(1, 'fd00:2::7/128', 13, true)]);
      }
      assert.equal(run(hook, udp4('10.2.0.7')).data.toString('hex'), out4('10.2.0.7', 13).toString('hex'));
      await mgr.updateRoute(rt(1, '10.2.0.7/32', 12, true));
      try {
        assert.equal(run(hook, udp4('10.2.0.7')).data.toString('hex'), out4('10.2.0.7', 12).toString('hex'), 'the hash entry rewritten in place');
      } finally {
        await mgr.updateRoute(rt(1, '10.2.0.7/32', 13, true));
      }
    });
  });
