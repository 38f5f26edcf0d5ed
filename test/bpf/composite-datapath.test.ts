/**
 * Composite packet tests through BOTH entries of the real datapath
 * (BPF_PROG_TEST_RUN) in a private netns whose kernel routes and neighbours
 * the tunnel members' bpf_fib_lookup reads (as in tunnel-datapath.test.ts).
 *
 * ECMP (a route to an ECMP composite of three MPLSoUDP tunnels to three
 * remote hosts): many flows, each frame byte-checked against the member its
 * bucket names (the route's label on it); the flows spread over every
 * member; a flow takes the same member every time and on both hooks;
 * removing a member moves only that member's flows, adding one moves flows
 * only to it.
 *
 * FLOOD (TC): a copy out of every member, byte-checked: a clone out of each
 * member but the last (captured where it arrives, at the veth peer), the
 * last member's copy is the packet itself (the run's output); an encap
 * member's MACs, an L2 encap's frame as it is, VXLAN carrying the frame as
 * is. XDP hands a flooded packet to TC untouched. Drops: composite_empty,
 * composite_nested (written into the map by hand: the manager refuses it),
 * flood_no_neigh for one member while the others' copies go out.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { privateNetns, vethPair } from '../helpers/private-netns.ts';
import { HOOKS, openTestDatapath, TC_ACT_REDIRECT, TC_ACT_SHOT, XDP_DROP, XDP_PASS, XDP_REDIRECT } from '../helpers/datapath.ts';
import { eth, ipv4, udp } from '../helpers/packets.ts';
import { flowHash, mplsOverUdp, tunSport, vxlan, type Outer } from '../helpers/tunnel-frames.ts';
import { FrameRing } from '../helpers/frame-ring.ts';
import { RingbufReader } from '../../src/bpf/ringbuf.ts';
import { ifindexOf, netdev } from '../../src/bpf/netdev.ts';
import { formatMac } from '../../src/manager/net-addr.ts';
import { u32Key } from '../../src/maps/codecs.ts';
import { VR_COMP_BUCKETS, VR_COMP_MEMBERS } from '../../src/maps/layout.ts';
import type { DatapathManager } from '../../src/manager/datapath-manager.ts';
import type { PinnedDatapath } from '../../src/maps/pinned-datapath.ts';
import { encapNh, route as rt, tunnelNh, vif as vifOf } from '../helpers/specs.ts';

const POD1 = '02:aa:00:00:00:01';
const POD2 = '02:aa:00:00:00:02';
const VIF1_MAC = '02:00:00:00:01:01';
const VIF2_MAC = '02:00:00:00:02:01';
const VIF3_MAC = '02:00:00:00:03:01';
const GW_MAC = '02:fe:00:00:00:01';
const FABRIC_IP = '192.0.2.1';
const REMOTE: Record<number, string> = { 20: '198.51.100.7', 21: '198.51.100.8', 22: '198.51.100.9' };
const PIN_DIR = `/sys/fs/bpf/vr-comp-test-${process.pid}`;
let FAB_MAC = '';

let t: ReturnType<typeof openTestDatapath>;
let mgr: DatapathManager;
let dp: PinnedDatapath;

const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
const drops = () => new Map(mgr.dropStats().map((d) => [d.name, d.packets]));
const outer = (dst: string): Outer => ({ dmac: GW_MAC, smac: FAB_MAC, src: FABRIC_IP, dst });
const l3 = (dst: string, sport: number, ttl = 64) => ipv4('10.1.1.2', dst, 17, udp(sport, 2000, Buffer.alloc(18, 0x5a)), { ttl });
const fromPod = (p: Buffer) => eth(VIF1_MAC, POD1, 0x0800, p);

/** decTtl: an IPv4 packet with its TTL one less (checksum updated) */
function decTtl(p: Buffer): Buffer {
  const q = Buffer.from(p);
  q[8]!--;
  q.writeUInt16BE(0, 10);
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += q.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  q.writeUInt16BE(~s & 0xffff, 10);
  return q;
}

/** deltas: the drop counters that moved since `before` */
function deltas(before: Map<string, bigint>): Record<string, number> {
  return Object.fromEntries([...drops()].filter(([n, v]) => v !== before.get(n)).map(([n, v]) => [n, Number(v - before.get(n)!)]));
}

before(async () => {
  privateNetns();
  for (const [a, b] of [['cp1', 'cq1'], ['cp2', 'cq2'], ['cp3', 'cq3'], ['cf0', 'cf1']]) vethPair(a!, b!);
  // no IPv6 chatter (MLD) in what the captures see
  for (const d of ['cf0', 'cf1', 'cp2', 'cq2', 'cp3', 'cq3']) sh('sysctl', '-qw', `net.ipv6.conf.${d}.disable_ipv6=1`);
  sh('sysctl', '-qw', 'net.ipv4.conf.cf0.forwarding=1');
  sh('ip', 'addr', 'add', `${FABRIC_IP}/24`, 'dev', 'cf0');
  for (const d of ['cf1', 'cf0', 'cp2', 'cq2', 'cp3', 'cq3']) sh('ip', 'link', 'set', d, 'up');
  sh('ip', 'route', 'add', '198.51.100.0/24', 'via', '192.0.2.254', 'dev', 'cf0');
  sh('ip', 'neigh', 'replace', '192.0.2.254', 'lladdr', GW_MAC, 'dev', 'cf0', 'nud', 'permanent');
  sh('ip', 'route', 'add', '203.0.113.0/24', 'via', '192.0.2.253', 'dev', 'cf0'); // no neighbour
  FAB_MAC = formatMac(netdev('cf0')!.mac);
  mkdirSync(PIN_DIR, { recursive: true });

  t = openTestDatapath();
  mgr = t.mgr;
  dp = t.dp;
  await mgr.addInterface(vifOf({ index: 1, type: 'virtual', name: 'cp1', vrf: 1, mac: VIF1_MAC, hookPolicy: 'xdp' }));
  await mgr.addInterface(vifOf({ index: 2, type: 'virtual', name: 'cp2', vrf: 1, mac: VIF2_MAC, hookPolicy: 'xdp' }));
  await mgr.addInterface(vifOf({ index: 3, type: 'virtual', name: 'cp3', vrf: 1, mac: VIF3_MAC, hookPolicy: 'xdp' }));
  await mgr.addInterface(vifOf({ index: 10, type: 'fabric', name: 'cf0', vrf: 0, ip4: FABRIC_IP, hookPolicy: 'xdp' }));
  await mgr.addNextHop(encapNh(12, 1, 2, POD2));
  await mgr.addNextHop({ id: 13, vrf: 1, kind: 'encap', l2: true, encap: { vifIndex: 3, dmac: undefined, smac: undefined } });
  for (const id of [20, 21, 22]) await mgr.addNextHop(tunnelNh(id, 1, { type: 'mplsoudp', src: FABRIC_IP, dst: REMOTE[id]!, label: 1000, vifIndex: 10 }));
  await mgr.addNextHop(tunnelNh(23, 1, { type: 'vxlan', src: FABRIC_IP, dst: '198.51.100.9', label: 5001, vifIndex: 10 }));
  await mgr.addNextHop(tunnelNh(24, 1, { type: 'mplsoudp', src: FABRIC_IP, dst: '203.0.113.5', label: 1000, vifIndex: 10 }));
  await mgr.addNextHop({ id: 40, vrf: 1, kind: 'composite', composite: { kind: 'ecmp', members: [20, 21, 22] } });
  await mgr.addNextHop({ id: 41, vrf: 1, kind: 'composite', composite: { kind: 'ecmp', members: [] } });
  await mgr.addNextHop({ id: 50, vrf: 1, kind: 'composite', composite: { kind: 'flood', members: [12, 13, 23] } });
  await mgr.addNextHop({ id: 51, vrf: 1, kind: 'composite', composite: { kind: 'flood', members: [24, 12] } });
  await mgr.addNextHop({ id: 52, vrf: 1, kind: 'composite', composite: { kind: 'flood', members: [] } });
  await mgr.addNextHop({ id: 53, vrf: 1, kind: 'composite', composite: { kind: 'flood', members: [23, 13, 12] } });
  await mgr.addNextHop({ id: 54, vrf: 1, kind: 'composite', composite: { kind: 'flood', members: [12, 24] } });
  await mgr.addRoutes([
    { ...rt(1, '10.40.0.0/16', 40), label: 4444 },
    rt(1, '10.41.0.0/16', 41),
    rt(1, '10.50.0.0/16', 50),
    rt(1, '10.51.0.0/16', 51),
    rt(1, '10.52.0.0/16', 52),
    rt(1, '10.53.0.0/16', 53),
    rt(1, '10.54.0.0/16', 54),
  ]);
});

after(() => {
  t.dispose();
  execFileSync('rm', ['-rf', PIN_DIR]);
});

/** run: one frame from pod 1 through a hook */
const run = (hook: (typeof HOOKS)[number], frame: Buffer) => hook.prog(dp).testRun({ data: frame, ingressIfindex: ifindexOf('cp1'), outSize: frame.length + 256 });

/** memberOf: which tunnel member a frame went to (its outer destination), after checking it byte by byte */
function memberOf(out: Buffer, p: Buffer): number {
  const dst = `${out[30]}.${out[31]}.${out[32]}.${out[33]}`;
  const id = Number(Object.entries(REMOTE).find(([, ip]) => ip === dst)?.[0]);
  assert.ok(id, `a member's remote end (${dst})`);
  assert.equal(out.toString('hex'), mplsOverUdp(outer(dst), tunSport(p), 4444, 63, decTtl(p)).toString('hex'), 'the member\'s frame, with the route\'s label');
  return id;
}

const FLOWS = 240;
const flow = (i: number) => l3(`10.40.${i % 7}.5`, 10000 + i);

describe('ECMP composite', () => {
  for (const hook of HOOKS)
    it(`${hook.name}: ${FLOWS} flows spread over the three members, each to the member its bucket names, the same every time`, () => {
      const buckets = mgr.nhs.comps.buckets(40);
      const per: Record<number, number> = { 20: 0, 21: 0, 22: 0 };
      const d0 = drops();
      for (let i = 0; i < FLOWS; i++) {
        const r = run(hook, fromPod(flow(i)));
        assert.equal(r.retval, hook.verdict(XDP_REDIRECT));
        const m = memberOf(r.data, flow(i));
        assert.equal(m, buckets[flowHash(flow(i)) % VR_COMP_BUCKETS], `flow ${i}: its bucket's member`);
        assert.equal(memberOf(run(hook, fromPod(flow(i))).data, flow(i)), m, `flow ${i} again: the same member`);
        per[m]!++;
      }
      assert.deepEqual(deltas(d0), {}, 'nothing dropped');
      for (const [m, n] of Object.entries(per)) assert.ok(n > FLOWS / 6, `member ${m} took ${n} of ${FLOWS} flows (${JSON.stringify(per)})`);
    });

  it('XDP and TC send a flow to the same member', () => {
    for (let i = 0; i < 64; i++) assert.equal(memberOf(run(HOOKS[0], fromPod(flow(i))).data, flow(i)), memberOf(run(HOOKS[1], fromPod(flow(i))).data, flow(i)));
  });

  it('removing a member moves only its flows; adding it back moves flows only to it', async () => {
    const where = () => Array.from({ length: FLOWS }, (_, i) => memberOf(run(HOOKS[1], fromPod(flow(i))).data, flow(i)));
    const a = where();
    await mgr.removeCompositeMember(40, 21);
    const b = where();
    let moved = 0;
    a.forEach((m, i) => {
      if (m === 21) {
        assert.notEqual(b[i], 21, `flow ${i} left the removed member`);
        moved++;
      } else assert.equal(b[i], m, `flow ${i} (on ${m}) stayed`);
    });
    assert.ok(moved > 0 && moved < FLOWS, `${moved} flows moved`);
    await mgr.addCompositeMember(40, 21);
    const c = where();
    c.forEach((m, i) => assert.ok(m === b[i] || m === 21, `flow ${i}: stayed on ${b[i]} or moved to the new member (went to ${m})`));
    assert.ok(c.filter((m) => m === 21).length > FLOWS / 6, 'the new member took its share');
  });

  for (const hook of HOOKS)
    it(`${hook.name}: an empty composite drops (composite_empty); a nested one drops (composite_nested)`, async () => {
      let d0 = drops();
      assert.equal(run(hook, fromPod(l3('10.41.0.5', 1))).retval, hook.verdict(XDP_DROP));
      assert.deepEqual(deltas(d0), { composite_empty: 1 });
      // the manager refuses a composite member: written by hand into 41's buckets (a member 40, count 1)
      const tmp = 42;
      await mgr.addNextHop({ id: tmp, vrf: 1, kind: 'composite', composite: { kind: 'ecmp', members: [12] } });
      try {
        const first = mgr.nhs.comps.firstSlot(tmp);
        for (let b = 0; b < VR_COMP_BUCKETS; b++) dp.maps.vr_comp.update(u32Key(first + VR_COMP_MEMBERS + b), u32Key(50));
        await mgr.updateRoute(rt(1, '10.41.0.0/16', tmp));
        d0 = drops();
        assert.equal(run(hook, fromPod(l3('10.41.0.5', 1))).retval, hook.verdict(XDP_DROP));
        assert.deepEqual(deltas(d0), { composite_nested: 1 });
      } finally {
        await mgr.updateRoute(rt(1, '10.41.0.0/16', 41));
        await mgr.deleteNextHop(tmp);
      }
    });
});

/** captureOn: the frames that arrive at these interfaces while fn runs (tcx ingress into a ring) */
async function captureOn(ifs: string[], fn: () => void, want: number): Promise<Map<string, Buffer[]>> {
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
    return got;
  } finally {
    for (const r of rings) {
      r.link.detach();
      await r.reader.close();
      r.fr.close();
    }
  }
}

describe('FLOOD composite', () => {
  const p = l3('10.50.0.5', 3333);
  const frame = fromPod(p);

  it('TC: a copy out of every member, byte-checked: encap (its MACs), L2 encap (the frame as is), VXLAN (the frame as its inner frame) last', async () => {
    const d0 = drops();
    const tx = [2, 3, 10].map((v) => mgr.interfaceStats(v).txPackets);
    let verdict = -1;
    let last = Buffer.alloc(0);
    const got = await captureOn(['cq2', 'cq3'], () => {
      const r = run(HOOKS[1], frame);
      verdict = r.retval;
      last = Buffer.from(r.data);
    }, 2);
    assert.equal(verdict, TC_ACT_REDIRECT, 'the last member takes the packet itself');
    assert.deepEqual(got.get('cq2')!.map((f) => f.toString('hex')), [eth(POD2, VIF2_MAC, 0x0800, p).toString('hex')], 'encap member: its MACs, the TTL kept');
    assert.deepEqual(got.get('cq3')!.map((f) => f.toString('hex')), [frame.toString('hex')], 'L2 encap member: the frame as it is');
    assert.equal(last.toString('hex'), vxlan(outer('198.51.100.9'), tunSport(p), 5001, frame).toString('hex'), 'VXLAN member: the whole frame inside');
    assert.deepEqual(deltas(d0), {});
    assert.deepEqual([2, 3, 10].map((v, i) => mgr.interfaceStats(v).txPackets - tx[i]!), [1n, 1n, 1n], 'each member\'s vif counted one');
  });

  it('TC: the packet is put back between copies (a tunnel member first, then an encap one)', async () => {
    const q = l3('10.53.0.5', 3333);
    let last = Buffer.alloc(0);
    const tx = mgr.interfaceStats(10).txPackets;
    const got = await captureOn(['cq3'], () => (last = Buffer.from(run(HOOKS[1], fromPod(q)).data)), 1);
    assert.deepEqual(got.get('cq3')!.map((f) => f.toString('hex')), [fromPod(q).toString('hex')], 'after the VXLAN copy: the frame as it was');
    assert.equal(last.toString('hex'), eth(POD2, VIF2_MAC, 0x0800, q).toString('hex'));
    assert.equal(mgr.interfaceStats(10).txPackets - tx, 1n, 'the VXLAN copy was sent (counted on the fabric)');
  });

  it('XDP hands a flooded packet to its device\'s TC entry, untouched and uncounted', () => {
    const s0 = mgr.interfaceStats(1);
    const r = run(HOOKS[0], frame);
    assert.equal(r.retval, XDP_PASS);
    assert.equal(r.data.toString('hex'), frame.toString('hex'), 'no "passed" mark: TC floods it');
    assert.equal(mgr.interfaceStats(1).rxPackets, s0.rxPackets, 'its receipt is counted by TC');
  });

  it('TC: a member whose underlay neighbour is unresolved is skipped (flood_no_neigh), the other member\'s copy goes out', () => {
    const d0 = drops();
    const q = l3('10.51.0.5', 3333);
    const r = run(HOOKS[1], fromPod(q));
    assert.equal(r.retval, TC_ACT_REDIRECT);
    assert.equal(r.data.toString('hex'), eth(POD2, VIF2_MAC, 0x0800, q).toString('hex'));
    assert.deepEqual(deltas(d0), { flood_no_neigh: 1 });
  });

  it('TC: when the last member\'s copy fails, the packet is dropped after the others went', async () => {
    const d0 = drops();
    const got = await captureOn(['cq2'], () => assert.equal(run(HOOKS[1], fromPod(l3('10.54.0.5', 3333))).retval, TC_ACT_SHOT), 1);
    assert.equal(got.get('cq2')!.length, 1);
    assert.deepEqual(deltas(d0), { flood_no_neigh: 1 });
  });

  for (const hook of HOOKS)
    it(`${hook.name}: an empty flood composite drops (composite_empty)`, () => {
      const d0 = drops();
      assert.equal(run(hook, fromPod(l3('10.52.0.5', 1))).retval, hook.verdict(XDP_DROP));
      assert.deepEqual(deltas(d0), { composite_empty: 1 });
    });
});


