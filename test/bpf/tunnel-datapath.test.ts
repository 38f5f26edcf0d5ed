/**
 * Tunnel packet tests: every encapsulation (MPLSoUDP, MPLSoGRE, VXLAN; IPv4
 * and IPv6 inner) and every decapsulation through BOTH entries of the real
 * datapath with BPF_PROG_TEST_RUN, in a private network namespace whose
 * kernel routes and neighbours bpf_fib_lookup reads: a fabric veth with
 * 192.0.2.1/24, a route to the remote underlay through 192.0.2.254 with a
 * permanent neighbour, a route through 192.0.2.253 with none (neighbour
 * resolution), and no route at all to 100.64.0.0/10. Expected frames are
 * built field by field in test/helpers/tunnel-frames.ts and compared byte
 * by byte, outer headers, checksums and the UDP source port's hash
 * included; each case also says which drop counter moves (one, or none).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { HOOKS, openTestDatapath, TC_ACT_REDIRECT, TC_ACT_SHOT, XDP_DROP, XDP_PASS, XDP_REDIRECT } from '../helpers/datapath.ts';
import { BPF_F_TEST_SKB_CHECKSUM_COMPLETE } from '../../src/bpf/program.ts';
import { eth, ipv4, ipv6, udp, arpRequest, csum16 } from '../helpers/packets.ts';
import { fragNeeded, mplsOverGre, mplsOverUdp, packetTooBig, tunSport, vxlan, type Outer } from '../helpers/tunnel-frames.ts';
import { ifindexOf, netdev } from '../../src/bpf/netdev.ts';
import { formatMac } from '../../src/manager/net-addr.ts';
import { readTunnelCounters } from '../../src/maps/tables/tunnel-counters.ts';
import { readFlowCounters } from '../../src/maps/tables/flow-counters.ts';
import type { DropReasonName } from '../../src/maps/drop-reasons.ts';
import type { DatapathManager } from '../../src/manager/datapath-manager.ts';
import type { PinnedDatapath } from '../../src/maps/pinned-datapath.ts';
import { encapNh, route as rt, tunnelNh, vif as vifOf } from '../helpers/specs.ts';
import { parseIp } from '../../src/manager/net-addr.ts';

const POD1 = '02:aa:00:00:00:01';
const POD2 = '02:aa:00:00:00:02';
const POD3 = '02:aa:00:00:00:03';
const POD4 = '02:aa:00:00:00:04';
const VIF1_MAC = '02:00:00:00:01:01';
const VIF2_MAC = '02:00:00:00:02:01';
const VIF3_MAC = '02:00:00:00:03:01';
const VIF4_MAC = '02:00:00:00:04:01';
const GW_MAC = '02:fe:00:00:00:01'; // 192.0.2.254, the underlay's next hop (a permanent neighbour)
const PEER_MAC = '02:fe:00:00:00:02'; // a remote host's fabric, sending us tunnelled frames
const INNER_DMAC = '02:bb:00:00:00:09'; // the remote vxlan device's MAC (inner destination)
const FABRIC_IP = '192.0.2.1';
const VR_META_PASSED = 0x76725031; // bpf/lib/datapath.h
let FAB_MAC = '';

let t: ReturnType<typeof openTestDatapath>;
let mgr: DatapathManager;
let dp: PinnedDatapath;

const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });

function drops(): Map<string, bigint> {
  return new Map(mgr.dropStats().map((d) => [d.name, d.packets]));
}

/** df: the IPv4 packet of a frame with DF set (header checksum fixed) */
function df(frame: Buffer): Buffer {
  const f = Buffer.from(frame);
  f.writeUInt16BE(0x4000, 14 + 6);
  f.writeUInt16BE(0, 14 + 10);
  f.writeUInt16BE(csum16(f.subarray(14, 34)), 14 + 10);
  return f;
}

/** decTtl: the IP packet with its TTL / hop limit one less (IPv4: checksum recomputed) */
function decTtl(l3: Buffer): Buffer {
  const p = Buffer.from(l3);
  if (p[0]! >> 4 === 6) {
    p[7]!--;
    return p;
  }
  p[8]!--;
  p.writeUInt16BE(0, 10);
  p.writeUInt16BE(csum16(p.subarray(0, 20)), 10);
  return p;
}

const in4 = (dst: string, len = 18, ttl = 64) => ipv4('10.1.1.2', dst, 17, udp(1000, 2000, Buffer.alloc(len, 0x5a)), { ttl });
const in6 = (dst: string, len = 18, hop = 64) => ipv6('fd00:1:1::2', dst, 17, udp(1000, 2000, Buffer.alloc(len, 0x5a)), hop);
const fromPod = (l3: Buffer) => eth(VIF1_MAC, POD1, l3[0]! >> 4 === 6 ? 0x86dd : 0x0800, l3);
const outer = (dst: string): Outer => ({ dmac: GW_MAC, smac: FAB_MAC, src: FABRIC_IP, dst });
const toUs = (): Outer => ({ dmac: FAB_MAC, smac: PEER_MAC, src: '198.51.100.7', dst: FABRIC_IP });

interface Case {
  name: string;
  on: string;
  frame: () => Buffer;
  verdict: number;
  drop?: DropReasonName;
  out?: (hook: 'XDP' | 'TC') => Buffer;
  txVif?: number;
  setup?: () => unknown;
  teardown?: () => unknown;
}

before(async () => {
  privateNetns();
  for (const [a, b] of [['tp1', 'tq1'], ['tp2', 'tq2'], ['tp3', 'tq3'], ['tp4', 'tq4'], ['tp5', 'tq5'], ['tf0', 'tf1']]) vethPair(a!, b!);
  // the fabric: up (the FIB has no connected route on a down device), no IPv6 chatter through the program
  for (const d of ['tf0', 'tf1']) sh('sysctl', '-qw', `net.ipv6.conf.${d}.disable_ipv6=1`);
  // bpf_fib_lookup answers only for a device that forwards (this namespace's own setting)
  sh('sysctl', '-qw', 'net.ipv4.conf.tf0.forwarding=1');
  sh('ip', 'addr', 'add', `${FABRIC_IP}/24`, 'dev', 'tf0');
  sh('ip', 'link', 'set', 'tf1', 'up');
  sh('ip', 'link', 'set', 'tf0', 'up');
  sh('ip', 'route', 'add', '198.51.100.0/24', 'via', '192.0.2.254', 'dev', 'tf0');
  sh('ip', 'neigh', 'replace', '192.0.2.254', 'lladdr', GW_MAC, 'dev', 'tf0', 'nud', 'permanent');
  sh('ip', 'route', 'add', '203.0.113.0/24', 'via', '192.0.2.253', 'dev', 'tf0'); // no neighbour: resolved by the kernel
  FAB_MAC = formatMac(netdev('tf0')!.mac);

  t = openTestDatapath();
  mgr = t.mgr;
  dp = t.dp;
  const vif = (index: number, name: string, vrf: number, mac: string, extra: { policyEnabled?: boolean; hookPolicy?: 'tc' } = {}) =>
    mgr.addInterface(vifOf({ index, type: 'virtual', name, vrf, mac, hookPolicy: 'xdp', ...extra }));
  await vif(1, 'tp1', 1, VIF1_MAC);
  await vif(2, 'tp2', 1, VIF2_MAC);
  await vif(3, 'tp3', 2, VIF3_MAC);
  await vif(4, 'tp4', 1, VIF4_MAC, { policyEnabled: true });
  await vif(5, 'tp5', 1, '02:00:00:00:05:01', { hookPolicy: 'tc' });
  await mgr.addInterface(vifOf({ index: 10, type: 'fabric', name: 'tf0', vrf: 0, ip4: FABRIC_IP, hookPolicy: 'xdp' }));

  await mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
  await mgr.addNextHop(encapNh(12, 1, 2, POD2));
  await mgr.addNextHop(encapNh(13, 2, 3, POD3));
  await mgr.addNextHop(encapNh(14, 1, 4, POD4));
  await mgr.addNextHop(encapNh(15, 1, 5, '02:aa:00:00:00:05'));
  await mgr.addNextHop(tunnelNh(20, 1, { type: 'mplsoudp', src: FABRIC_IP, dst: '198.51.100.7', label: 1000, vifIndex: 10 }));
  await mgr.addNextHop(tunnelNh(21, 1, { type: 'mplsogre', src: FABRIC_IP, dst: '198.51.100.8', label: 2000, vifIndex: 10 }));
  await mgr.addNextHop(tunnelNh(22, 1, { type: 'vxlan', src: FABRIC_IP, dst: '198.51.100.9', label: 5001, vifIndex: 10, innerDmac: INNER_DMAC }));
  await mgr.addNextHop(tunnelNh(23, 1, { type: 'mplsoudp', src: FABRIC_IP, dst: '203.0.113.5', label: 1000, vifIndex: 10 }));
  await mgr.addNextHop(tunnelNh(24, 1, { type: 'mplsoudp', src: FABRIC_IP, dst: '100.64.0.1', label: 1000, vifIndex: 10 }));
  await mgr.addNextHop({ id: 30, vrf: 2, kind: 'vrf' });
  await mgr.addRoutes([
    rt(1, '10.2.0.0/16', 20),
    rt(1, 'fd00:2::/64', 20),
    { ...rt(1, '10.3.0.0/16', 20), label: 3333 },
    rt(1, '10.4.0.0/16', 21),
    rt(1, 'fd00:4::/64', 21),
    rt(1, '10.5.0.0/16', 22),
    rt(1, 'fd00:5::/64', 22),
    rt(1, '10.6.0.0/16', 23),
    rt(1, '10.7.0.0/16', 24),
    rt(1, '10.8.0.0/16', 30), // a VRF next hop from a pod: routed again in VRF 2
    rt(2, '10.9.0.0/16', 13),
    rt(2, '10.8.0.0/24', 13),
    rt(2, 'fd00:9::/64', 13),
  ]);
  await mgr.addDecap('mpls', { key: 100, nhId: 12 });
  await mgr.addDecap('mpls', { key: 101, nhId: 1 });
  await mgr.addDecap('mpls', { key: 102, nhId: 14 });
  await mgr.addDecap('mpls', { key: 103, nhId: 15 });
  await mgr.addDecap('vxlan', { key: 5001, nhId: 30 });
  await mgr.addDecap('vxlan', { key: 5002, nhId: 12 });
});

// the private namespace, its veths and links vanish with the process
after(() => t.dispose());

/** encapCases: a pod's packet routed into each tunnel */
const encapCases: Case[] = [];
for (const [fam, inner, dstOf] of [['IPv4', in4, (n: number) => `10.${n}.0.5`], ['IPv6', in6, (n: number) => `fd00:${n}::5`]] as const) {
  encapCases.push(
    {
      name: `MPLSoUDP, ${fam} inner: outer Ethernet from the FIB (gateway's MAC), IPv4 DF TTL 64, UDP to 6635 from the flow hash, label 1000 S=1 TTL 63`,
      on: 'tp1',
      frame: () => fromPod(inner(dstOf(2))),
      verdict: XDP_REDIRECT,
      out: () => mplsOverUdp(outer('198.51.100.7'), tunSport(inner(dstOf(2))), 1000, 63, decTtl(inner(dstOf(2)))),
      txVif: 10,
    },
    {
      name: `MPLSoGRE, ${fam} inner: GRE 0x8847 without options, label 2000`,
      on: 'tp1',
      frame: () => fromPod(inner(dstOf(4))),
      verdict: XDP_REDIRECT,
      out: () => mplsOverGre(outer('198.51.100.8'), 2000, 63, decTtl(inner(dstOf(4)))),
      txVif: 10,
    },
    {
      name: `VXLAN, ${fam} inner: UDP to 4789, I flag, VNI 5001, the inner frame to the remote device's MAC from the fabric's`,
      on: 'tp1',
      frame: () => fromPod(inner(dstOf(5))),
      verdict: XDP_REDIRECT,
      out: () =>
        vxlan(outer('198.51.100.9'), tunSport(inner(dstOf(5))), 5001, eth(INNER_DMAC, FAB_MAC, fam === 'IPv4' ? 0x0800 : 0x86dd, decTtl(inner(dstOf(5))))),
      txVif: 10,
    },
  );
}
encapCases.push(
  {
    name: "the route's label overrides the next hop's (3333, not 1000)",
    on: 'tp1',
    frame: () => fromPod(in4('10.3.0.5')),
    verdict: XDP_REDIRECT,
    out: () => mplsOverUdp(outer('198.51.100.7'), tunSport(in4('10.3.0.5')), 3333, 63, decTtl(in4('10.3.0.5'))),
    txVif: 10,
  },
  {
    name: 'another flow gets another UDP source port (hash of the 5-tuple)',
    on: 'tp1',
    frame: () => fromPod(ipv4('10.1.1.3', '10.2.0.5', 17, udp(1001, 2000, Buffer.alloc(18, 0x5a)))),
    verdict: XDP_REDIRECT,
    out: () => {
      const l3 = ipv4('10.1.1.3', '10.2.0.5', 17, udp(1001, 2000, Buffer.alloc(18, 0x5a)));
      assert.notEqual(tunSport(l3), tunSport(in4('10.2.0.5')), 'the test flows hash apart');
      return mplsOverUdp(outer('198.51.100.7'), tunSport(l3), 1000, 63, decTtl(l3));
    },
    txVif: 10,
  },
  { name: 'TTL 1 is not sent into the tunnel', on: 'tp1', frame: () => fromPod(in4('10.2.0.5', 18, 1)), verdict: XDP_DROP, drop: 'ttl_exceeded' },
  { name: 'no route to the remote end in the kernel FIB', on: 'tp1', frame: () => fromPod(in4('10.7.0.5')), verdict: XDP_DROP, drop: 'tunnel_no_route' },
  {
    name: 'fabric vif disabled',
    on: 'tp1',
    frame: () => fromPod(in4('10.2.0.5')),
    verdict: XDP_DROP,
    drop: 'interface_tx_down',
    setup: () => mgr.updateInterface(10, { disabled: true }),
    teardown: () => mgr.updateInterface(10, { disabled: false }),
  },
  {
    name: 'fabric link operationally down (rtnetlink)',
    on: 'tp1',
    frame: () => fromPod(in4('10.2.0.5')),
    verdict: XDP_DROP,
    drop: 'interface_link_down',
    setup: () => mgr.setLinkState(10, true),
    teardown: () => mgr.setLinkState(10, false),
  },
  {
    // 1480 + 32 = 1512 > 1500: answered with the MTU left for the inner packet
    name: 'IPv4 with DF too big for the path once encapsulated: ICMP fragmentation needed (MTU 1468) back out of the arrival vif',
    on: 'tp1',
    frame: () => df(fromPod(in4('10.2.0.5', 1480 - 28))),
    verdict: XDP_REDIRECT,
    drop: 'frag_needed',
    out: (hook) => fragNeeded(POD1, VIF1_MAC, '10.2.0.5', df(fromPod(in4('10.2.0.5', 1480 - 28))).subarray(14), 1468, { tc: hook === 'TC' }),
    txVif: 1,
  },
  {
    name: 'VXLAN: the MTU left is 1450',
    on: 'tp1',
    frame: () => df(fromPod(in4('10.5.0.5', 1460 - 28))),
    verdict: XDP_REDIRECT,
    drop: 'frag_needed',
    out: (hook) => fragNeeded(POD1, VIF1_MAC, '10.5.0.5', df(fromPod(in4('10.5.0.5', 1460 - 28))).subarray(14), 1450, { tc: hook === 'TC' }),
    txVif: 1,
  },
  {
    name: 'IPv6 too big: ICMPv6 packet too big (MTU 1468) from the destination, back out of the arrival vif',
    on: 'tp1',
    frame: () => fromPod(in6('fd00:2::5', 1480 - 48)),
    verdict: XDP_REDIRECT,
    drop: 'frag_needed',
    out: (hook) => packetTooBig(POD1, VIF1_MAC, 'fd00:2::5', in6('fd00:2::5', 1480 - 48), 1468, { tc: hook === 'TC' }),
    txVif: 1,
  },
  {
    // a pod's vif carries the pod's own address: an error from it would be a martian to the pod
    name: 'the arrival vif carries the sender\'s own address: fragmentation needed comes from the destination instead',
    on: 'tp1',
    frame: () => df(fromPod(in4('10.2.0.5', 1480 - 28))),
    verdict: XDP_REDIRECT,
    drop: 'frag_needed',
    out: (hook) => fragNeeded(POD1, VIF1_MAC, '10.2.0.5', df(fromPod(in4('10.2.0.5', 1480 - 28))).subarray(14), 1468, { tc: hook === 'TC' }),
    txVif: 1,
    setup: () => mgr.updateInterface(1, { ip4: Buffer.from([10, 1, 1, 2]), ip6: Buffer.from('fd000001000100000000000000000002', 'hex') }),
    teardown: () => mgr.updateInterface(1, { ip4: Buffer.alloc(0), ip6: Buffer.alloc(0) }),
  },
  {
    name: 'the same for IPv6: packet too big from the destination, not from the sender\'s own address',
    on: 'tp1',
    frame: () => fromPod(in6('fd00:2::5', 1480 - 48)),
    verdict: XDP_REDIRECT,
    drop: 'frag_needed',
    out: (hook) => packetTooBig(POD1, VIF1_MAC, 'fd00:2::5', in6('fd00:2::5', 1480 - 48), 1468, { tc: hook === 'TC' }),
    txVif: 1,
    setup: () => mgr.updateInterface(1, { ip4: Buffer.from([10, 1, 1, 2]), ip6: Buffer.from('fd000001000100000000000000000002', 'hex') }),
    teardown: () => mgr.updateInterface(1, { ip4: Buffer.alloc(0), ip6: Buffer.alloc(0) }),
  },
  { name: 'IPv4 without DF too big: dropped (the datapath does not fragment)', on: 'tp1', frame: () => fromPod(in4('10.2.0.5', 1480 - 28)), verdict: XDP_DROP, drop: 'mtu_exceeded' },
  {
    name: 'a VRF next hop from a pod: routed again in its VRF (VRF 2, to pod 3)',
    on: 'tp1',
    frame: () => fromPod(in4('10.8.0.5')),
    verdict: XDP_REDIRECT,
    out: () => eth(POD3, VIF3_MAC, 0x0800, decTtl(in4('10.8.0.5'))),
    txVif: 3,
  },
  {
    name: 'a VRF next hop whose VRF has no route for the packet',
    on: 'tp1',
    frame: () => fromPod(in4('10.8.1.5')),
    verdict: XDP_DROP,
    drop: 'no_route',
  },
);

/** decapCases: tunnelled frames arriving on the fabric */
const decapCases: Case[] = [];
for (const [fam, inner, dst2, dst9, type] of [
  ['IPv4', in4, '10.1.2.5', '10.9.0.5', 0x0800],
  ['IPv6', in6, 'fd00:1:2::5', 'fd00:9::5', 0x86dd],
] as const) {
  decapCases.push(
    {
      name: `MPLSoUDP label 100, ${fam} inner, to pod 2: outer headers gone, MACs rewritten, TTL decremented`,
      on: 'tf0',
      frame: () => mplsOverUdp(toUs(), 50000, 100, 63, inner(dst2)),
      verdict: XDP_REDIRECT,
      out: () => eth(POD2, VIF2_MAC, type, decTtl(inner(dst2))),
      txVif: 2,
    },
    {
      name: `MPLSoGRE label 100, ${fam} inner, to pod 2`,
      on: 'tf0',
      frame: () => mplsOverGre(toUs(), 100, 63, inner(dst2)),
      verdict: XDP_REDIRECT,
      out: () => eth(POD2, VIF2_MAC, type, decTtl(inner(dst2))),
      txVif: 2,
    },
    {
      name: `VXLAN VNI 5002, ${fam} inner frame, to pod 2`,
      on: 'tf0',
      frame: () => vxlan(toUs(), 50001, 5002, eth(FAB_MAC, PEER_MAC, type, inner(dst2))),
      verdict: XDP_REDIRECT,
      out: () => eth(POD2, VIF2_MAC, type, decTtl(inner(dst2))),
      txVif: 2,
    },
    {
      name: `VXLAN VNI 5001 leads to a VRF next hop: ${fam} routed in VRF 2, to pod 3`,
      on: 'tf0',
      frame: () => vxlan(toUs(), 50001, 5001, eth(FAB_MAC, PEER_MAC, type, inner(dst9))),
      verdict: XDP_REDIRECT,
      out: () => eth(POD3, VIF3_MAC, type, decTtl(inner(dst9))),
      txVif: 3,
    },
  );
}
decapCases.push(
  {
    name: 'label 101 leads to a RECEIVE next hop: the inner packet to the host stack, with the outer MACs',
    on: 'tf0',
    frame: () => mplsOverUdp(toUs(), 50000, 101, 63, in4('10.1.0.1')),
    verdict: XDP_PASS,
    out: () => eth(FAB_MAC, PEER_MAC, 0x0800, in4('10.1.0.1')),
  },
  { name: 'a label not in the table', on: 'tf0', frame: () => mplsOverUdp(toUs(), 50000, 999, 63, in4('10.1.2.5')), verdict: XDP_DROP, drop: 'invalid_label' },
  {
    name: 'a stack of labels (bottom-of-stack clear)',
    on: 'tf0',
    frame: () => mplsOverUdp(toUs(), 50000, 100, 63, in4('10.1.2.5'), { bottom: false }),
    verdict: XDP_DROP,
    drop: 'invalid_label',
  },
  {
    name: 'a VNI not in the table goes to the kernel untouched (a Linux vxlan device may own it)',
    on: 'tf0',
    frame: () => vxlan(toUs(), 50001, 7777, eth(FAB_MAC, PEER_MAC, 0x0800, in4('10.1.2.5'))),
    verdict: XDP_PASS,
    out: () => vxlan(toUs(), 50001, 7777, eth(FAB_MAC, PEER_MAC, 0x0800, in4('10.1.2.5'))),
  },
  {
    name: 'VXLAN without its I flag',
    on: 'tf0',
    frame: () => vxlan(toUs(), 50001, 5002, eth(FAB_MAC, PEER_MAC, 0x0800, in4('10.1.2.5')), { flags: 0 }),
    verdict: XDP_DROP,
    drop: 'invalid_tunnel',
  },
  {
    name: 'VXLAN carrying ARP (no bridge table yet)',
    on: 'tf0',
    frame: () => vxlan(toUs(), 50001, 5002, arpRequest(PEER_MAC, '10.1.9.9', '10.1.2.5')),
    verdict: XDP_DROP,
    drop: 'invalid_protocol',
  },
  {
    name: 'GRE with a flag (a key)',
    on: 'tf0',
    frame: () => mplsOverGre(toUs(), 100, 63, in4('10.1.2.5'), { greFlags: 0x2000 }),
    verdict: XDP_DROP,
    drop: 'invalid_tunnel',
  },
  {
    name: 'a tunnelled frame to another address is not ours: to the host',
    on: 'tf0',
    frame: () => mplsOverUdp({ ...toUs(), dst: '192.0.2.99' }, 50000, 100, 63, in4('10.1.2.5')),
    verdict: XDP_PASS,
    out: () => mplsOverUdp({ ...toUs(), dst: '192.0.2.99' }, 50000, 100, 63, in4('10.1.2.5')),
  },
  {
    name: 'VNI 5001 to an address VRF 2 has no route for',
    on: 'tf0',
    frame: () => vxlan(toUs(), 50001, 5001, eth(FAB_MAC, PEER_MAC, 0x0800, in4('10.99.0.1'))),
    verdict: XDP_DROP,
    drop: 'no_route',
  },
);

function runCase(hook: (typeof HOOKS)[number], c: Case): void {
  it(c.name, async () => {
    await c.setup?.();
    try {
      const before = drops();
      const txBefore = c.txVif ? mgr.interfaceStats(c.txVif).txPackets : 0n;
      const frame = c.frame();
      const r = hook.prog(dp).testRun({ data: frame, ingressIfindex: ifindexOf(c.on), outSize: frame.length + 256 });
      const after = drops();
      const moved = [...after].filter(([name, n]) => n !== before.get(name)).map(([name]) => name);
      assert.equal(r.retval, hook.verdict(c.verdict), `verdict (drops moved: ${moved.join(', ') || 'none'})`);
      for (const [name, n] of after) assert.equal(n - before.get(name)!, name === c.drop ? 1n : 0n, `drop counter ${name}`);
      // what XDP passes to the kernel carries the "passed" mark in its metadata, which the test run returns first
      const data = hook.name === 'XDP' && c.verdict === XDP_PASS && r.data.readUInt32LE(0) === VR_META_PASSED ? r.data.subarray(4) : r.data;
      if (c.out) assert.equal(data.toString('hex'), c.out(hook.name).toString('hex'), 'output frame');
      if (c.txVif) assert.equal(mgr.interfaceStats(c.txVif).txPackets - txBefore, 1n, `tx counter of vif ${c.txVif}`);
    } finally {
      await c.teardown?.();
    }
  });
}

for (const hook of HOOKS) {
  describe(`${hook.name}: encapsulation (TUNNEL next hops)`, () => {
    for (const c of encapCases) runCase(hook, c);
  });
  describe(`${hook.name}: decapsulation on the fabric vif`, () => {
    for (const c of decapCases) runCase(hook, c);
  });
}

const tcpSeg = (dst: string, len: number) => {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(1000, 0);
  h.writeUInt16BE(2000, 2);
  h.writeUInt32BE(0x01020304, 4);
  h[12] = 0x50;
  h[13] = 0x10;
  return ipv4('10.1.1.2', dst, 6, Buffer.concat([h, Buffer.alloc(len, 1)]));
};
const tun = () => readTunnelCounters(dp.maps.vr_tctr);
const moved = (before: Map<string, bigint>) => [...drops()].filter(([n, v]) => v !== before.get(n)).map(([n]) => n);

describe('an unresolved underlay neighbour: the kernel resolves it, then sends', () => {
  const frame = () => fromPod(in4('10.6.0.5'));
  it('XDP hands the packet, untouched and uncounted, to its device\'s TC entry', () => {
    const s0 = mgr.interfaceStats(1);
    const d0 = drops();
    const r = dp.xdp.testRun({ data: frame(), ingressIfindex: ifindexOf('tp1') });
    assert.equal(r.retval, XDP_PASS);
    assert.equal(r.data.toString('hex'), frame().toString('hex'), 'untouched, no "passed" mark: TC forwards it');
    const s1 = mgr.interfaceStats(1);
    assert.deepEqual([s1.rxPackets - s0.rxPackets, s1.toHost - s0.toHost], [0n, 0n], 'TC counts it');
    assert.deepEqual(moved(d0), []);
  });
  it('TC encapsulates and redirects through the kernel\'s neighbour code (bpf_redirect_neigh), counted', () => {
    const n0 = tun().neigh;
    const d0 = drops();
    const r = dp.tc.testRun({ data: frame(), ingressIfindex: ifindexOf('tp1'), outSize: 256 });
    assert.equal(r.retval, TC_ACT_REDIRECT);
    assert.equal(tun().neigh - n0, 1n);
    assert.deepEqual(moved(d0), []);
    // the outer headers are there; the kernel writes the MACs once 192.0.2.253 answers
    const want = mplsOverUdp(outer('203.0.113.5'), tunSport(in4('10.6.0.5')), 1000, 63, decTtl(in4('10.6.0.5')));
    assert.equal(r.data.subarray(12).toString('hex'), want.subarray(12).toString('hex'));
  });
});

describe('the fabric with IPv4 forwarding off (the kernel answers no lookup for it)', () => {
  for (const hook of HOOKS)
    it(`${hook.name}: dropped as fabric_forwarding_off`, () => {
      sh('sysctl', '-qw', 'net.ipv4.conf.tf0.forwarding=0');
      try {
        const d0 = drops();
        const r = hook.prog(dp).testRun({ data: fromPod(in4('10.2.0.5')), ingressIfindex: ifindexOf('tp1') });
        assert.equal(r.retval, hook.verdict(XDP_DROP));
        assert.deepEqual(moved(d0), ['fabric_forwarding_off']);
      } finally {
        sh('sysctl', '-qw', 'net.ipv4.conf.tf0.forwarding=1');
      }
    });
});

describe('TC keeps the skb consistent through encap, decap and answers', () => {
  const run = (on: string, data: Buffer, extra: { flags?: number; gso?: { size: number; segs: number } } = {}) =>
    dp.tc.testRun({ data, ingressIfindex: ifindexOf(on), outSize: data.length + 256, ...extra });

  // the kernel checks skb->csum after a CHECKSUM_COMPLETE run (EBADMSG when it is wrong)
  for (const [name, on, frame, verdict] of [
    ['encapsulated (MPLSoUDP)', 'tp1', () => fromPod(in4('10.2.0.5')), TC_ACT_REDIRECT],
    ['encapsulated (VXLAN, IPv6 inner)', 'tp1', () => fromPod(in6('fd00:5::5')), TC_ACT_REDIRECT],
    ['decapsulated (MPLSoUDP)', 'tf0', () => mplsOverUdp(toUs(), 50000, 100, 63, in4('10.1.2.5')), TC_ACT_REDIRECT],
    ['decapsulated (VXLAN, IPv6 inner)', 'tf0', () => vxlan(toUs(), 50001, 5002, eth(FAB_MAC, PEER_MAC, 0x86dd, in6('fd00:1:2::5'))), TC_ACT_REDIRECT],
    // (an ICMP answer is not in this list: the cut to its quote leaves the skb CHECKSUM_NONE, which is
    // right, but the test run compares skb->csum whatever the skb's state)
  ] as const)
    it(`${name} from a CHECKSUM_COMPLETE skb: skb->csum still right`, () => {
      assert.equal(run(on, frame(), { flags: BPF_F_TEST_SKB_CHECKSUM_COMPLETE }).retval, verdict);
    });

  it('the tunnel counters move: one encapsulated, one decapsulated', () => {
    const c0 = tun();
    run('tp1', fromPod(in4('10.2.0.5')));
    run('tf0', mplsOverUdp(toUs(), 50000, 100, 63, in4('10.1.2.5')));
    const c1 = tun();
    assert.deepEqual([c1.encap - c0.encap, c1.decap - c0.decap], [1n, 1n]);
  });

  it('a GSO skb whose segments do not fit the path even without the encapsulation: fragmentation needed with the MTU left, no longer GSO', () => {
    // segments of 1480 + 28 > 1500: the sender must use segments of at most 1450 (VXLAN)
    const f = df(fromPod(tcpSeg('10.5.0.5', 2960)));
    const d0 = drops();
    const r = run('tp1', f, { gso: { size: 1480, segs: 2 } });
    assert.equal(r.retval, TC_ACT_REDIRECT);
    assert.deepEqual(moved(d0), ['frag_needed']);
    assert.equal(r.data.toString('hex'), fragNeeded(POD1, VIF1_MAC, '10.5.0.5', f.subarray(14), 1450, { tc: true }).toString('hex'));
  });

  // A GSO skb whose segments fit (with or without the encapsulation) keeps its GSO through
  // bpf_skb_adjust_room (encap flags, FIXED_GSO or gso_size lowered): the end-to-end TCP test
  // (test/e2e/tunnel-gso.test.ts) shows it with real TSO skbs. The test run cannot make one:
  // __sk_buff has no gso_type, and adjust_room refuses a GSO skb that is not TCP (ENOTSUPP).
  it('the kernel\'s test run cannot make a TCP GSO skb: adjust_room refuses its GSO, counted as tunnel_encap_failed', () => {
    const d0 = drops();
    const r = run('tp1', df(fromPod(tcpSeg('10.2.0.5', 2800))), { gso: { size: 1400, segs: 2 } });
    assert.equal(r.retval, TC_ACT_SHOT);
    assert.deepEqual(moved(d0), ['tunnel_encap_failed'], 'if this changes, the kernel can test-run TCP GSO skbs: assert the encapsulation here');
  });
});

describe('decap to a vif on the TC hook, from XDP', () => {
  it('XDP hands the tunnelled frame up untouched; TC decaps and delivers it', () => {
    const f = mplsOverUdp(toUs(), 50000, 103, 63, in4('10.1.5.5'));
    const x = dp.xdp.testRun({ data: f, ingressIfindex: ifindexOf('tf0') });
    assert.equal(x.retval, XDP_PASS);
    assert.equal(x.data.toString('hex'), f.toString('hex'));
    const t = dp.tc.testRun({ data: f, ingressIfindex: ifindexOf('tf0') });
    assert.equal(t.retval, TC_ACT_REDIRECT);
    assert.equal(t.data.toString('hex'), eth('02:aa:00:00:00:05', '02:00:00:00:05:01', 0x0800, decTtl(in4('10.1.5.5'))).toString('hex'));
  });
});

describe('flows after a decap (label to a vif with policy)', () => {
  for (const hook of HOOKS)
    it(`${hook.name}: the first packet is held under the next hop's VRF; once the flow is set it is delivered`, async () => {
      const src = hook.name === 'XDP' ? '10.1.9.1' : '10.1.9.2';
      const l3 = ipv4(src, '10.1.4.5', 17, udp(3000, 4000, Buffer.alloc(18, 7)));
      const f = mplsOverUdp(toUs(), 50000, 102, 63, l3);
      const m0 = readFlowCounters(dp.maps.vr_fctr).misses;
      const r1 = hook.prog(dp).testRun({ data: f, ingressIfindex: ifindexOf('tf0') });
      assert.equal(r1.retval, hook.verdict(XDP_DROP), 'held');
      assert.equal(readFlowCounters(dp.maps.vr_fctr).misses - m0, 1n, 'one miss reported');
      const key = { vrf: 1, family: 4 as const, proto: 17, src: parseIp(src, 's').bytes, dst: parseIp('10.1.4.5', 'd').bytes, sport: 3000, dport: 4000 };
      assert.equal(mgr.flows.get(key).flow.action, 'hold', 'a HOLD entry keyed by the inner packet in VRF 1');
      await mgr.setFlow({ key, action: 'forward' });
      const r2 = hook.prog(dp).testRun({ data: f, ingressIfindex: ifindexOf('tf0'), outSize: f.length + 64 });
      assert.equal(r2.retval, hook.verdict(XDP_REDIRECT));
      assert.equal(r2.data.toString('hex'), eth(POD4, VIF4_MAC, 0x0800, decTtl(l3)).toString('hex'));
      await mgr.deleteFlow(key);
    });
});
