/**
 * L2 flood packet tests: a bridge's flood entry (ff:ff:ff:ff:ff:ff) leading
 * to a FLOOD composite, through BOTH entries of the real datapath
 * (BPF_PROG_TEST_RUN) in a private netns whose routes and neighbours the
 * VXLAN members' bpf_fib_lookup reads (as composite-datapath.test.ts).
 *
 * VRF 1: flood 60 = [L2 encap to vif 1, to vif 2, VXLAN to host A (VNI
 * 7001), L2 encap to vif 3 (a TC vif)]; VNI 7001 is VRF 1's L2 VNI. VRF 3, another L2
 * VRF: flood 61 = [L2 encap to vif 4, VXLAN to A, VXLAN to B (VNI 7003),
 * VXLAN to a host whose underlay neighbour is unresolved]. Every copy is
 * byte-checked: clones where they arrive (the veth peers, the fabric's
 * peer), the last member's copy as the run's output.
 *
 * An ARP broadcast (not IP: bpf_skb_adjust_room refuses it) goes to the
 * local members first, then to the VXLAN members, each with its own outer
 * headers around the ARP frame; an IP frame keeps the slot order; neither
 * goes back out of the sender's vif (vif 1). A frame
 * out of the L2 VNI is flooded to the local members only (split horizon).
 * XDP hands a flood (and an L2 VNI frame bound for one) to TC untouched.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { HOOKS, openTestDatapath, TC_ACT_REDIRECT, TC_ACT_SHOT, XDP_PASS } from '../helpers/datapath.ts';
import { arp, arpRequest, eth, ipv4, udp } from '../helpers/packets.ts';
import { vxlan, type Outer } from '../helpers/tunnel-frames.ts';
import { FrameRing } from '../helpers/frame-ring.ts';
import { RingbufReader } from '../../src/bpf/ringbuf.ts';
import { ifindexOf, netdev } from '../../src/bpf/netdev.ts';
import { formatMac } from '../../src/manager/net-addr.ts';
import type { DatapathManager } from '../../src/manager/datapath-manager.ts';
import type { PinnedDatapath } from '../../src/maps/pinned-datapath.ts';
import { tunnelNh, vif as vifOf } from '../helpers/specs.ts';

const POD1 = '02:aa:00:00:00:01';
const POD5 = '02:aa:00:00:00:05';
const REMOTE = '02:bb:00:00:00:01';
const UNKNOWN = '02:cc:00:00:00:99';
const GW_MAC = '02:fe:00:00:00:01';
const PEER_MAC = '02:fe:00:00:00:02';
const FABRIC_IP = '192.0.2.1';
const HOST_A = '198.51.100.9';
const HOST_B = '198.51.100.10';
const BCAST = Buffer.from('ffffffffffff', 'hex');
const PIN_DIR = `/sys/fs/bpf/vr-flood-test-${process.pid}`;
let FAB_MAC = '';

let t: ReturnType<typeof openTestDatapath>;
let mgr: DatapathManager;
let dp: PinnedDatapath;

const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
const drops = () => new Map(mgr.dropStats().map((d) => [d.name, d.packets]));
const outer = (dst: string): Outer => ({ dmac: GW_MAC, smac: FAB_MAC, src: FABRIC_IP, dst });
const toUs = (): Outer => ({ dmac: FAB_MAC, smac: PEER_MAC, src: HOST_A, dst: FABRIC_IP });
const hex = (b: Buffer) => b.toString('hex');
const ARP1 = arpRequest(POD1, '10.1.1.2', '10.1.1.7');
const ARP5 = arpRequest(POD5, '10.3.1.2', '10.3.1.7');
const IP1 = eth(UNKNOWN, POD1, 0x0800, ipv4('10.1.1.2', '10.1.1.9', 17, udp(1000, 2000, Buffer.alloc(18, 0x5a))));
const FROM_FABRIC = arp(1, 'ff:ff:ff:ff:ff:ff', REMOTE, '10.1.1.7', '00:00:00:00:00:00', '10.1.1.2');

/** l2Sport: a bridged frame's outer UDP source port (bpf/lib/tunnel.h l2_sport), as bridge-datapath.test.ts */
function l2Sport(f: Buffer): number {
  const words = [f.readUInt32LE(0), f.readUInt32LE(4), f.readUInt32LE(8), f.readUInt32LE(12) & 0xffff];
  if (f.readUInt16BE(12) === 0x0800) words.push(f.readUInt32LE(14 + 12), f.readUInt32LE(14 + 16));
  let h = 0x811c9dc5;
  for (const w of words) h = Math.imul((h ^ w) >>> 0, 0x01000193) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return 49152 | (h & 0x3fff);
}

/** deltas: the drop counters that moved since `before` */
function deltas(before: Map<string, bigint>): Record<string, number> {
  return Object.fromEntries([...drops()].filter(([n, v]) => v !== before.get(n)).map(([n, v]) => [n, Number(v - before.get(n)!)]));
}

const TX_VIFS = [1, 2, 3, 4, 10];
const txs = () => TX_VIFS.map((v) => mgr.interfaceStats(v).txPackets);
/** txDelta: the tx packets per vif since `b` (vifs 1 to 4 and the fabric 10) */
const txDelta = (b: bigint[]) => Object.fromEntries(txs().map((n, i) => [TX_VIFS[i], Number(n - b[i]!)]));

before(async () => {
  privateNetns();
  for (const [a, b] of [['fp1', 'fq1'], ['fp2', 'fq2'], ['fp3', 'fq3'], ['fp4', 'fq4'], ['fp5', 'fq5'], ['ff0', 'ff1']]) vethPair(a!, b!);
  // no IPv6 chatter (MLD) in what the captures see
  for (const d of ['ff0', 'ff1', 'fp1', 'fq1', 'fp2', 'fq2', 'fp3', 'fq3', 'fp4', 'fq4']) sh('sysctl', '-qw', `net.ipv6.conf.${d}.disable_ipv6=1`);
  sh('sysctl', '-qw', 'net.ipv4.conf.ff0.forwarding=1');
  sh('ip', 'addr', 'add', `${FABRIC_IP}/24`, 'dev', 'ff0');
  for (const d of ['ff1', 'ff0', 'fp1', 'fq1', 'fp2', 'fq2', 'fp3', 'fq3', 'fp4', 'fq4']) sh('ip', 'link', 'set', d, 'up');
  sh('ip', 'route', 'add', '198.51.100.0/24', 'via', '192.0.2.254', 'dev', 'ff0');
  sh('ip', 'neigh', 'replace', '192.0.2.254', 'lladdr', GW_MAC, 'dev', 'ff0', 'nud', 'permanent');
  sh('ip', 'route', 'add', '203.0.113.0/24', 'via', '192.0.2.253', 'dev', 'ff0'); // no neighbour
  FAB_MAC = formatMac(netdev('ff0')!.mac);
  mkdirSync(PIN_DIR, { recursive: true });

  t = openTestDatapath();
  mgr = t.mgr;
  dp = t.dp;
  const vif = (index: number, name: string, vrf: number, hookPolicy: 'xdp' | 'tc' = 'xdp') =>
    mgr.addInterface(vifOf({ index, type: 'virtual', name, vrf, mac: `02:00:00:00:0${index}:01`, hookPolicy }));
  await vif(1, 'fp1', 1);
  await vif(2, 'fp2', 1);
  await vif(3, 'fp3', 1, 'tc');
  await vif(4, 'fp4', 3);
  await vif(5, 'fp5', 3);
  await mgr.addInterface(vifOf({ index: 10, type: 'fabric', name: 'ff0', vrf: 0, ip4: FABRIC_IP, hookPolicy: 'xdp' }));
  const l2 = (id: number, vrf: number, vifIndex: number) =>
    mgr.addNextHop({ id, vrf, kind: 'encap', l2: true, encap: { vifIndex, dmac: undefined, smac: undefined } });
  await l2(40, 1, 2);
  await l2(41, 1, 3);
  await l2(46, 3, 4);
  await l2(47, 1, 1);
  await mgr.addNextHop(tunnelNh(42, 1, { type: 'vxlan', src: FABRIC_IP, dst: HOST_A, label: 7001, vifIndex: 10 }));
  await mgr.addNextHop(tunnelNh(43, 3, { type: 'vxlan', src: FABRIC_IP, dst: HOST_A, label: 7003, vifIndex: 10 }));
  await mgr.addNextHop(tunnelNh(44, 3, { type: 'vxlan', src: FABRIC_IP, dst: HOST_B, label: 7003, vifIndex: 10 }));
  await mgr.addNextHop(tunnelNh(45, 3, { type: 'vxlan', src: FABRIC_IP, dst: '203.0.113.5', label: 7003, vifIndex: 10 }));
  await mgr.addNextHop({ id: 60, vrf: 1, kind: 'composite', composite: { kind: 'flood', members: [47, 40, 42, 41] } });
  await mgr.addNextHop({ id: 61, vrf: 3, kind: 'composite', composite: { kind: 'flood', members: [43, 46, 44, 45] } });
  await mgr.addNextHop({ id: 50, vrf: 1, kind: 'vrf', l2: true });
  await mgr.addDecap('vxlan', { key: 7001, nhId: 50 });
  await mgr.addBridge({ vrf: 1, mac: BCAST, nhId: 60, label: undefined });
  await mgr.addBridge({ vrf: 3, mac: BCAST, nhId: 61, label: undefined });
});

after(() => {
  t.dispose();
  execFileSync('rm', ['-rf', PIN_DIR]);
});

/** run: one frame through a hook, arriving on `on` */
const run = (hook: (typeof HOOKS)[number], frame: Buffer, on: string) =>
  hook.prog(dp).testRun({ data: frame, ingressIfindex: ifindexOf(on), outSize: frame.length + 256 });

/** captureOn: the frames that arrive at these interfaces while fn runs (tcx ingress into a ring) */
async function captureOn(ifs: string[], fn: () => void, want: number): Promise<Record<string, string[]>> {
  const got = new Map<string, Buffer[]>(ifs.map((i) => [i, []]));
  const rings = ifs.map((name) => {
    const fr = FrameRing.load();
    const reader = RingbufReader.open(fr.ringFd, { onBatch: (b) => { for (const r of b) got.get(name)!.push(Buffer.from(r)); } });
    const link = fr.capture(ifindexOf(name), join(PIN_DIR, `cap-${name}`));
    return { fr, reader, link };
  });
  try {
    fn();
    const deadline = Date.now() + 5000;
    while ([...got.values()].reduce((n, f) => n + f.length, 0) < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // a copy that should not come has had the same time to arrive
    await new Promise((r) => setTimeout(r, 50));
    return Object.fromEntries([...got].map(([k, v]) => [k, v.map(hex)]));
  } finally {
    for (const r of rings) {
      r.link.detach();
      await r.reader.close();
      r.fr.close();
    }
  }
}

const CAPS = ['fq1', 'fq2', 'fq3', 'fq4', 'ff1'];

describe('flood entry to a FLOOD composite: an ARP broadcast', () => {
  it('TC: the local members first (the frame as it is; none back to the sender\'s vif), then the VXLAN member (the ARP frame as its inner frame) takes the packet; no copy into the other VRF', async () => {
    const d0 = drops();
    const tx = txs();
    let r: { retval: number; data: Buffer } = { retval: -1, data: Buffer.alloc(0) };
    const got = await captureOn(CAPS, () => (r = run(HOOKS[1], ARP1, 'fp1')), 2);
    assert.equal(r.retval, TC_ACT_REDIRECT, 'the last member (VXLAN) takes the packet itself');
    assert.deepEqual(got, { fq1: [], fq2: [hex(ARP1)], fq3: [hex(ARP1)], fq4: [], ff1: [] });
    assert.equal(hex(r.data), hex(vxlan(outer(HOST_A), l2Sport(ARP1), 7001, ARP1)), 'VXLAN: outer headers of its own, the ARP frame inside');
    assert.deepEqual(deltas(d0), {});
    assert.deepEqual(txDelta(tx), { 1: 0, 2: 1, 3: 1, 4: 0, 10: 1 });
  });

  it('TC: two VXLAN members each get their own outer headers (one room for both), a third with no underlay neighbour is skipped (flood_no_neigh)', async () => {
    const d0 = drops();
    const tx = txs();
    let retval = -1;
    const got = await captureOn(CAPS, () => (retval = run(HOOKS[1], ARP5, 'fp5').retval), 3);
    assert.equal(retval, TC_ACT_SHOT, 'the last member\'s copy failed: the packet goes no further, its copies went');
    assert.deepEqual(got, {
      fq1: [],
      fq2: [],
      fq3: [],
      fq4: [hex(ARP5)],
      ff1: [hex(vxlan(outer(HOST_A), l2Sport(ARP5), 7003, ARP5)), hex(vxlan(outer(HOST_B), l2Sport(ARP5), 7003, ARP5))],
    });
    assert.deepEqual(deltas(d0), { flood_no_neigh: 1 });
    assert.deepEqual(txDelta(tx), { 1: 0, 2: 0, 3: 0, 4: 1, 10: 2 });
  });

  it('TC: an IP frame (unknown unicast) keeps the slot order: the VXLAN copy pushed and popped, the last L2 encap takes the packet', async () => {
    const d0 = drops();
    let r: { retval: number; data: Buffer } = { retval: -1, data: Buffer.alloc(0) };
    const got = await captureOn(CAPS, () => (r = run(HOOKS[1], IP1, 'fp1')), 2);
    assert.equal(r.retval, TC_ACT_REDIRECT);
    assert.deepEqual(got, { fq1: [], fq2: [hex(IP1)], fq3: [], fq4: [], ff1: [hex(vxlan(outer(HOST_A), l2Sport(IP1), 7001, IP1))] });
    assert.equal(hex(r.data), hex(IP1), 'the last member: the frame as it was');
    assert.deepEqual(deltas(d0), {});
  });

  it('XDP hands the flood to its device\'s TC entry, untouched and uncounted', () => {
    const s0 = mgr.interfaceStats(1);
    for (const f of [ARP1, IP1]) {
      const r = run(HOOKS[0], f, 'fp1');
      assert.equal(r.retval, XDP_PASS);
      assert.equal(hex(r.data), hex(f), 'no "passed" mark: TC floods it');
    }
    assert.equal(mgr.interfaceStats(1).rxPackets, s0.rxPackets, 'its receipt is counted by TC');
  });
});

describe('split horizon: a frame out of the L2 VNI', () => {
  const tunnelled = vxlan(toUs(), 50001, 7001, FROM_FABRIC);

  it('TC: an inner ARP broadcast goes to the local members only, never back into a tunnel', async () => {
    const d0 = drops();
    const tx = txs();
    let r: { retval: number; data: Buffer } = { retval: -1, data: Buffer.alloc(0) };
    const got = await captureOn(CAPS, () => (r = run(HOOKS[1], tunnelled, 'ff0')), 2);
    assert.equal(r.retval, TC_ACT_REDIRECT, 'the last local member takes the packet');
    assert.deepEqual(got, { fq1: [hex(FROM_FABRIC)], fq2: [hex(FROM_FABRIC)], fq3: [], fq4: [], ff1: [] });
    assert.equal(hex(r.data), hex(FROM_FABRIC), 'the inner frame, outer headers gone');
    assert.deepEqual(deltas(d0), {});
    assert.deepEqual(txDelta(tx), { 1: 1, 2: 1, 3: 1, 4: 0, 10: 0 });
  });

  it('TC: an inner IP frame to an unknown MAC: local members only too', async () => {
    const d0 = drops();
    let r: { retval: number; data: Buffer } = { retval: -1, data: Buffer.alloc(0) };
    const got = await captureOn(CAPS, () => (r = run(HOOKS[1], vxlan(toUs(), 50001, 7001, IP1), 'ff0')), 2);
    assert.equal(r.retval, TC_ACT_REDIRECT);
    assert.deepEqual(got, { fq1: [hex(IP1)], fq2: [hex(IP1)], fq3: [], fq4: [], ff1: [] });
    assert.equal(hex(r.data), hex(IP1));
    assert.deepEqual(deltas(d0), {});
  });

  it('XDP hands the still tunnelled frame to TC (only TC copies), untouched', () => {
    const r = run(HOOKS[0], tunnelled, 'ff0');
    assert.equal(r.retval, XDP_PASS);
    assert.equal(hex(r.data), hex(tunnelled));
  });
});
