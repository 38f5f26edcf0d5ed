/**
 * Host egress packet tests: the tcx egress entry of the host vif
 * (vr_tc_egress, bpf/lib/host_egress.h) run with BPF_PROG_TEST_RUN on skbs
 * as the host's stack sends them out of its vhost interface (the skb's
 * device is the host vif's interface, no arrival interface): routed to a
 * local pod with the MACs rewritten, into a tunnel out of the fabric, the
 * host's ARP for a pod answered up into the host, an oversize packet
 * answered with ICMP; what the datapath does not know, and what came in
 * through a vif (the datapath saw it on arrival), goes on untouched. In a
 * private network namespace whose routes and neighbours bpf_fib_lookup
 * reads (as in tunnel-datapath.test.ts). Frames compared byte by byte.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { openTestDatapath, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT } from '../helpers/datapath.ts';
import { BPF_F_TEST_SKB_CHECKSUM_COMPLETE } from '../../src/bpf/program.ts';
import { arp, arpRequest, csum16, eth, ipv4, ipv6, neighborAdvert, neighborSolicitation, udp } from '../helpers/packets.ts';
import { fragNeeded, mplsOverUdp, packetTooBig, tunSport, type Outer } from '../helpers/tunnel-frames.ts';
import { ifindexOf, netdev } from '../../src/bpf/netdev.ts';
import { formatMac } from '../../src/manager/net-addr.ts';
import type { DropReasonName } from '../../src/maps/drop-reasons.ts';
import type { DatapathManager } from '../../src/manager/datapath-manager.ts';
import type { PinnedDatapath } from '../../src/maps/pinned-datapath.ts';
import { encapNh, route as rt, tunnelNh, vif as vifOf } from '../helpers/specs.ts';

const HOST_VIF = 50;
const POD_VIF = 1;
const FABRIC_VIF = 10;
const POD1 = '02:aa:00:00:00:01';
const VIF1_MAC = '02:00:00:00:01:01';
const VHOST_MAC = '02:00:00:00:50:01'; // the host vif's MAC (the proxy answers with it)
const GW_MAC = '02:fe:00:00:00:01';
const FABRIC_IP = '192.0.2.1';
const HOST_IP = '192.0.2.1'; // the host's address it sends from (its fabric's)
const VHOST_IP = '10.0.0.1'; // the host vif's address (the host's too)
const HOST_IP6 = 'fd00:ff::1';
let VH_MAC = ''; // the vhost interface's kernel MAC: the source of what the host sends out of it
let FAB_MAC = '';

let t: ReturnType<typeof openTestDatapath>;
let mgr: DatapathManager;
let dp: PinnedDatapath;

const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });

function drops(): Map<string, bigint> {
  return new Map(mgr.dropStats().map((d) => [d.name, d.packets]));
}
const moved = (before: Map<string, bigint>) => [...drops()].filter(([n, v]) => v !== before.get(n)).map(([n]) => n);

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

/** df: the IPv4 packet of a frame with DF set (header checksum fixed) */
function df(frame: Buffer): Buffer {
  const f = Buffer.from(frame);
  f.writeUInt16BE(0x4000, 14 + 6);
  f.writeUInt16BE(0, 14 + 10);
  f.writeUInt16BE(csum16(f.subarray(14, 34)), 14 + 10);
  return f;
}

const out4 = (dst: string, len = 18) => ipv4(HOST_IP, dst, 17, udp(1000, 2000, Buffer.alloc(len, 0x5a)));
const out6 = (dst: string) => ipv6(HOST_IP6, dst, 17, udp(1000, 2000, Buffer.alloc(18, 0x5a)));
/** fromHost: a frame as the host's stack sends it out of the vhost interface (to the neighbour MAC the proxy gave it) */
const fromHost = (l3: Buffer) => eth(VHOST_MAC, VH_MAC, l3[0]! >> 4 === 6 ? 0x86dd : 0x0800, l3);
const outer = (dst: string): Outer => ({ dmac: GW_MAC, smac: FAB_MAC, src: FABRIC_IP, dst });

/** egress: a run of the egress entry on `device` (default: the vhost interface), the packet made by the host (no arrival interface) */
function egress(frame: Buffer, o: { device?: string; arrivedOn?: string; flags?: number } = {}) {
  return dp.egress.testRun({
    data: frame,
    device: ifindexOf(o.device ?? 'hv0'),
    ingressIfindex: o.arrivedOn ? ifindexOf(o.arrivedOn) : 0,
    outSize: frame.length + 256,
    ...(o.flags ? { flags: o.flags } : {}),
  });
}

before(async () => {
  privateNetns();
  for (const [a, b] of [['hv0', 'hv1'], ['tp1', 'tq1'], ['tf0', 'tf1']]) vethPair(a!, b!);
  for (const d of ['tf0', 'tf1']) sh('sysctl', '-qw', `net.ipv6.conf.${d}.disable_ipv6=1`);
  sh('sysctl', '-qw', 'net.ipv4.conf.tf0.forwarding=1');
  sh('ip', 'addr', 'add', `${FABRIC_IP}/24`, 'dev', 'tf0');
  sh('ip', 'link', 'set', 'tf1', 'up');
  sh('ip', 'link', 'set', 'tf0', 'up');
  sh('ip', 'route', 'add', '198.51.100.0/24', 'via', '192.0.2.254', 'dev', 'tf0');
  sh('ip', 'neigh', 'replace', '192.0.2.254', 'lladdr', GW_MAC, 'dev', 'tf0', 'nud', 'permanent');
  FAB_MAC = formatMac(netdev('tf0')!.mac);
  VH_MAC = formatMac(netdev('hv0')!.mac);

  t = openTestDatapath();
  mgr = t.mgr;
  dp = t.dp;
  // the host vif and the fabric in VRF 0 (the fabric VRF), the pod in VRF 1; VRF 0 reaches the pod and the remote pods
  await mgr.addInterface(vifOf({ index: HOST_VIF, type: 'host', name: 'hv0', vrf: 0, mac: VHOST_MAC, ip4: VHOST_IP, ip6: HOST_IP6, hookPolicy: 'tc' }));
  await mgr.addInterface(vifOf({ index: POD_VIF, type: 'virtual', name: 'tp1', vrf: 1, mac: VIF1_MAC, hookPolicy: 'tc' }));
  await mgr.addInterface(vifOf({ index: FABRIC_VIF, type: 'fabric', name: 'tf0', vrf: 0, ip4: FABRIC_IP, hookPolicy: 'tc' }));
  await mgr.addNextHop(encapNh(11, 0, POD_VIF, POD1));
  await mgr.addNextHop(tunnelNh(20, 0, { type: 'mplsoudp', src: FABRIC_IP, dst: '198.51.100.7', label: 1000, vifIndex: FABRIC_VIF }));
  await mgr.addNextHop({ id: 30, vrf: 0, kind: 'discard' });
  await mgr.addRoutes([
    rt(0, '10.1.1.2/32', 11, true),
    rt(0, 'fd00:1:1::2/128', 11, true),
    rt(0, '10.2.0.0/16', 20),
    rt(0, 'fd00:2::/64', 20),
    rt(0, '10.9.0.0/16', 30),
  ]);
});

after(() => t.dispose());

interface Case {
  name: string;
  frame: () => Buffer;
  run?: (f: Buffer) => ReturnType<typeof egress>;
  verdict: number;
  /** the output frame (default: the input, untouched) */
  out?: () => Buffer;
  drop?: DropReasonName;
  /** host vif counters that move by one (rx: taken by the datapath; toHost: passed on) */
  hostRx: boolean;
  hostToHost?: boolean;
  txVif?: number;
}

const cases: Case[] = [
  {
    name: 'to a local pod (IPv4): redirected to the pod vif with its MACs, TTL decremented',
    frame: () => fromHost(out4('10.1.1.2')),
    verdict: TC_ACT_REDIRECT,
    out: () => eth(POD1, VIF1_MAC, 0x0800, decTtl(out4('10.1.1.2'))),
    hostRx: true,
    txVif: POD_VIF,
  },
  {
    name: 'to a local pod (IPv6): the same, hop limit decremented',
    frame: () => fromHost(out6('fd00:1:1::2')),
    verdict: TC_ACT_REDIRECT,
    out: () => eth(POD1, VIF1_MAC, 0x86dd, decTtl(out6('fd00:1:1::2'))),
    hostRx: true,
    txVif: POD_VIF,
  },
  {
    name: 'to a remote pod: MPLSoUDP out of the fabric (outer MACs from the FIB, label 1000, inner TTL 63)',
    frame: () => fromHost(out4('10.2.0.5')),
    verdict: TC_ACT_REDIRECT,
    out: () => mplsOverUdp(outer('198.51.100.7'), tunSport(out4('10.2.0.5')), 1000, 63, decTtl(out4('10.2.0.5'))),
    hostRx: true,
    txVif: FABRIC_VIF,
  },
  {
    name: 'DF and too big for the tunnel: ICMP fragmentation needed (MTU 1468) up into the host, from the destination (never from an address of the host: a martian to it)',
    frame: () => df(fromHost(out4('10.2.0.5', 1480 - 28))),
    verdict: TC_ACT_REDIRECT,
    out: () => fragNeeded(VH_MAC, VHOST_MAC, '10.2.0.5', df(fromHost(out4('10.2.0.5', 1480 - 28))).subarray(14), 1468, { tc: true }),
    drop: 'frag_needed',
    hostRx: true,
    txVif: HOST_VIF,
  },
  {
    name: 'IPv6 too big for the tunnel: ICMPv6 packet too big (MTU 1468) up into the host, from the destination',
    frame: () => fromHost(ipv6(HOST_IP6, 'fd00:2::5', 17, udp(1000, 2000, Buffer.alloc(1480 - 48, 0x5a)))),
    verdict: TC_ACT_REDIRECT,
    out: () => packetTooBig(VH_MAC, VHOST_MAC, 'fd00:2::5', ipv6(HOST_IP6, 'fd00:2::5', 17, udp(1000, 2000, Buffer.alloc(1480 - 48, 0x5a))), 1468, { tc: true }),
    drop: 'frag_needed',
    hostRx: true,
    txVif: HOST_VIF,
  },
  {
    name: "a route to a DISCARD next hop: dropped, as from any vif",
    frame: () => fromHost(out4('10.9.0.5')),
    verdict: TC_ACT_SHOT,
    drop: 'discard',
    hostRx: true,
  },
  {
    name: 'no route in the host VRF: goes on out of the interface untouched (counted to_host on the host vif)',
    frame: () => fromHost(out4('10.77.0.1')),
    verdict: TC_ACT_OK,
    hostRx: true,
    hostToHost: true,
  },
  {
    name: 'multicast goes on untouched',
    frame: () => eth('01:00:5e:00:00:fb', VH_MAC, 0x0800, ipv4(HOST_IP, '224.0.0.251', 17, udp(5353, 5353, Buffer.alloc(18)))),
    verdict: TC_ACT_OK,
    hostRx: true,
    hostToHost: true,
  },
  {
    name: "the host's ARP request for a proxied pod address: answered with the host vif's MAC, up into the host",
    frame: () => arpRequest(VH_MAC, HOST_IP, '10.1.1.2'),
    verdict: TC_ACT_REDIRECT,
    out: () => arp(2, VH_MAC, VHOST_MAC, '10.1.1.2', VH_MAC, HOST_IP),
    hostRx: true,
    txVif: HOST_VIF,
  },
  {
    name: 'an ARP request for an address the datapath does not proxy goes on untouched',
    frame: () => arpRequest(VH_MAC, HOST_IP, '10.77.0.1'),
    verdict: TC_ACT_OK,
    hostRx: true,
    hostToHost: true,
  },
  {
    name: "the host's neighbour solicitation for a proxied pod address: a solicited advertisement with the host vif's MAC, up into the host",
    frame: () => neighborSolicitation(VH_MAC, HOST_IP6, 'fd00:1:1::2'),
    verdict: TC_ACT_REDIRECT,
    out: () => neighborAdvert(VHOST_MAC, 'fd00:1:1::2', VH_MAC, HOST_IP6),
    hostRx: true,
    txVif: HOST_VIF,
  },
  {
    name: 'a neighbour solicitation the proxy does not answer goes on untouched (not dropped)',
    frame: () => neighborSolicitation(VH_MAC, HOST_IP6, 'fd00:77::1'),
    verdict: TC_ACT_OK,
    hostRx: true,
    hostToHost: true,
  },
  {
    name: "the host's duplicate-address detection (from ::) goes on untouched",
    frame: () => neighborSolicitation(VH_MAC, '::', 'fd00:1:1::2'),
    verdict: TC_ACT_OK,
    hostRx: true,
    hostToHost: true,
  },
  {
    name: 'a packet that came in through a vif (the datapath saw it on arrival) and that the host routes here: untouched, not counted',
    frame: () => fromHost(out4('10.1.1.2')),
    run: (f) => egress(f, { arrivedOn: 'tp1' }),
    verdict: TC_ACT_OK,
    hostRx: false,
  },
  {
    name: 'a packet that came in on an interface that is no vif: looked up like one the host made',
    frame: () => fromHost(out4('10.1.1.2')),
    run: (f) => egress(f, { arrivedOn: 'tf1' }),
    verdict: TC_ACT_REDIRECT,
    out: () => eth(POD1, VIF1_MAC, 0x0800, decTtl(out4('10.1.1.2'))),
    hostRx: true,
    txVif: POD_VIF,
  },
  {
    name: 'the entry on an interface that is not a host vif (a pod vif): untouched, not counted',
    frame: () => fromHost(out4('10.1.1.2')),
    run: (f) => egress(f, { device: 'tp1' }),
    verdict: TC_ACT_OK,
    hostRx: false,
  },
  {
    name: 'the entry on an interface that is no vif at all: untouched',
    frame: () => fromHost(out4('10.1.1.2')),
    run: (f) => egress(f, { device: 'tq1' }),
    verdict: TC_ACT_OK,
    hostRx: false,
  },
];

describe('TC egress of the host vif (vr_tc_egress)', () => {
  for (const c of cases)
    it(c.name, () => {
      const d0 = drops();
      const h0 = mgr.interfaceStats(HOST_VIF);
      const tx0 = c.txVif ? mgr.interfaceStats(c.txVif).txPackets : 0n;
      const frame = c.frame();
      const r = (c.run ?? egress)(frame);
      assert.equal(r.retval, c.verdict, `verdict (drops moved: ${moved(d0).join(', ') || 'none'})`);
      assert.deepEqual(moved(d0), c.drop ? [c.drop] : [], 'drop counters');
      assert.equal(r.data.toString('hex'), (c.out ?? c.frame)().toString('hex'), 'output frame');
      const h1 = mgr.interfaceStats(HOST_VIF);
      assert.equal(h1.rxPackets - h0.rxPackets, c.hostRx ? 1n : 0n, 'host vif rx');
      assert.equal(h1.toHost - h0.toHost, c.hostToHost ? 1n : 0n, 'host vif to_host');
      if (c.txVif) assert.equal(mgr.interfaceStats(c.txVif).txPackets - tx0, 1n, `tx counter of vif ${c.txVif}`);
    });

  it('a CHECKSUM_COMPLETE skb to a pod and into a tunnel: skb->csum still right', () => {
    for (const dst of ['10.1.1.2', '10.2.0.5'])
      assert.equal(egress(fromHost(out4(dst)), { flags: BPF_F_TEST_SKB_CHECKSUM_COMPLETE }).retval, TC_ACT_REDIRECT, dst);
  });

  it('the ingress entry on the same interface still takes packets as arrivals (not as the host egress)', () => {
    // an ARP request arriving on the host vif goes to the host, as before (the egress answers it instead)
    const r = dp.tc.testRun({ data: arpRequest(VH_MAC, HOST_IP, '10.1.1.2'), ingressIfindex: ifindexOf('hv0') });
    assert.equal(r.retval, TC_ACT_OK);
  });
});

describe('the host vif and its egress link', () => {
  it('a host vif gets a tcx egress link running vr_tc_egress, pinned; a pod vif does not', () => {
    const link = mgr.vifs.egressLinkOf(HOST_VIF)?.info();
    assert.ok(link, 'egress link');
    assert.equal(link.progId, dp.egress.info().id);
    assert.equal(link.ifindex, ifindexOf('hv0'));
    assert.equal(mgr.vifs.egressLinkOf(POD_VIF), undefined);
  });
});
