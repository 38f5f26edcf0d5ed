/**
 * TracePacket end to end: the real daemon on two pods (TC vifs), frames
 * traced through the live tables on each hook. Each trace answers what the
 * datapath decided (verdict, drop reason, next hop, output vif, peer
 * delivery) and the exact frame it would send, and moves no counter.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { Lab } from '../../lab/topology.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../../lab/two-pods.ts';
import type { VrouterClient } from '../../src/client/client.ts';
import { AttachHook } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { TraceVerdict } from '../../src/gen/vrouter/ebpf/v1/diagnostics_pb.js';
import { DropReason } from '../../src/gen/vrouter/ebpf/v1/stats_pb.js';
import { arpReply, arpRequest, eth, ipv4, udp } from '../helpers/packets.ts';
import { rejects } from '../helpers/grpc-status.ts';

/** rounds of the three traces of a forwarded frame: a trace that counted would move vif 1 rx by 3 per round */
const TRACES = 50;
const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));

let lab: Lab;
let topo: TwoPods;
let daemon: LabDaemon;
let c: VrouterClient;

before(async () => {
  lab = new Lab('vrtrace');
  topo = buildTwoPods(lab, 1500, { offloads: 'default' });
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host });
  c = await daemon.start();
  await programTwoPods(c, topo, AttachHook.TC);
});

after(async () => {
  await daemon?.destroy();
  lab?.cleanup();
});

/** the counters a forwarded frame from vif 1 to vif 2 would move */
async function counters() {
  const [s1, s2] = await Promise.all([1, 2].map(async (index) => (await c.stats.getInterfaceStats({ index })).stats!));
  return { rx1: s1!.rxPackets, tx2: s2!.txPackets };
}

const ifindex = (dev: string) => (JSON.parse(lab.ip(topo.host, ['-j', 'link', 'show', dev])) as { ifindex: number }[])[0]!.ifindex;

describe('TracePacket', () => {
  const [pod1, pod2] = [() => topo.pods[0], () => topo.pods[1]];
  const toPod2 = (ttl = 64, dst = pod2().ip4, len = 18) =>
    eth(pod1().hostMac, pod1().mac, 0x0800, ipv4(pod1().ip4, dst, 17, udp(1000, 2000, Buffer.alloc(len)), { ttl }));

  it('a frame to a pod: forwarded by next hop 12 out of vif 2 into the pod, rewritten; nothing counted', async () => {
    const before = await counters();
    for (let round = 0; round < TRACES; round++) {
      for (const hook of [AttachHook.UNSPECIFIED, AttachHook.TC] as const) {
        const r = await c.diagnostics.tracePacket({ interfaceIndex: 1, frame: toPod2(), hook });
        assert.equal(r.hook, AttachHook.TC, 'UNSPECIFIED runs the vif\'s own hook (TC)');
        assert.equal(r.verdict, TraceVerdict.REDIRECT);
        assert.deepEqual([r.hasNextHop, r.nextHopId, r.hasOut, r.outInterfaceIndex, r.outOsIndex], [true, 12, true, 2, ifindex('veth-p2')]);
        assert.equal(r.peerDelivery, true, 'bpf_redirect_peer into the pod');
        assert.equal(r.dropReason, DropReason.UNSPECIFIED);
        const want = eth(pod2().mac, pod2().hostMac, 0x0800, ipv4(pod1().ip4, pod2().ip4, 17, udp(1000, 2000, Buffer.alloc(18)), { ttl: 63 }));
        assert.deepEqual(Buffer.from(r.output), want, 'MACs rewritten, TTL 63, checksum fixed');
      }
      // the XDP entry hands a frame for a vif on TC to the device's own TC entry, untouched
      const x = await c.diagnostics.tracePacket({ interfaceIndex: 1, frame: toPod2(), hook: AttachHook.XDP });
      assert.deepEqual([x.hook, x.verdict, x.handedToTc, x.nextHopId, x.hasOut], [AttachHook.XDP, TraceVerdict.PASS, true, 12, false]);
      assert.deepEqual(Buffer.from(x.output), toPod2());
    }
    // the pods' own chatter (IPv6 router and neighbour discovery) may move a counter meanwhile, never by one per trace
    const after = await counters();
    assert.ok(after.rx1 - before.rx1 < BigInt(TRACES), `vif 1 rx moved by ${after.rx1 - before.rx1} over ${3 * TRACES} traces`);
    assert.ok(after.tx2 - before.tx2 < BigInt(TRACES), `vif 2 tx moved by ${after.tx2 - before.tx2} over ${3 * TRACES} traces`);
  });

  it('drops say why: no route, TTL exceeded', async () => {
    const none = await c.diagnostics.tracePacket({ interfaceIndex: 1, frame: toPod2(64, '10.99.0.1') });
    assert.deepEqual([none.verdict, none.dropReason, none.hasNextHop, none.hasOut], [TraceVerdict.DROP, DropReason.NO_ROUTE, false, false]);
    const ttl = await c.diagnostics.tracePacket({ interfaceIndex: 1, frame: toPod2(1) });
    assert.deepEqual([ttl.verdict, ttl.dropReason, ttl.nextHopId], [TraceVerdict.DROP, DropReason.TTL_EXCEEDED, 12]);
  });

  it('an ARP request for the gateway: answered on the arrival vif, the answer as output', async () => {
    const r = await c.diagnostics.tracePacket({ interfaceIndex: 1, frame: arpRequest(pod1().mac, pod1().ip4, '10.10.1.1') });
    assert.deepEqual([r.verdict, r.proxied], [TraceVerdict.REDIRECT, true]);
    assert.deepEqual(Buffer.from(r.output), arpReply(pod1().hostMac, '10.10.1.1', pod1().mac, pod1().ip4));
  });

  it('works with buf curl and JSON (the frame in base64)', () => {
    const body = JSON.stringify({ interfaceIndex: 1, frame: toPod2().toString('base64') });
    const out = execFileSync(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--unix-socket', daemon.socketPath, '-d', body,
      'http://localhost/vrouter.ebpf.v1.DiagnosticsService/TracePacket'], { encoding: 'utf8', timeout: 30_000 });
    const j = JSON.parse(out) as { verdict: string; nextHopId: number; outInterfaceIndex: number; hook: string };
    assert.deepEqual([j.verdict, j.nextHopId, j.outInterfaceIndex, j.hook], ['TRACE_VERDICT_REDIRECT', 12, 2, 'ATTACH_HOOK_TC']);
  });

  it('bad input: a precise status', async () => {
    const D = c.diagnostics;
    await rejects(D.tracePacket({ interfaceIndex: 9, frame: toPod2() }), status.NOT_FOUND, 'interface_index');
    await rejects(D.tracePacket({ interfaceIndex: 1, frame: Buffer.alloc(10) }), status.INVALID_ARGUMENT, 'frame', /at least 14/);
    await rejects(D.tracePacket({ interfaceIndex: 1, frame: Buffer.alloc(20000) }), status.INVALID_ARGUMENT, 'frame', /16384/);
    await rejects(D.tracePacket({ interfaceIndex: 1, frame: toPod2(), hook: 9 as AttachHook }), status.INVALID_ARGUMENT, 'hook');
    // the skb test run takes about a page; XDP runs the multi-buffer frame (and hands it to TC, vif 2's hook)
    await rejects(D.tracePacket({ interfaceIndex: 1, frame: toPod2(64, pod2().ip4, 5000), hook: AttachHook.TC }), status.INVALID_ARGUMENT, 'frame', /EINVAL/);
    const big = await D.tracePacket({ interfaceIndex: 1, frame: toPod2(64, pod2().ip4, 5000), hook: AttachHook.XDP });
    assert.deepEqual([big.verdict, big.handedToTc, big.nextHopId, big.output.length], [TraceVerdict.PASS, true, 12, 5000 + 42]);
  });
});
