/**
 * The overlay end to end against a peer we did not write: a pod behind a TC
 * vif of the real daemon talks to a "remote host" namespace whose Linux
 * vxlan device (VNI 5001, UDP 4789) terminates the tunnel, over a veth
 * underlay that the kernel routes:
 *
 *   pod (eth0 10.10.1.2, default offloads: TSO on)
 *    └ veth-p1 [vif 1, TC]  host ns (daemon; fab0 192.0.2.1 [vif 2, fabric, TC])
 *                                └ veth ─ remote ns: eth0 192.0.2.2, vx0 10.20.0.2 (vxlan 5001)
 *
 * What it shows:
 * - TCP both ways with matching sha256: our VXLAN is decapsulated by Linux,
 *   Linux's is decapsulated by us;
 * - GSO kept: the pod's TSO packets cross the encapsulation as GSO skbs
 *   (the fabric vif sends packets larger than its MTU on average: only GSO
 *   skbs can be), with the pod's segments fitting the path with the
 *   encapsulation on top (FIXED_GSO) and without it (gso_size lowered);
 * - the underlay neighbour resolved by the kernel on the first packet
 *   (bpf_redirect_neigh), nothing lost;
 * - ICMP fragmentation needed back to the pod for a DF packet too big for
 *   the tunnel, with the MTU left for it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, type Pod } from '../../lab/topology.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import type { VrouterClient } from '../../src/client/client.ts';
import { AttachHook, InterfaceType } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { TunnelType } from '../../src/gen/vrouter/ebpf/v1/nexthop_pb.js';
import { tcpTransferChecked } from '../helpers/transfer.ts';

const BYTES = 8 * 1024 * 1024;

let lab: Lab;
let host: string;
let remote: string;
let pod: Pod;
let far: Pod;
let daemon: LabDaemon;
let c: VrouterClient;

async function fabricTx(): Promise<{ packets: bigint; bytes: bigint }> {
  const s = (await c.stats.getInterfaceStats({ index: 2 })).stats!;
  return { packets: s.txPackets, bytes: s.txBytes };
}

async function drops(): Promise<Map<string, bigint>> {
  return new Map((await c.stats.getDropStats({})).counters.map((d) => [d.name, d.packets]));
}

before(async () => {
  lab = new Lab('vrgso');
  host = lab.ns('host');
  remote = lab.ns('remote');
  lab.sysctl(host, 'net.ipv4.ip_forward', '0');
  // the pod keeps the kernel's offloads (TSO: 64 KB GSO packets)
  pod = lab.pod('pod', host, 'veth-p1', '10.10.1.2/24', '10.10.1.1', 'fd00:10:1::2/64', 'fd00:10:1::1', 1500, { offloads: 'default' });
  // the underlay: host fab0 <-> remote eth0
  lab.ip(host, ['link', 'add', 'fab0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', remote]);
  for (const [ns, dev] of [[host, 'fab0'], [remote, 'eth0']] as const) lab.sysctl(ns, `net.ipv6.conf.${dev}.disable_ipv6`, '1');
  lab.ip(host, ['addr', 'add', '192.0.2.1/24', 'dev', 'fab0']);
  lab.ip(remote, ['addr', 'add', '192.0.2.2/24', 'dev', 'eth0']);
  lab.ip(host, ['link', 'set', 'fab0', 'up']);
  lab.ip(remote, ['link', 'set', 'eth0', 'up']);
  // bpf_fib_lookup answers only for a device that forwards
  lab.sysctl(host, 'net.ipv4.conf.fab0.forwarding', '1');
  // the remote host: a Linux vxlan device, everything unknown to us (the daemon's host)
  lab.ip(remote, ['link', 'add', 'vx0', 'type', 'vxlan', 'id', '5001', 'local', '192.0.2.2', 'dstport', '4789', 'nolearning', 'dev', 'eth0']);
  lab.ip(remote, ['addr', 'add', '10.20.0.2/24', 'dev', 'vx0']);
  lab.ip(remote, ['link', 'set', 'vx0', 'up']);
  lab.exec(remote, 'bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx0', 'dst', '192.0.2.1']);
  lab.ip(remote, ['route', 'add', '10.10.1.0/24', 'dev', 'vx0']);
  lab.ip(remote, ['neigh', 'add', '10.10.1.2', 'lladdr', '02:00:00:00:00:99', 'dev', 'vx0', 'nud', 'permanent']);
  far = { ns: remote, ifname: 'vx0', hostIf: '', mac: lab.mac(remote, 'vx0'), hostMac: '', ip4: '10.20.0.2', ip6: '' };

  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: host });
  c = await daemon.start();
  await c.interfaces.addInterface({ interface: { index: 1, type: InterfaceType.VIRTUAL, name: 'veth-p1', vrf: 1, hookPolicy: AttachHook.TC } });
  await c.interfaces.addInterface({ interface: { index: 2, type: InterfaceType.FABRIC, name: 'fab0', vrf: 0, ipv4Address: '192.0.2.1', hookPolicy: AttachHook.TC } });
  await c.nextHops.addNextHop({ nextHop: { id: 1, vrf: 1, kind: { case: 'receive', value: {} } } });
  await c.nextHops.addNextHop({ nextHop: { id: 11, vrf: 1, kind: { case: 'encap', value: { interfaceIndex: 1, dstMac: pod.mac } } } });
  await c.nextHops.addNextHop({
    nextHop: {
      id: 20, vrf: 1,
      kind: { case: 'tunnel', value: { type: TunnelType.VXLAN, srcIp: '192.0.2.1', dstIp: '192.0.2.2', label: 5001, interfaceIndex: 2, innerDstMac: far.mac } },
    },
  });
  await c.nextHops.addNextHop({ nextHop: { id: 30, vrf: 1, kind: { case: 'vrfRoute', value: {} } } });
  await c.routes.addRoutes({
    routes: [
      { vrf: 1, prefix: '10.10.1.1/32', nextHopId: 1, proxyArp: true },
      { vrf: 1, prefix: '10.10.1.2/32', nextHopId: 11, proxyArp: true },
      { vrf: 1, prefix: '10.20.0.0/24', nextHopId: 20, proxyArp: true },
    ],
  });
  await c.vxlan.addVni({ vni: { vni: 5001, nextHopId: 30 } });
});

after(async () => {
  await daemon?.destroy();
  lab?.cleanup();
});

describe('pod to a Linux vxlan host through our VXLAN (TC vifs)', () => {
  it('the first packet waits for the underlay neighbour (resolved by the kernel), then ping both ways', async () => {
    assert.equal(lab.ping(pod.ns, far.ip4, 3).received, 3);
    assert.equal(lab.ping(remote, pod.ip4, 3).received, 3);
  });

  it('TCP each way with matching sha256; GSO packets cross the encapsulation whole (segments fit with it: gso_size kept)', async () => {
    const d0 = await drops();
    const t0 = await fabricTx();
    await tcpTransferChecked(lab, pod, far, 'ip4', BYTES);
    const t1 = await fabricTx();
    await tcpTransferChecked(lab, far, pod, 'ip4', BYTES);
    const avg = Number(t1.bytes - t0.bytes) / Number(t1.packets - t0.packets);
    console.log(`pod -> vxlan host: ${t1.packets - t0.packets} packets out of the fabric vif, ${avg.toFixed(0)} bytes on average`);
    assert.ok(avg > 1500, `larger than the fabric's MTU on average (${avg.toFixed(0)} B): GSO skbs, segmented once on the way out`);
    const d1 = await drops();
    for (const r of ['tunnel_encap_failed', 'tunnel_decap_failed', 'frag_needed', 'mtu_exceeded']) assert.equal(d1.get(r)! - d0.get(r)!, 0n, r);
  });

  it('segments that fit only without the encapsulation: gso_size goes down by it, the GSO packets still cross whole', async () => {
    // the remote's vx0 at 1500 advertises MSS 1460: 1460 + 40 + 50 is more than the fabric's 1500
    // (its own underlay side then takes 1550; only ACKs come back, well within the host's 1500)
    lab.ip(remote, ['link', 'set', 'eth0', 'mtu', '1550']);
    lab.ip(remote, ['link', 'set', 'vx0', 'mtu', '1500']);
    try {
      const d0 = await drops();
      const t0 = await fabricTx();
      await tcpTransferChecked(lab, pod, far, 'ip4', BYTES);
      const t1 = await fabricTx();
      const avg = Number(t1.bytes - t0.bytes) / Number(t1.packets - t0.packets);
      console.log(`pod -> vxlan host (MSS 1460): ${avg.toFixed(0)} bytes per packet out of the fabric vif on average`);
      assert.ok(avg > 1500, `GSO skbs (${avg.toFixed(0)} B on average)`);
      const d1 = await drops();
      for (const r of ['tunnel_encap_failed', 'mtu_exceeded']) assert.equal(d1.get(r)! - d0.get(r)!, 0n, r);
    } finally {
      lab.ip(remote, ['link', 'set', 'vx0', 'mtu', '1450']);
      lab.ip(remote, ['link', 'set', 'eth0', 'mtu', '1500']);
    }
  });

  it('a DF packet too big for the tunnel: fragmentation needed with the MTU left (1450)', async () => {
    // the transfers may have taught the pod the path's MTU already: forget it, so the ping goes out
    lab.ip(pod.ns, ['route', 'flush', 'cache']);
    const d0 = await drops();
    const out = lab.exec(pod.ns, 'ping', ['-c', '1', '-W', '1', '-M', 'do', '-s', '1472', far.ip4], { allowFail: true });
    assert.match(out, /mtu ?= ?1450/i, out);
    const d1 = await drops();
    assert.ok(d1.get('frag_needed')! - d0.get('frag_needed')! >= 1n);
    // and the pod's kernel now knows the path: 1422 bytes of payload fit
    assert.equal(lab.ping(pod.ns, far.ip4, 1).received, 1);
    const fits = lab.exec(pod.ns, 'ping', ['-c', '1', '-W', '2', '-M', 'do', '-s', '1422', far.ip4], { allowFail: true });
    assert.match(fits, /1 received/, fits);
  });
});
