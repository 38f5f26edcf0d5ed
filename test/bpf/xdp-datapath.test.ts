/**
 * Packet tests: crafted frames through the real datapath with
 * BPF_PROG_TEST_RUN, in a private network namespace, through BOTH entries
 * of the object: vr_xdp_vif (xdp_md context) and vr_tc_vif (__sk_buff
 * context on the arrival veth). Each case names its frame, the verdict (in
 * XDP terms; the TC run expects the matching TC_ACT_*), and either the exact
 * output frame (checksums included) or the drop reason whose counter must
 * move by one (and no other).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { HOOKS, openTestDatapath, TC_ACT_REDIRECT, TC_ACT_SHOT, XDP_DROP, XDP_PASS, XDP_REDIRECT } from '../helpers/datapath.ts';
import { BPF_F_TEST_SKB_CHECKSUM_COMPLETE } from '../../src/bpf/program.ts';
import {
  arpReply, arpRequest, eth, icmpEcho, ip, ipv4, ipv6, neighborAdvert, neighborSolicitation, udp,
} from '../helpers/packets.ts';
import { ifindexOf } from '../../src/bpf/netdev.ts';
import { NH, encodeRouteKey, encodeRt, nhValue, u32Key } from '../../src/maps/codecs.ts';
import { NhType } from '../../src/maps/layout.ts';
import type { DropReasonName } from '../../src/maps/drop-reasons.ts';
import type { DatapathManager } from '../../src/manager/datapath-manager.ts';
import { encapNh, route as rt, vif as vifOf } from '../helpers/specs.ts';
import type { PinnedDatapath } from '../../src/maps/pinned-datapath.ts';

const POD1 = '02:aa:00:00:00:01';
const POD2 = '02:aa:00:00:00:02';
const VIF1_MAC = '02:00:00:00:01:01';
const VIF2_MAC = '02:00:00:00:02:01';
const FAB_MAC = '02:00:00:00:03:01';

type Frame = Buffer;
interface Case {
  name: string;
  on: string;
  frame: Frame;
  verdict: number;
  drop?: DropReasonName;
  out?: Frame;
  txVif?: number;
  setup?: () => unknown;
  teardown?: () => unknown;
}

let t: ReturnType<typeof openTestDatapath>;
let mgr: DatapathManager;
let dp: PinnedDatapath;

function drops(): Map<string, bigint> {
  return new Map(mgr.dropStats().map((d) => [d.name, d.packets]));
}

function udp4(src: string, dst: string, opts: { ttl?: number; len?: number } = {}): Frame {
  return eth(VIF1_MAC, POD1, 0x0800, ipv4(src, dst, 17, udp(1000, 2000, Buffer.alloc(opts.len ?? 18)), { ttl: opts.ttl ?? 64 }));
}

function udp6(src: string, dst: string, hop = 64): Frame {
  return eth(VIF1_MAC, POD1, 0x86dd, ipv6(src, dst, 17, udp(1000, 2000, Buffer.alloc(18)), hop));
}

before(async () => {
  privateNetns();
  for (const [a, b] of [['p1', 'q1'], ['p2', 'q2'], ['p3', 'q3'], ['p4', 'q4'], ['p5', 'q5']]) vethPair(a!, b!);
  t = openTestDatapath();
  mgr = t.mgr;
  dp = t.dp;
  // on the XDP hook: a next hop to a vif on TC makes the XDP entry hand the packet to TC (tested apart, vif 5)
  const vif = (index: number, name: string, type: 'virtual' | 'fabric', vrf: number, mac: string, extra: { mtu?: number; disabled?: boolean; hookPolicy?: 'tc' } = {}) =>
    mgr.addInterface(vifOf({ index, type, name, vrf, mac, hookPolicy: 'xdp', ...extra }));
  await vif(1, 'p1', 'virtual', 1, VIF1_MAC);
  await vif(2, 'p2', 'virtual', 1, VIF2_MAC, { mtu: 1400 });
  await vif(3, 'p3', 'fabric', 0, FAB_MAC);
  await vif(4, 'p4', 'virtual', 1, '02:00:00:00:04:01', { disabled: true });
  await vif(5, 'p5', 'virtual', 1, '02:00:00:00:05:01', { hookPolicy: 'tc' });
  await mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
  await mgr.addNextHop(encapNh(11, 1, 1, POD1));
  await mgr.addNextHop(encapNh(12, 1, 2, POD2));
  await mgr.addNextHop(encapNh(15, 1, 5, '02:aa:00:00:00:05'));
  await mgr.addRoutes([
    rt(1, '10.1.0.1/32', 1, true),
    rt(1, '10.1.1.2/32', 11, true),
    rt(1, '10.1.2.0/24', 12),
    rt(1, '10.1.2.128/25', 0),
    rt(1, 'fd00:1::1/128', 1, true),
    rt(1, 'fd00:1:1::2/128', 11, true),
    rt(1, 'fd00:1:2::/64', 12),
    rt(1, '10.1.5.0/24', 15),
  ]);
  // states the API refuses to create, written straight into the maps
  dp.maps.vr_nexthops.update(u32Key(50), NH.encode(nhValue({ type: NhType.COMPOSITE, vrf: 1 })));
  dp.maps.vr_rt4.update(encodeRouteKey({ vrf: 1, addr: ip('10.1.50.0'), plen: 24 }), encodeRt({ nhId: 50, flags: 0, plen: 24, label: 0 }));
  dp.maps.vr_rt4.update(encodeRouteKey({ vrf: 1, addr: ip('10.1.77.0'), plen: 24 }), encodeRt({ nhId: 77, flags: 0, plen: 24, label: 0 }));
});

// the private namespace, its veths and the XDP links on them vanish with the process
after(() => t.dispose());

const cases: Case[] = [
  {
    name: 'IPv4 to a pod: MAC rewrite, TTL 64→63, checksum fixed, redirect to vif 2',
    on: 'p1',
    frame: udp4('10.1.1.2', '10.1.2.5'),
    verdict: XDP_REDIRECT,
    out: eth(POD2, VIF2_MAC, 0x0800, ipv4('10.1.1.2', '10.1.2.5', 17, udp(1000, 2000, Buffer.alloc(18)), { ttl: 63 })),
    txVif: 2,
  },
  {
    name: 'IPv6 to a pod: MAC rewrite, hop limit 64→63, redirect',
    on: 'p1',
    frame: udp6('fd00:1:1::2', 'fd00:1:2::5'),
    verdict: XDP_REDIRECT,
    out: eth(POD2, VIF2_MAC, 0x86dd, ipv6('fd00:1:1::2', 'fd00:1:2::5', 17, udp(1000, 2000, Buffer.alloc(18)), 63)),
    txVif: 2,
  },
  {
    name: 'ICMP echo keeps its payload through the rewrite',
    on: 'p1',
    frame: eth(VIF1_MAC, POD1, 0x0800, ipv4('10.1.1.2', '10.1.2.9', 1, icmpEcho(7))),
    verdict: XDP_REDIRECT,
    out: eth(POD2, VIF2_MAC, 0x0800, ipv4('10.1.1.2', '10.1.2.9', 1, icmpEcho(7), { ttl: 63 })),
    txVif: 2,
  },
  { name: 'longest prefix wins: /25 discard inside the /24', on: 'p1', frame: udp4('10.1.1.2', '10.1.2.200'), verdict: XDP_DROP, drop: 'discard' },
  { name: 'RECEIVE next hop passes to the host stack', on: 'p1', frame: udp4('10.1.1.2', '10.1.0.1'), verdict: XDP_PASS },
  {
    name: 'proxy ARP: request for the gateway answered with the vif MAC, out of the arrival vif',
    on: 'p1',
    frame: arpRequest(POD1, '10.1.1.2', '10.1.0.1'),
    verdict: XDP_REDIRECT,
    out: arpReply(VIF1_MAC, '10.1.0.1', POD1, '10.1.1.2'),
    txVif: 1,
  },
  {
    name: 'proxy ARP for a pod behind another vif',
    on: 'p2',
    frame: arpRequest(POD2, '10.1.2.5', '10.1.1.2'),
    verdict: XDP_REDIRECT,
    out: arpReply(VIF2_MAC, '10.1.1.2', POD2, '10.1.2.5'),
    txVif: 2,
  },
  {
    name: 'proxy ND: solicitation for the gateway answered with an advertisement (R|S|O, checksum)',
    on: 'p1',
    frame: neighborSolicitation(POD1, 'fd00:1:1::2', 'fd00:1::1'),
    verdict: XDP_REDIRECT,
    out: neighborAdvert(VIF1_MAC, 'fd00:1::1', POD1, 'fd00:1:1::2'),
    txVif: 1,
  },
  { name: 'no ARP answer for an address behind the asking vif', on: 'p1', frame: arpRequest(POD1, '10.1.1.9', '10.1.1.2'), verdict: XDP_DROP, drop: 'arp_not_proxied' },
  { name: 'no ARP answer without the proxy flag', on: 'p1', frame: arpRequest(POD1, '10.1.1.2', '10.1.2.5'), verdict: XDP_DROP, drop: 'arp_not_proxied' },
  { name: 'no ND answer without the proxy flag', on: 'p1', frame: neighborSolicitation(POD1, 'fd00:1:1::2', 'fd00:1:2::5'), verdict: XDP_DROP, drop: 'nd_not_proxied' },
  { name: 'TTL 1 is not forwarded', on: 'p1', frame: udp4('10.1.1.2', '10.1.2.5', { ttl: 1 }), verdict: XDP_DROP, drop: 'ttl_exceeded' },
  { name: 'hop limit 1 is not forwarded', on: 'p1', frame: udp6('fd00:1:1::2', 'fd00:1:2::5', 1), verdict: XDP_DROP, drop: 'ttl_exceeded' },
  { name: 'no route on a pod vif drops', on: 'p1', frame: udp4('10.1.1.2', '10.99.0.1'), verdict: XDP_DROP, drop: 'no_route' },
  { name: 'no route on the fabric goes to the host stack', on: 'p3', frame: udp4('10.1.1.2', '10.99.0.1'), verdict: XDP_PASS },
  { name: 'LLDP on the fabric goes to the host stack', on: 'p3', frame: eth('01:80:c2:00:00:0e', POD1, 0x88cc, Buffer.alloc(46)), verdict: XDP_PASS },
  { name: 'LLDP on a pod vif is an invalid protocol', on: 'p1', frame: eth('01:80:c2:00:00:0e', POD1, 0x88cc, Buffer.alloc(46)), verdict: XDP_DROP, drop: 'invalid_protocol' },
  { name: 'truncated IPv4 header', on: 'p1', frame: udp4('10.1.1.2', '10.1.2.5').subarray(0, 14 + 12), verdict: XDP_DROP, drop: 'invalid_packet' },
  {
    name: 'IPv4 total length beyond the frame',
    on: 'p1',
    frame: (() => {
      const f = udp4('10.1.1.2', '10.1.2.5');
      f.writeUInt16BE(1000, 16);
      return f;
    })(),
    verdict: XDP_DROP,
    drop: 'invalid_packet',
  },
  { name: 'arrival on a kernel interface that is not a vif', on: 'q1', frame: udp4('10.1.1.2', '10.1.2.5'), verdict: XDP_DROP, drop: 'invalid_interface' },
  { name: 'arrival on a disabled vif', on: 'p4', frame: udp4('10.1.1.2', '10.1.2.5'), verdict: XDP_DROP, drop: 'interface_down' },
  {
    name: 'output vif disabled',
    on: 'p1',
    frame: udp4('10.1.1.2', '10.1.2.5'),
    verdict: XDP_DROP,
    drop: 'interface_tx_down',
    setup: () => mgr.updateInterface(2, { disabled: true }),
    teardown: () => mgr.updateInterface(2, { disabled: false }),
  },
  {
    name: 'output vif operationally down (rtnetlink): counted, not lost in a redirect',
    on: 'p1',
    frame: udp4('10.1.1.2', '10.1.2.5'),
    verdict: XDP_DROP,
    drop: 'interface_link_down',
    setup: () => mgr.setLinkState(2, true),
    teardown: () => mgr.setLinkState(2, false),
  },
  {
    name: 'an MTU change of the output vif reaches its next hops at once',
    on: 'p1',
    frame: udp4('10.1.1.2', '10.1.2.5', { len: 100 }),
    verdict: XDP_DROP,
    drop: 'mtu_exceeded',
    setup: () => mgr.updateInterface(2, { mtu: 68 }),
    teardown: () => mgr.updateInterface(2, { mtu: 1400 }),
  },
  { name: 'larger than the output vif MTU (1400)', on: 'p1', frame: udp4('10.1.1.2', '10.1.2.5', { len: 1400 }), verdict: XDP_DROP, drop: 'mtu_exceeded' },
  // 6000 bytes: beyond one page, so XDP gets a multi-buffer frame (xdp.frags) whose linear part ends
  // before the IP packet does; its length comes from every fragment
  { name: 'a multi-buffer frame larger than the output vif MTU', on: 'p1', frame: udp4('10.1.1.2', '10.1.2.5', { len: 6000 }), verdict: XDP_DROP, drop: 'mtu_exceeded' },
  {
    name: 'a multi-buffer frame within the output vif MTU is forwarded whole',
    on: 'p1',
    frame: udp4('10.1.1.2', '10.1.2.5', { len: 6000 }),
    verdict: XDP_REDIRECT,
    out: eth(POD2, VIF2_MAC, 0x0800, ipv4('10.1.1.2', '10.1.2.5', 17, udp(1000, 2000, Buffer.alloc(6000)), { ttl: 63 })),
    txVif: 2,
    setup: () => mgr.updateInterface(2, { mtu: 9000 }),
    teardown: () => mgr.updateInterface(2, { mtu: 1400 }),
  },
  { name: 'IPv4 multicast', on: 'p1', frame: udp4('10.1.1.2', '224.0.0.5'), verdict: XDP_DROP, drop: 'multicast' },
  { name: 'IPv6 multicast', on: 'p1', frame: udp6('fd00:1:1::2', 'ff02::1'), verdict: XDP_DROP, drop: 'multicast' },
  { name: 'route to a next hop that does not exist', on: 'p1', frame: udp4('10.1.1.2', '10.1.77.1'), verdict: XDP_DROP, drop: 'invalid_nexthop' },
  { name: 'route to a next-hop kind not run yet (composite)', on: 'p1', frame: udp4('10.1.1.2', '10.1.50.1'), verdict: XDP_DROP, drop: 'unsupported_nexthop' },
];

for (const hook of HOOKS)
describe(`${hook.name} datapath (BPF_PROG_TEST_RUN)`, () => {
  for (const c of cases) {
    if (!hook.runnable(c.frame)) {
      // the skb test run refuses these frames (a cut IP header, or more than a page): the XDP run covers
      // the case; here the refusal itself is checked, so that a kernel that starts taking them shows up
      it(`${c.name}: the kernel's skb test run refuses the frame (EINVAL)`, () => {
        assert.throws(() => hook.prog(dp).testRun({ data: c.frame, ingressIfindex: ifindexOf(c.on) }), /EINVAL/);
      });
      continue;
    }
    it(c.name, async () => {
      await c.setup?.();
      try {
        const before = drops();
        const txBefore = c.txVif ? mgr.interfaceStats(c.txVif).txPackets : 0n;
        const r = hook.prog(dp).testRun({ data: c.frame, ingressIfindex: ifindexOf(c.on) });
        assert.equal(r.retval, hook.verdict(c.verdict), 'verdict');
        const after = drops();
        for (const [name, n] of after) {
          const want = name === c.drop ? 1n : 0n;
          assert.equal(n - before.get(name)!, want, `drop counter ${name}`);
        }
        if (c.out) assert.equal(r.data.toString('hex'), c.out.toString('hex'), 'output frame');
        if (c.txVif) assert.equal(mgr.interfaceStats(c.txVif).txPackets - txBefore, 1n, `tx counter of vif ${c.txVif}`);
      } finally {
        await c.teardown?.();
      }
    });
  }

  it('drop counters are per CPU, and their sum is the total', () => {
    const cpus = dp.maps.vr_drops.valueBytes / 8;
    for (const d of mgr.dropStats()) {
      assert.equal(d.perCpu.length, cpus, d.name);
      assert.equal(d.perCpu.reduce((a, b) => a + b, 0n), d.packets, d.name);
    }
    assert.ok(mgr.dropStats().some((d) => d.packets > 0n), 'the cases above dropped something');
  });

  it('counts received packets and bytes per vif', () => {
    const s0 = mgr.interfaceStats(1);
    const f = udp4('10.1.1.2', '10.1.2.5');
    hook.prog(dp).testRun({ data: f, ingressIfindex: ifindexOf('p1') });
    const s1 = mgr.interfaceStats(1);
    assert.equal(s1.rxPackets - s0.rxPackets, 1n);
    assert.equal(s1.rxBytes - s0.rxBytes, BigInt(f.length));
  });
});

describe('to a vif on the TC hook', () => {
  it('the XDP entry hands the frame up untouched and uncounted; the TC entry of the same device forwards it', () => {
    const f = udp4('10.1.1.2', '10.1.5.9');
    const s0 = mgr.interfaceStats(1);
    const x = dp.xdp.testRun({ data: f, ingressIfindex: ifindexOf('p1') });
    assert.equal(x.retval, XDP_PASS, 'XDP_PASS: the skb path');
    assert.deepEqual(x.data, f, 'not rewritten (TC does it)');
    const s1 = mgr.interfaceStats(1);
    assert.deepEqual([s1.rxPackets - s0.rxPackets, s1.rxBytes - s0.rxBytes, s1.toHost - s0.toHost], [0n, 0n, 0n], 'TC counts it, not XDP');
    const t = dp.tc.testRun({ data: f, ingressIfindex: ifindexOf('p1') });
    assert.equal(t.retval, TC_ACT_REDIRECT);
    assert.deepEqual(t.data, eth('02:aa:00:00:00:05', '02:00:00:00:05:01', 0x0800, ipv4('10.1.1.2', '10.1.5.9', 17, udp(1000, 2000, Buffer.alloc(18)), { ttl: 63 })));
    const s2 = mgr.interfaceStats(1);
    assert.equal(s2.rxPackets - s1.rxPackets, 1n, 'counted once, by TC');
  });
});

describe('the TC entry keeps the skb consistent', () => {
  const tcRun = (frame: Frame, extra: { flags?: number; gso?: { size: number; segs: number } } = {}) =>
    dp.tc.testRun({ data: frame, ingressIfindex: ifindexOf('p1'), outSize: frame.length + 64, ...extra });

  // a fabric NIC hands the stack CHECKSUM_COMPLETE skbs: skb->csum sums the packet from its IP
  // header, and whatever the program rewrites there must keep it right (the kernel checks it after
  // the run and answers EBADMSG if not)
  for (const [family, frame] of [['IPv4', udp4('10.1.1.2', '10.1.2.5')], ['IPv6', udp6('fd00:1:1::2', 'fd00:1:2::5')]] as const)
    it(`${family} forwarded from a CHECKSUM_COMPLETE skb: TTL / hop limit rewritten, skb->csum still right`, () => {
      const r = tcRun(frame, { flags: BPF_F_TEST_SKB_CHECKSUM_COMPLETE });
      assert.equal(r.retval, TC_ACT_REDIRECT);
      assert.equal(r.data[14 + (family === 'IPv4' ? 8 : 7)], 63, 'TTL / hop limit decremented');
    });

  it('a GSO skb larger than the output MTU is checked by its segments, as Linux forwarding does', () => {
    // vif 2's MTU is 1400: 2800 bytes of UDP payload in segments of 1300 fit, segments of 1380 do not
    const big = udp4('10.1.1.2', '10.1.2.5', { len: 2800 });
    const before = drops().get('mtu_exceeded') ?? 0n;
    assert.equal(tcRun(big, { gso: { size: 1300, segs: 3 } }).retval, TC_ACT_REDIRECT, 'segments of 1300 + headers fit 1400');
    assert.equal(tcRun(big, { gso: { size: 1380, segs: 3 } }).retval, TC_ACT_SHOT, 'segments of 1380 + 28 do not');
    assert.equal(tcRun(big).retval, TC_ACT_SHOT, 'not GSO: the packet itself is over the MTU');
    assert.equal((drops().get('mtu_exceeded') ?? 0n) - before, 2n);
  });
});
