/**
 * Bridge packet tests: L2 forwarding by the bridge (MAC) table through BOTH
 * entries of the real datapath with BPF_PROG_TEST_RUN, in a private network
 * namespace whose routes and neighbours bpf_fib_lookup reads (as
 * tunnel-datapath.test.ts). VRF 1 is an L2 VRF: pod MACs behind L2 encap
 * next hops, remote MACs behind VXLAN tunnels, a flood entry
 * (ff:ff:ff:ff:ff:ff) to a local vif (the FLOOD composite comes with the
 * composite next hops); VNI 7001 leads to it (an L2 VNI). VRF 2 has no
 * bridge entries: what it does is what it did before. Output frames are
 * compared byte by byte: a bridged frame keeps every byte, a VXLAN one
 * carries it whole as its inner frame.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { HOOKS, openTestDatapath, TC_ACT_REDIRECT, TC_ACT_SHOT, XDP_DROP, XDP_PASS, XDP_REDIRECT } from '../helpers/datapath.ts';
import { arp, arpReply, arpRequest, csum16, eth, ipv4, udp } from '../helpers/packets.ts';
import { vxlan, type Outer } from '../helpers/tunnel-frames.ts';
import { ifindexOf, netdev } from '../../src/bpf/netdev.ts';
import { formatMac } from '../../src/manager/net-addr.ts';
import { readTunnelCounters } from '../../src/maps/tables/tunnel-counters.ts';
import type { DropReasonName } from '../../src/maps/drop-reasons.ts';
import type { DatapathManager } from '../../src/manager/datapath-manager.ts';
import { DatapathError } from '../../src/manager/errors.ts';
import type { PinnedDatapath } from '../../src/maps/pinned-datapath.ts';
import { encapNh, mac, route as rt, tunnelNh, vif as vifOf } from '../helpers/specs.ts';

const POD1 = '02:aa:00:00:00:01';
const POD2 = '02:aa:00:00:00:02';
const POD5 = '02:aa:00:00:00:05';
const REMOTE = '02:bb:00:00:00:01'; // a pod behind the remote host 198.51.100.9
const REMOTE2 = '02:bb:00:00:00:02'; // ... whose entry carries its own VNI
const FAR = '02:bb:00:00:00:03'; // behind 203.0.113.5: no underlay neighbour yet
const UNKNOWN = '02:cc:00:00:00:99';
const VIF1_MAC = '02:00:00:00:01:01';
const VIF2_MAC = '02:00:00:00:02:01';
const GW_MAC = '02:fe:00:00:00:01';
const PEER_MAC = '02:fe:00:00:00:02';
const FABRIC_IP = '192.0.2.1';
const BCAST = 'ff:ff:ff:ff:ff:ff';
const VR_META_PASSED = 0x76725031;
let FAB_MAC = '';

let t: ReturnType<typeof openTestDatapath>;
let mgr: DatapathManager;
let dp: PinnedDatapath;

const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
const drops = () => new Map(mgr.dropStats().map((d) => [d.name, d.packets]));

const in4 = (src: string, dst: string, ttl = 64) => ipv4(src, dst, 17, udp(1000, 2000, Buffer.alloc(18, 0x5a)), { ttl });
const frameTo = (dmac: string, dst = '10.1.1.9') => eth(dmac, POD1, 0x0800, in4('10.1.1.2', dst));
const outer = (dst: string): Outer => ({ dmac: GW_MAC, smac: FAB_MAC, src: FABRIC_IP, dst });
const toUs = (): Outer => ({ dmac: FAB_MAC, smac: PEER_MAC, src: '198.51.100.9', dst: FABRIC_IP });

/** l2Sport: the outer UDP source port of a bridged frame (bpf/lib/bridge.h l2_sport): FNV-1a over its first 12 bytes, the ethertype and an IPv4 packet's addresses, as 32-bit little-endian words */
function l2Sport(f: Buffer): number {
  const words = [f.readUInt32LE(0), f.readUInt32LE(4), f.readUInt32LE(8), f.readUInt32LE(12) & 0xffff];
  if (f.readUInt16BE(12) === 0x0800) words.push(f.readUInt32LE(14 + 12), f.readUInt32LE(14 + 16));
  let h = 0x811c9dc5;
  for (const w of words) h = Math.imul((h ^ w) >>> 0, 0x01000193) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return 49152 | (h & 0x3fff);
}

/** decTtl: an IPv4 packet with its TTL one less */
function decTtl(l3: Buffer): Buffer {
  const p = Buffer.from(l3);
  p[8]!--;
  p.writeUInt16BE(0, 10);
  p.writeUInt16BE(csum16(p.subarray(0, 20)), 10);
  return p;
}

interface Case {
  name: string;
  on: string;
  frame: () => Buffer;
  /** the XDP verdict; tc: the TC one when it is not the same decision */
  verdict: number;
  tc?: number;
  drop?: DropReasonName;
  out?: () => Buffer;
  txVif?: number;
  /** XDP hands the frame to TC (a TC output vif, an unresolved neighbour): on XDP only that it went up untouched */
  tcOnly?: boolean;
}

before(async () => {
  privateNetns();
  for (const [a, b] of [['bp1', 'bq1'], ['bp2', 'bq2'], ['bp3', 'bq3'], ['bp5', 'bq5'], ['bf0', 'bf1']]) vethPair(a!, b!);
  for (const d of ['bf0', 'bf1']) sh('sysctl', '-qw', `net.ipv6.conf.${d}.disable_ipv6=1`);
  sh('sysctl', '-qw', 'net.ipv4.conf.bf0.forwarding=1');
  sh('ip', 'addr', 'add', `${FABRIC_IP}/24`, 'dev', 'bf0');
  sh('ip', 'link', 'set', 'bf1', 'up');
  sh('ip', 'link', 'set', 'bf0', 'up');
  sh('ip', 'route', 'add', '198.51.100.0/24', 'via', '192.0.2.254', 'dev', 'bf0');
  sh('ip', 'neigh', 'replace', '192.0.2.254', 'lladdr', GW_MAC, 'dev', 'bf0', 'nud', 'permanent');
  sh('ip', 'route', 'add', '203.0.113.0/24', 'via', '192.0.2.253', 'dev', 'bf0');
  FAB_MAC = formatMac(netdev('bf0')!.mac);

  t = openTestDatapath();
  mgr = t.mgr;
  dp = t.dp;
  const vif = (index: number, name: string, vrf: number, m: string, hookPolicy: 'xdp' | 'tc' = 'xdp') =>
    mgr.addInterface(vifOf({ index, type: 'virtual', name, vrf, mac: m, hookPolicy }));
  await vif(1, 'bp1', 1, VIF1_MAC);
  await vif(2, 'bp2', 1, VIF2_MAC);
  await vif(3, 'bp3', 2, '02:00:00:00:03:01');
  await vif(5, 'bp5', 1, '02:00:00:00:05:01', 'tc');
  await mgr.addInterface(vifOf({ index: 10, type: 'fabric', name: 'bf0', vrf: 0, ip4: FABRIC_IP, hookPolicy: 'xdp' }));

  await mgr.addNextHop(encapNh(12, 1, 2, POD2)); // an L3 encap: what routes use
  await mgr.addNextHop({ id: 40, vrf: 1, kind: 'encap', l2: true, encap: { vifIndex: 2, dmac: undefined, smac: undefined } });
  await mgr.addNextHop({ id: 41, vrf: 1, kind: 'encap', l2: true, encap: { vifIndex: 5, dmac: undefined, smac: undefined } });
  await mgr.addNextHop(tunnelNh(42, 1, { type: 'vxlan', src: FABRIC_IP, dst: '198.51.100.9', label: 7001, vifIndex: 10 }));
  await mgr.addNextHop(tunnelNh(44, 1, { type: 'vxlan', src: FABRIC_IP, dst: '203.0.113.5', label: 7001, vifIndex: 10 }));
  await mgr.addNextHop(tunnelNh(45, 1, { type: 'mplsoudp', src: FABRIC_IP, dst: '198.51.100.9', label: 100, vifIndex: 10 }));
  await mgr.addNextHop({ id: 50, vrf: 1, kind: 'vrf', l2: true });
  await mgr.addRoutes([rt(1, '10.2.0.0/16', 12, true), rt(2, '10.2.0.0/16', 12, true)]);
  await mgr.addDecap('vxlan', { key: 7001, nhId: 50 });
  const be = (m: string, nhId: number, label?: number) => mgr.addBridge({ vrf: 1, mac: mac(m), nhId, label });
  await be(POD2, 40);
  await be(POD5, 41);
  await be(REMOTE, 42);
  await be(REMOTE2, 42, 7777);
  await be(FAR, 44);
  // the flood entry: a broadcast MAC the API parses as such (specs' mac() refuses group MACs)
  await mgr.addBridge({ vrf: 1, mac: Buffer.from('ffffffffffff', 'hex'), nhId: 40, label: undefined });
});

after(() => t.dispose());

const podCases: Case[] = [
  { name: "to a local pod's MAC: the frame as it is, out of its vif", on: 'bp1', frame: () => frameTo(POD2), verdict: XDP_REDIRECT, out: () => frameTo(POD2), txVif: 2 },
  {
    name: "to the router's MAC: routed as before (TTL, MACs rewritten), not bridged",
    on: 'bp1',
    frame: () => eth(VIF1_MAC, POD1, 0x0800, in4('10.1.1.2', '10.2.0.5')),
    verdict: XDP_REDIRECT,
    out: () => eth(POD2, VIF2_MAC, 0x0800, decTtl(in4('10.1.1.2', '10.2.0.5'))),
    txVif: 2,
  },
  {
    name: 'to a remote MAC: VXLAN (VNI 7001) with the whole frame unchanged as the inner frame, UDP port from the MACs and addresses',
    on: 'bp1',
    frame: () => frameTo(REMOTE),
    verdict: XDP_REDIRECT,
    out: () => vxlan(outer('198.51.100.9'), l2Sport(frameTo(REMOTE)), 7001, frameTo(REMOTE)),
    txVif: 10,
  },
  {
    name: "the entry's label is the VNI (7777, not the next hop's 7001)",
    on: 'bp1',
    frame: () => frameTo(REMOTE2),
    verdict: XDP_REDIRECT,
    out: () => vxlan(outer('198.51.100.9'), l2Sport(frameTo(REMOTE2)), 7777, frameTo(REMOTE2)),
    txVif: 10,
  },
  {
    name: 'an ARP reply (not IP) to a remote MAC: carried as the inner frame',
    on: 'bp1',
    frame: () => arpReply(POD1, '10.1.1.2', REMOTE, '10.1.1.7'),
    verdict: XDP_REDIRECT,
    out: () => vxlan(outer('198.51.100.9'), l2Sport(arpReply(POD1, '10.1.1.2', REMOTE, '10.1.1.7')), 7001, arpReply(POD1, '10.1.1.2', REMOTE, '10.1.1.7')),
    txVif: 10,
  },
  {
    name: 'an ARP request the proxy answers: answered (L3 takes it)',
    on: 'bp1',
    frame: () => arpRequest(POD1, '10.1.1.2', '10.2.0.5'),
    verdict: XDP_REDIRECT,
    out: () => arpReply(VIF1_MAC, '10.2.0.5', POD1, '10.1.1.2'),
    txVif: 1,
  },
  {
    name: 'an ARP request the proxy does not answer: broadcast, by the flood entry',
    on: 'bp1',
    frame: () => arpRequest(POD1, '10.1.1.2', '10.1.1.7'),
    verdict: XDP_REDIRECT,
    out: () => arpRequest(POD1, '10.1.1.2', '10.1.1.7'),
    txVif: 2,
  },
  { name: 'unknown unicast: by the flood entry', on: 'bp1', frame: () => frameTo(UNKNOWN), verdict: XDP_REDIRECT, out: () => frameTo(UNKNOWN), txVif: 2 },
  {
    name: 'IPv4 broadcast: by the flood entry (not dropped as multicast)',
    on: 'bp1',
    frame: () => eth(BCAST, POD1, 0x0800, in4('10.1.1.2', '255.255.255.255')),
    verdict: XDP_REDIRECT,
    out: () => eth(BCAST, POD1, 0x0800, in4('10.1.1.2', '255.255.255.255')),
    txVif: 2,
  },
  {
    name: 'to a pod on a TC vif: XDP hands it to TC, which delivers it as it is',
    on: 'bp1',
    frame: () => frameTo(POD5),
    verdict: XDP_PASS,
    tc: TC_ACT_REDIRECT,
    out: () => frameTo(POD5),
    txVif: 5,
    tcOnly: true,
  },
  {
    name: 'an IP frame to a tunnel whose underlay neighbour is unresolved: XDP hands it to TC, which waits for the neighbour (bpf_redirect_neigh)',
    on: 'bp1',
    frame: () => frameTo(FAR),
    verdict: XDP_PASS,
    tc: TC_ACT_REDIRECT,
    txVif: 10,
    tcOnly: true,
  },
  {
    name: 'a non-IP frame to a tunnel whose underlay neighbour is unresolved: dropped (l2_no_neigh) on TC',
    on: 'bp1',
    frame: () => arpReply(POD1, '10.1.1.2', FAR, '10.1.1.7'),
    verdict: XDP_PASS,
    tc: TC_ACT_SHOT,
    drop: 'l2_no_neigh',
    tcOnly: true,
  },
  // VRF 2 has no bridge entries: not an L2 VRF
  { name: 'VRF without bridge entries: a unicast frame to another MAC is routed as before (no route here)', on: 'bp3', frame: () => frameTo(UNKNOWN, '10.9.0.1'), verdict: XDP_DROP, drop: 'no_route' },
  { name: 'VRF without bridge entries: an ARP request not proxied is dropped as before', on: 'bp3', frame: () => arpRequest(POD1, '10.1.1.2', '10.1.1.7'), verdict: XDP_DROP, drop: 'arp_not_proxied' },
  { name: 'VRF without bridge entries: a broadcast is dropped as before', on: 'bp3', frame: () => eth(BCAST, POD1, 0x0800, in4('10.1.1.2', '255.255.255.255')), verdict: XDP_DROP, drop: 'multicast' },
];

const inner = (dmac: string) => frameTo(dmac);
const decapCases: Case[] = [
  {
    name: 'L2 VNI 7001 to a local MAC: the inner frame, outer headers gone, every byte kept (no TTL change)',
    on: 'bf0',
    frame: () => vxlan(toUs(), 50001, 7001, inner(POD2)),
    verdict: XDP_REDIRECT,
    out: () => inner(POD2),
    txVif: 2,
  },
  {
    name: 'L2 VNI: an inner ARP broadcast goes by the flood entry',
    on: 'bf0',
    frame: () => vxlan(toUs(), 50001, 7001, arp(1, BCAST, REMOTE, '10.1.1.7', '00:00:00:00:00:00', '10.1.1.2')),
    verdict: XDP_REDIRECT,
    out: () => arp(1, BCAST, REMOTE, '10.1.1.7', '00:00:00:00:00:00', '10.1.1.2'),
    txVif: 2,
  },
  {
    name: 'L2 VNI to a MAC behind a tunnel: not sent back into the overlay (split horizon)',
    on: 'bf0',
    frame: () => vxlan(toUs(), 50001, 7001, inner(REMOTE)),
    verdict: XDP_DROP,
    drop: 'unsupported_nexthop',
  },
  {
    name: 'L2 VNI to a pod on a TC vif: XDP hands the tunnelled frame to TC, which decaps and delivers it',
    on: 'bf0',
    frame: () => vxlan(toUs(), 50001, 7001, inner(POD5)),
    verdict: XDP_PASS,
    tc: TC_ACT_REDIRECT,
    out: () => inner(POD5),
    txVif: 5,
    tcOnly: true,
  },
];

function runCase(hook: (typeof HOOKS)[number], c: Case): void {
  const skip = hook.name === 'TC' && !hook.runnable(c.frame());
  it(c.name, { skip: skip ? 'the kernel\'s skb test run refuses this frame' : false }, () => {
    const before = drops();
    const txBefore = c.txVif ? mgr.interfaceStats(c.txVif).txPackets : 0n;
    const frame = c.frame();
    const r = hook.prog(dp).testRun({ data: frame, ingressIfindex: ifindexOf(c.on), outSize: frame.length + 256 });
    const moved = [...drops()].filter(([n, v]) => v !== before.get(n)).map(([n]) => n);
    const want = hook.name === 'TC' ? (c.tc ?? hook.verdict(c.verdict)) : c.verdict;
    assert.equal(r.retval, want, `verdict (drops moved: ${moved.join(', ') || 'none'})`);
    const handed = hook.name === 'XDP' && c.tcOnly;
    for (const [name, n] of drops()) assert.equal(n - before.get(name)!, !handed && name === c.drop ? 1n : 0n, `drop counter ${name}`);
    if (handed) {
      assert.equal(r.data.toString('hex'), frame.toString('hex'), 'handed to TC untouched (no "passed" mark)');
      return;
    }
    const data = hook.name === 'XDP' && c.verdict === XDP_PASS && r.data.readUInt32LE(0) === VR_META_PASSED ? r.data.subarray(4) : r.data;
    if (c.out) assert.equal(data.toString('hex'), c.out().toString('hex'), 'output frame');
    if (c.txVif) assert.equal(mgr.interfaceStats(c.txVif).txPackets - txBefore, 1n, `tx counter of vif ${c.txVif}`);
  });
}

for (const hook of HOOKS) {
  describe(`${hook.name}: bridging a pod's frame (VRF 1 is L2, VRF 2 is not)`, () => {
    for (const c of podCases) runCase(hook, c);
  });
  describe(`${hook.name}: an L2 VNI's frames bridged after the decap`, () => {
    for (const c of decapCases) runCase(hook, c);
  });
}

describe('counters and the manager', () => {
  it('an L2 encap and a decap move the tunnel counters', () => {
    const b = readTunnelCounters(dp.maps.vr_tctr);
    dp.tc.testRun({ data: frameTo(REMOTE), ingressIfindex: ifindexOf('bp1'), outSize: 512 });
    dp.xdp.testRun({ data: vxlan(toUs(), 50001, 7001, inner(POD2)), ingressIfindex: ifindexOf('bf0') });
    const a = readTunnelCounters(dp.maps.vr_tctr);
    assert.equal(a.encap - b.encap, 1n);
    assert.equal(a.decap - b.decap, 1n);
  });

  const code = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (err) {
      assert.ok(err instanceof DatapathError);
      return `${err.code} ${err.field ?? ''}`.trim();
    }
  };

  it('refuses next hops a bridge cannot run, duplicates and unknown next hops; nothing is written', async () => {
    const writesBefore = mgr.bridge.size;
    assert.equal(await code(mgr.addBridge({ vrf: 1, mac: mac('02:dd:00:00:00:01'), nhId: 12, label: undefined })), 'failed_precondition nhId', 'an L3 encap');
    assert.equal(await code(mgr.addBridge({ vrf: 1, mac: mac('02:dd:00:00:00:01'), nhId: 45, label: undefined })), 'failed_precondition nhId', 'an MPLS tunnel');
    assert.equal(await code(mgr.addBridge({ vrf: 1, mac: mac('02:dd:00:00:00:01'), nhId: 50, label: undefined })), 'failed_precondition nhId', 'a vrf next hop');
    assert.equal(await code(mgr.addBridge({ vrf: 1, mac: mac('02:dd:00:00:00:01'), nhId: 99, label: undefined })), 'not_found nhId');
    assert.equal(await code(mgr.addBridge({ vrf: 1, mac: mac(POD2), nhId: 40, label: undefined })), 'already_exists mac');
    assert.equal(await code(mgr.addBridge({ vrf: 1, mac: mac('02:dd:00:00:00:01'), nhId: 40, label: 5 })), 'invalid_argument label', 'a label on a local next hop');
    assert.equal(await code(mgr.addBridge({ vrf: 1, mac: mac('02:dd:00:00:00:01'), nhId: 42, label: 1 << 24 })), 'invalid_argument label');
    assert.equal(await code(mgr.addBridge({ vrf: 1, mac: Buffer.alloc(6), nhId: 40, label: undefined })), 'invalid_argument mac');
    assert.equal(mgr.bridge.size, writesBefore);
  });

  it('a next hop bridge entries lead to cannot be deleted, nor lose its L2 flag', async () => {
    assert.equal(await code(mgr.deleteNextHop(40)), 'failed_precondition id');
    assert.equal(await code(mgr.updateNextHop({ id: 40, vrf: 1, kind: 'encap', encap: { vifIndex: 2, dmac: mac(POD2), smac: undefined } })), 'failed_precondition l2');
    assert.equal(mgr.nhs.get(40).l2, true);
  });

  it('update repoints a MAC (it moved to a remote host) in one write; delete removes it from the datapath', async () => {
    await mgr.updateBridge({ vrf: 1, mac: mac(POD2), nhId: 42, label: undefined });
    let r = dp.xdp.testRun({ data: frameTo(POD2), ingressIfindex: ifindexOf('bp1') });
    assert.equal(r.retval, XDP_REDIRECT);
    assert.equal(r.data.readUInt16BE(14 + 20 + 2), 4789, 'now into the tunnel');
    await mgr.updateBridge({ vrf: 1, mac: mac(POD2), nhId: 40, label: undefined });
    await mgr.deleteBridge({ vrf: 1, mac: mac(REMOTE2) });
    r = dp.tc.testRun({ data: frameTo(REMOTE2), ingressIfindex: ifindexOf('bp1'), outSize: 512 });
    assert.equal(r.retval, TC_ACT_REDIRECT, 'unknown now: flooded');
    assert.equal(r.data.toString('hex'), frameTo(REMOTE2).toString('hex'));
  });
});
