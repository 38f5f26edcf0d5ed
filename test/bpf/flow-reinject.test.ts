/**
 * Re-injection of held frames on the real kernel: this process's main
 * thread is the host (a private netns), pods A and B are namespaces behind
 * veths to it, the real datapath routes A ↔ B, with A policy-enabled and a
 * FORWARD flow written for each frame. A frame re-injected with A's host
 * veth as ingress_ifindex (XDP entry, live frames) must arrive in pod B's
 * UDP socket:
 *  - for each hook of A and of B: to a vif on TC the XDP run answers
 *    XDP_PASS, which live-frame mode turns into an skb received on A's
 *    device, where A's tcx program forwards it;
 *  - a frame pod A really sent with the kernel's default offloads, captured
 *    at tcx ingress as the TC hook sees it, carries a partial UDP checksum
 *    (IPv4 and IPv6): completed, it equals what the kernel itself writes
 *    with TX checksum offload off, and pod B's stack takes it;
 *  - through the FlowHub: synthetic miss records written into the pinned
 *    vr_miss_rb reach a watcher and resolved() sends their frames on (a
 *    burst measures re-injections per second); then the datapath's own:
 *    pod A's datagrams on a flow without an entry are held (A on either
 *    hook), reported, kept from B until the flow is set, then delivered in
 *    order; an unanswered miss expires (flow_hold_expired, entry removed).
 * A frame longer than a live-frame run takes is refused (the bound pinned).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Lab, sh } from '../../lab/topology.ts';
import { privateNetns } from '../helpers/private-netns.ts';
import { OBJECT, openTestDatapath, TEST_BPFFS } from '../helpers/datapath.ts';
import { encapNh, route, vif as vifOf } from '../helpers/specs.ts';
import { FrameRing } from '../helpers/frame-ring.ts';
import { UdpSink, udpSend } from '../helpers/udp-peer.ts';
import { flowValue } from '../helpers/flows.ts';
import { eth, ip, ipv4, ipv6, udp } from '../helpers/packets.ts';
import { ifindexOf } from '../../src/bpf/netdev.ts';
import { RingbufReader } from '../../src/bpf/ringbuf.ts';
import { completeChecksum } from '../../src/flows/checksum.ts';
import { encodeFlowKey } from '../../src/flows/flow-bytes.ts';
import { FlowHub } from '../../src/flows/flow-hub.ts';
import type { MissBatch, MissWatch } from '../../src/flows/hub.ts';
import { encodeMiss, type Hook } from '../../src/flows/miss-record.ts';
import { LIVE_FRAME_MAX, Reinjector } from '../../src/flows/reinject.ts';
import { BatchInjector } from '../../src/maps/tables/batch-injector.ts';
import { FLOW_F, FlowActionCode } from '../../src/maps/layout.ts';
import { FLOW } from '../../src/maps/codecs.ts';
import { reverseOf, type FlowEvent, type FlowKey, type FlowMiss } from '../../src/manager/flow-model.ts';

const PORT = 2000;
const A = { ip4: '10.10.1.2', gw4: '10.10.1.1', ip6: 'fd00:10:1::2', gw6: 'fd00:10:1::1', hostIf: 'fr-ha' };
const B = { ip4: '10.10.2.2', gw4: '10.10.2.1', ip6: 'fd00:10:2::2', gw6: 'fd00:10:2::1', hostIf: 'fr-hb' };
const PIN_DIR = `${TEST_BPFFS}-flowre-${process.pid}`;

let lab: Lab;
let nsA: string;
let nsB: string;
let macA: string;
let macB: string;
let hostMacA: string;
let t: ReturnType<typeof openTestDatapath>;
let sink: UdpSink;
/** what pod A sent, as tcx ingress of its host veth saw it: TX checksum offload on (partial) and off */
const captured: Record<'partial' | 'full', { v4: Buffer; v6: Buffer }> = { partial: { v4: Buffer.alloc(0), v6: Buffer.alloc(0) }, full: { v4: Buffer.alloc(0), v6: Buffer.alloc(0) } };

/** pod: a namespace whose eth0 is a veth to hostIf in this (the host's) namespace; its gateways answered statically */
function pod(name: string, p: typeof A): { ns: string; mac: string } {
  const ns = lab.ns(name);
  sh('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', p.hostIf]);
  lab.ip(ns, ['addr', 'add', `${p.ip4}/24`, 'dev', 'eth0']);
  lab.ip(ns, ['-6', 'addr', 'add', `${p.ip6}/64`, 'dev', 'eth0', 'nodad']);
  lab.ip(ns, ['link', 'set', 'eth0', 'up']);
  sh('ip', ['link', 'set', p.hostIf, 'up']);
  const hostMac = (JSON.parse(sh('ip', ['-j', 'link', 'show', p.hostIf])) as { address: string }[])[0]!.address;
  lab.ip(ns, ['route', 'add', 'default', 'via', p.gw4, 'dev', 'eth0', 'onlink']);
  lab.ip(ns, ['-6', 'route', 'add', 'default', 'via', p.gw6, 'dev', 'eth0', 'onlink']);
  // no proxy answers before the datapath is programmed: the gateways are static neighbours
  lab.ip(ns, ['neigh', 'replace', p.gw4, 'lladdr', hostMac, 'dev', 'eth0', 'nud', 'permanent']);
  lab.ip(ns, ['-6', 'neigh', 'replace', p.gw6, 'lladdr', hostMac, 'dev', 'eth0', 'nud', 'permanent']);
  return { ns, mac: lab.mac(ns, 'eth0') };
}

/** keyOf: the flow key of a UDP frame (IPv4 or IPv6) */
function keyOf(frame: Buffer): FlowKey {
  const v4 = frame.readUInt16BE(12) === 0x0800;
  const l4 = v4 ? 14 + (frame[14]! & 0xf) * 4 : 14 + 40;
  return {
    vrf: 1, family: v4 ? 4 : 6, proto: 17,
    src: Buffer.from(v4 ? frame.subarray(26, 30) : frame.subarray(22, 38)),
    dst: Buffer.from(v4 ? frame.subarray(30, 34) : frame.subarray(38, 54)),
    sport: frame.readUInt16BE(l4), dport: frame.readUInt16BE(l4 + 2),
  };
}

/** forward: the FORWARD pair the agent would write for this key */
function forward(key: FlowKey): void {
  t.dp.maps.vr_flows.update(encodeFlowKey(key), flowValue({ action: FlowActionCode.FORWARD, holdId: 1n }));
  t.dp.maps.vr_flows.update(encodeFlowKey(reverseOf(key)), flowValue({ action: FlowActionCode.FORWARD, flags: FLOW_F.REVERSE }));
}

function built(msg: string, v6 = false, sport = 1000): Buffer {
  const payload = udp(sport, PORT, Buffer.from(msg));
  return v6
    ? eth(hostMacA, macA, 0x86dd, ipv6(A.ip6, B.ip6, 17, withUdp6Csum(payload)))
    : eth(hostMacA, macA, 0x0800, ipv4(A.ip4, B.ip4, 17, payload));
}

/** withUdp6Csum: UDP over IPv6 must carry a checksum */
function withUdp6Csum(seg: Buffer): Buffer {
  const s = Buffer.from(seg);
  const pseudo = Buffer.concat([ip(A.ip6), ip(B.ip6), Buffer.from([0, 0, s.length >> 8, s.length & 0xff, 0, 0, 0, 17])]);
  let sum = 0;
  const all = Buffer.concat([pseudo, s, s.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  s.writeUInt16BE(~sum & 0xffff || 0xffff, 6);
  return s;
}

async function capture(): Promise<{ v4: Buffer; v6: Buffer }> {
  const fr = FrameRing.load();
  const got: Buffer[] = [];
  const reader = RingbufReader.open(fr.ringFd, { onBatch: (b) => { for (const r of b) got.push(Buffer.from(r)); } });
  const link = fr.capture(ifindexOf(A.hostIf), join(PIN_DIR, 'capture'));
  try {
    udpSend(lab, nsA, 'udp4', 3333, B.ip4, PORT, ['captured v4']);
    udpSend(lab, nsA, 'udp6', 3333, B.ip6, PORT, ['captured v6']);
    const pick = (type: number) => got.find((f) => f.readUInt16BE(12) === type && keyOfSafe(f)?.dport === PORT);
    const deadline = Date.now() + 5000;
    while ((!pick(0x0800) || !pick(0x86dd)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const v4 = pick(0x0800);
    const v6 = pick(0x86dd);
    assert.ok(v4 && v6, `pod A's datagrams captured (${got.length} frames seen)`);
    return { v4, v6 };
  } finally {
    link.detach();
    await reader.close();
    fr.close();
  }
}

function keyOfSafe(f: Buffer): FlowKey | undefined {
  const type = f.readUInt16BE(12);
  if (type === 0x0800 && f[23] === 17) return keyOf(f);
  if (type === 0x86dd && f[20] === 17) return keyOf(f);
  return undefined;
}

before(async () => {
  privateNetns();
  mkdirSync(PIN_DIR, { recursive: true });
  lab = new Lab('vrfr');
  ({ ns: nsA, mac: macA } = pod('a', A));
  ({ ns: nsB, mac: macB } = pod('b', B));
  hostMacA = (JSON.parse(sh('ip', ['-j', 'link', 'show', A.hostIf])) as { address: string }[])[0]!.address;
  // B takes frames an XDP vif redirects into its veth (GRO); A keeps the kernel's offloads
  lab.exec(nsB, 'ethtool', ['-K', 'eth0', 'gro', 'on']);
  captured.partial = await capture();
  lab.exec(nsA, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
  captured.full = await capture();
  lab.exec(nsA, 'ethtool', ['-K', 'eth0', 'tx', 'on']);

  t = openTestDatapath();
  const mgr = t.mgr;
  await mgr.addInterface(vifOf({ index: 1, type: 'virtual', name: A.hostIf, vrf: 1, ip4: A.ip4, ip6: A.ip6, policyEnabled: true, hookPolicy: 'tc' }));
  await mgr.addInterface(vifOf({ index: 2, type: 'virtual', name: B.hostIf, vrf: 1, ip4: B.ip4, ip6: B.ip6, hookPolicy: 'xdp' }));
  await mgr.addNextHop({ id: 1, vrf: 1, kind: 'receive' });
  await mgr.addNextHop(encapNh(11, 1, 1, macA));
  await mgr.addNextHop(encapNh(12, 1, 2, macB));
  await mgr.addRoutes([
    route(1, `${A.ip4}/32`, 11, true), route(1, `${A.ip6}/128`, 11, true),
    route(1, `${B.ip4}/32`, 12, true), route(1, `${B.ip6}/128`, 12, true),
    route(1, `${A.gw4}/32`, 1, true), route(1, `${B.gw4}/32`, 1, true),
  ]);
  sink = await UdpSink.start(lab, nsB, PORT);
});

after(async () => {
  sink?.stop();
  t?.dispose();
  lab?.cleanup();
  rmSync(PIN_DIR, { recursive: true, force: true });
});

async function hooks(a: Hook, b: Hook): Promise<void> {
  await t.mgr.updateInterface(1, { hookPolicy: a });
  await t.mgr.updateInterface(2, { hookPolicy: b });
  assert.deepEqual([t.mgr.vifs.get(1).hook, t.mgr.vifs.get(2).hook], [a, b]);
}

describe('re-injected frames reach the other pod (Reinjector on the live XDP entry)', () => {
  for (const a of ['tc', 'xdp'] as const)
    for (const b of ['xdp', 'tc'] as const)
      it(`A on ${a.toUpperCase()}, B on ${b.toUpperCase()}: IPv4 and IPv6`, async () => {
        await hooks(a, b);
        const r = new Reinjector(t.dp.xdp);
        const frames = [built(`built ${a}>${b} v4`), built(`built ${a}>${b} v6`, true)];
        for (const f of frames) forward(keyOf(f));
        const res = r.reinject(frames.map((frame) => ({ frame, ifindex: ifindexOf(A.hostIf), hook: 'xdp', tsNs: 0n })));
        assert.deepEqual([res.sent, res.failed], [2, 0]);
        await sink.waitFor((l) => l === `built ${a}>${b} v4`);
        await sink.waitFor((l) => l === `built ${a}>${b} v6`);
      });
});

describe('what live frames take', () => {
  it('a frame beyond about a page is refused (EINVAL), counted as failed, and the others still go', async (tc) => {
    await hooks('tc', 'xdp');
    const r = new Reinjector(t.dp.xdp);
    const at = (len: number) => ({ frame: built('L'.repeat(len - 42), false, 6000), ifindex: ifindexOf(A.hostIf), hook: 'xdp' as const, tsNs: 0n });
    forward(keyOf(at(100).frame));
    // the largest accepted: PAGE_SIZE less the headroom and the skb_shared_info tailroom
    let lo = 1514;
    let hi = 4096;
    assert.equal(r.reinject([at(lo)]).sent, 1);
    assert.equal(r.reinject([at(hi)]).failed, 1);
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (r.reinject([at(mid)]).sent) lo = mid;
      else hi = mid;
    }
    tc.diagnostic(`largest frame re-injected live: ${lo} bytes`);
    assert.equal(lo, LIVE_FRAME_MAX, 'the bound the hold queue applies');
    const res = r.reinject([at(hi), at(200)]);
    assert.deepEqual([res.sent, res.failed, (res.error as { code?: string }).code], [1, 1, 'EINVAL']);
  });
});

describe('frames held on the TC hook with a partial checksum', () => {
  it('pod A\'s UDP datagrams carry a partial checksum, completed to exactly what the kernel writes itself', () => {
    for (const fam of ['v4', 'v6'] as const) {
      const partial = Buffer.from(captured.partial[fam]);
      const full = captured.full[fam];
      const at = fam === 'v4' ? 14 + 20 + 6 : 14 + 40 + 6;
      assert.equal(completeChecksum(Buffer.from(full)), 'ok', `${fam}: TX checksum offload off: the kernel wrote it`);
      assert.notEqual(partial.readUInt16BE(at), full.readUInt16BE(at), `${fam}: offload on: the field is not the checksum`);
      assert.equal(completeChecksum(partial), 'completed', fam);
      assert.equal(partial.readUInt16BE(at), full.readUInt16BE(at), `${fam}: the same datagram, the same checksum`);
    }
  });

  for (const b of ['xdp', 'tc'] as const)
    it(`re-injected as TC frames, pod B's stack takes them (B on ${b.toUpperCase()})`, async () => {
      await hooks('tc', b);
      const before = sink.lines.filter((l) => l.startsWith('captured')).length;
      const frames = [captured.partial.v4, captured.partial.v6].map((f) => Buffer.from(f));
      for (const f of frames) forward(keyOf(f));
      const res = new Reinjector(t.dp.xdp).reinject(frames.map((frame) => ({ frame, ifindex: ifindexOf(A.hostIf), hook: 'tc' as const, tsNs: 0n })));
      assert.deepEqual([res.sent, res.completed], [2, 2]);
      const deadline = Date.now() + 3000;
      while (sink.lines.filter((l) => l.startsWith('captured')).length < before + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(sink.lines.filter((l) => l.startsWith('captured')).length, before + 2, 'both datagrams delivered (a bad checksum would be dropped by B)');
    });
});

describe('through the FlowHub: miss records in the pinned vr_miss_rb', () => {
  let hub: FlowHub;
  let ring: FrameRing;

  before(() => {
    hub = FlowHub.open({ dir: t.dp.dir, flows: t.dp.maps.vr_flows, log: pino({ level: 'silent' }), options: { aging: false, hold: { timeoutMs: 1500 } } });
    t.mgr.extraDrops = () => hub.daemonDrops();
    ring = FrameRing.load({ ringFd: t.dp.maps.vr_miss_rb.fd });
  });

  after(async () => {
    await hub?.close();
    ring?.close();
  });

  for (const b of ['xdp', 'tc'] as const)
    it(`a held frame is reported to a watcher, then delivered once the agent answers (B on ${b.toUpperCase()})`, async () => {
      await hooks('tc', b);
      const w = hub.watchMisses();
      const frame = built(`hub ${b}`, false, 4000 + (b === 'tc' ? 1 : 0));
      const key = keyOf(frame);
      const holdId = BigInt(0x1000 + (b === 'tc' ? 1 : 0));
      t.dp.maps.vr_flows.update(encodeFlowKey(key), flowValue({ action: FlowActionCode.HOLD, holdId, holdCount: 1 }));
      ring.put(encodeMiss({ ifindex: ifindexOf(A.hostIf), vifIdx: 1, hook: 'tc', holdId, key, frame }));
      const it = w[Symbol.asyncIterator]();
      const batch = (await it.next()).value as MissBatch;
      assert.deepEqual(batch.misses.map((m) => [m.holdId, m.vifIdx, m.hook]), [[holdId, 1, 'tc']]);
      assert.deepEqual(batch.misses[0]!.key, key);
      forward(key);
      assert.equal(await hub.resolved([key]), 1);
      await sink.waitFor((l) => l === `hub ${b}`);
      w.close();
    });

  it('a burst: 3000 held frames of 1000 flows re-injected and forwarded', async (tc) => {
    await hooks('tc', 'xdp');
    const N = 1000;
    const keys: FlowKey[] = [];
    const w = hub.watchMisses({ window: 1 << 20 });
    for (let i = 0; i < N; i++) {
      const sport = 10000 + i;
      const key = keyOf(built('x', false, sport));
      keys.push(key);
      for (let j = 0; j < 3; j++) ring.put(encodeMiss({ ifindex: ifindexOf(A.hostIf), vifIdx: 1, hook: 'xdp', holdId: BigInt(0x2000 + i), key, isNew: j === 0, frame: built(`burst ${i}.${j}`, false, sport) }));
    }
    let seen = 0;
    for await (const b of w) if ((seen += b.misses.length) >= N) break;
    assert.equal(hub.stats().framesHeld, 3 * N);
    for (const k of keys) forward(k);
    const tx0 = t.mgr.interfaceStats(2).txPackets;
    const t0 = performance.now();
    const sent = await hub.resolved(keys);
    const ms = performance.now() - t0;
    assert.equal(sent, 3 * N);
    assert.equal(t.mgr.interfaceStats(2).txPackets - tx0, BigInt(3 * N), 'every frame forwarded to B by the datapath');
    await sink.waitFor((l) => l.startsWith('burst '));
    tc.diagnostic(`re-injected ${3 * N} frames in ${ms.toFixed(1)} ms: ${Math.round((3 * N) / (ms / 1000))} frames/s`);
    assert.equal(hub.stats().framesHeld, 0);
  });
  /** missFor: the next miss of this source port a watcher gets */
  async function missFor(w: MissWatch, sport: number): Promise<FlowMiss> {
    const it = w[Symbol.asyncIterator]();
    for (;;) {
      const b = (await it.next()).value as MissBatch;
      const m = b.misses.find((x) => x.key.sport === sport);
      if (m) return m;
    }
  }

  async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  for (const a of ['tc', 'xdp'] as const)
    it(`pod A's own datagrams are held by the datapath (A on ${a.toUpperCase()}), reported, and delivered in order once answered`, async () => {
      await hooks(a, 'xdp');
      // a pod behind an XDP vif sends full checksums (DESIGN: veth facts); on TC it keeps the kernel's offloads
      if (a === 'xdp') lab.exec(nsA, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
      const w = hub.watchMisses();
      try {
        const sport = a === 'tc' ? 5555 : 5556;
        const completed0 = hub.stats().checksumsCompleted!;
        const msgs = [1, 2, 3].map((i) => `e2e ${a} ${i}`);
        udpSend(lab, nsA, 'udp4', sport, B.ip4, PORT, msgs);
        const m = await missFor(w, sport);
        assert.deepEqual([m.hook, m.ifindex, m.vifIdx, m.key.dport], [a, ifindexOf(A.hostIf), 1, PORT]);
        const kb = encodeFlowKey(m.key);
        // the datapath held all three (hold_per_flow 3) and the hub has read them
        await until(() => FLOW.decode(t.dp.maps.vr_flows.lookup(kb)!).holdCount === 3 && hub.stats().framesHeld! >= 3, 3000, 'three frames held');
        assert.ok(!sink.lines.some((l) => l.startsWith(`e2e ${a}`)), 'nothing reached B before the answer');
        forward(m.key);
        assert.equal(await hub.resolved([m.key]), 3);
        await sink.waitFor((l) => l === msgs[2]);
        assert.deepEqual(sink.lines.filter((l) => l.startsWith(`e2e ${a}`)), msgs, 'in the order they were sent');
        if (a === 'tc') assert.equal(hub.stats().checksumsCompleted! - completed0, 3n, 'partial checksums completed');
        // the flow is now a hit: the next datagram goes straight through
        udpSend(lab, nsA, 'udp4', sport, B.ip4, PORT, [`e2e ${a} after`]);
        await sink.waitFor((l) => l === `e2e ${a} after`);
      } finally {
        w.close();
        if (a === 'xdp') lab.exec(nsA, 'ethtool', ['-K', 'eth0', 'tx', 'on']);
      }
    });

  it('an unanswered miss expires: its frame counted under flow_hold_expired, its HOLD entry removed, an event', async () => {
    await hooks('tc', 'xdp');
    const w = hub.watchMisses();
    const events: FlowEvent[] = [];
    const ew = hub.watchEvents();
    const reading = (async () => {
      for await (const b of ew) events.push(...b.events);
    })();
    try {
      const expired0 = t.mgr.dropStats().find((d) => d.name === 'flow_hold_expired')!;
      udpSend(lab, nsA, 'udp4', 5557, B.ip4, PORT, ['never answered']);
      const m = await missFor(w, 5557);
      await until(() => events.some((e) => e.kind === 'hold_expired' && e.flow.holdId === m.holdId), 4000, 'hold_expired');
      assert.equal(t.dp.maps.vr_flows.lookup(encodeFlowKey(m.key)), undefined, 'the HOLD entry is gone: the next packet is a new miss');
      const expired = t.mgr.dropStats().find((d) => d.name === 'flow_hold_expired')!;
      assert.equal(expired.packets - expired0.packets, 1n);
      assert.equal(expired.daemon - expired0.daemon, 1n, 'counted by the daemon');
      assert.ok(!sink.lines.includes('never answered'));
    } finally {
      w.close();
      ew.close();
      await reading;
    }
  });
});

describe('batch re-injection (bpf/vr_reinject.c: one live run for many frames)', () => {
  let batch: BatchInjector;
  before(() => {
    batch = BatchInjector.open(OBJECT.replace(/vr_xdp\.o$/, 'vr_reinject.o'), t.dp.maps as never);
  });
  after(() => batch?.close());

  for (const a of ['tc', 'xdp'] as const)
    for (const b of ['xdp', 'tc'] as const)
      it(`A on ${a.toUpperCase()}, B on ${b.toUpperCase()}: every frame of a batch arrives, in order`, async () => {
        await hooks(a, b);
        const msgs = Array.from({ length: 20 }, (_, i) => `batch ${a}>${b} ${i}`);
        const frames = msgs.map((m, i) => built(m, i % 2 === 1, 3000 + i));
        for (const f of frames) forward(keyOf(f));
        const res = new Reinjector(t.dp.xdp, batch).reinject(frames.map((frame) => ({ frame, ifindex: ifindexOf(A.hostIf), hook: 'xdp', tsNs: 0n })));
        assert.deepEqual([res.sent, res.failed], [20, 0]);
        await sink.waitFor((l) => l === msgs.at(-1));
        const got = sink.lines.filter((l) => l.startsWith(`batch ${a}>${b} `));
        assert.deepEqual(got, msgs, 'all of them, in the order they were held');
      });

  it('3000 frames both ways (one run each, in batches): all forwarded by the same datapath', async (tc) => {
    await hooks('tc', 'xdp');
    const N = 3000;
    const frames = Array.from({ length: N }, (_, i) => built(`rate ${i}`, false, 20000 + (i % 1000)));
    for (let i = 0; i < 1000; i++) forward(keyOf(frames[i]!));
    const held = frames.map((frame) => ({ frame, ifindex: ifindexOf(A.hostIf), hook: 'xdp' as const, tsNs: 0n }));
    const rate = (r: Reinjector) => {
      const t0 = performance.now();
      const res = r.reinject(held);
      const ms = performance.now() - t0;
      assert.equal(res.sent, N);
      return N / (ms / 1000);
    };
    const tx0 = t.mgr.interfaceStats(2).txPackets;
    const one = rate(new Reinjector(t.dp.xdp));
    const many = rate(new Reinjector(t.dp.xdp, batch));
    assert.equal(t.mgr.interfaceStats(2).txPackets - tx0, BigInt(2 * N), 'every frame forwarded by the datapath, both ways');
    // rates are the bench's business (npm run bench); here they are only printed
    tc.diagnostic(`re-injection: ${Math.round(one)} frames/s one run each, ${Math.round(many)} frames/s in batches (${(many / one).toFixed(1)}x)`);
  });
});
