/**
 * End to end: two pods on one host, kernel forwarding off in the host
 * namespace, the real daemon programming the real datapath over gRPC, on
 * each hook and at MTU 1500 and 9000:
 * - TC vifs (tcx ingress, bpf_redirect_peer): the pods keep the kernel's
 *   default offloads (TSO, TX checksum offload): nothing special;
 * - XDP vifs: the pods have GRO on and TX checksum offload off (what an XDP
 *   datapath needs of a veth peer).
 * Each case pings both ways over IPv4 and IPv6 and moves 64 MiB of TCP each
 * way of family with matching sha256 on both ends. A vif moved between hooks
 * while a ping runs loses nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/topology.ts';
import { tcpTransferChecked } from '../helpers/transfer.ts';
import { backgroundPing } from '../helpers/background-ping.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../../lab/two-pods.ts';
import { collect, type VrouterClient } from '../../src/client/client.ts';
import { AttachHook, AttachMode } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';

const TRANSFER_BYTES = 64 * 1024 * 1024;

interface Case {
  hook: 'tc' | 'xdp';
  mtu: number;
}

const CASES: Case[] = [
  { hook: 'tc', mtu: 1500 },
  { hook: 'tc', mtu: 9000 },
  { hook: 'xdp', mtu: 1500 },
  { hook: 'xdp', mtu: 9000 },
];

/** the pod's eth0 offloads as ethtool -k names them (on / off) */
function offloads(lab: Lab, ns: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lab.exec(ns, 'ethtool', ['-k', 'eth0']).split('\n')) {
    const m = /^([a-z-]+): (on|off)/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** hostTxPackets: what a host-side veth transmitted (the kernel's own counter) */
function hostTxPackets(lab: Lab, ns: string, dev: string): number {
  const j = JSON.parse(lab.ip(ns, ['-s', '-j', 'link', 'show', dev])) as { stats64: { tx: { packets: number } } }[];
  return j[0]!.stats64.tx.packets;
}

for (const c of CASES) {
  const HOOK = c.hook === 'tc' ? AttachHook.TC : AttachHook.XDP;
  describe(`pod to pod, ${c.hook.toUpperCase()} vifs, MTU ${c.mtu}`, () => {
    let lab: Lab;
    let topo: TwoPods;
    let daemon: LabDaemon;
    let client: VrouterClient;
    const stats = async (index: number) => (await client.stats.getInterfaceStats({ index })).stats!;

    before(async () => {
      lab = new Lab('vre2e');
      // TC vifs: the pods as the kernel makes them; XDP vifs: GRO on, TX checksum off
      topo = buildTwoPods(lab, c.mtu, { offloads: c.hook === 'tc' ? 'default' : 'xdp' });
      daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host });
      client = await daemon.start();
      await programTwoPods(client, topo, HOOK);
    });

    after(async () => {
      await daemon?.destroy();
      lab?.cleanup();
    });

    it('the host namespace does not forward by itself', () => {
      assert.equal(lab.exec(topo.host, 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), '0');
      assert.equal(lab.exec(topo.host, 'sysctl', ['-n', 'net.ipv6.conf.all.forwarding']).trim(), '0');
    });

    it(`both vifs on the ${c.hook.toUpperCase()} hook, and the pods' offloads as the hook wants them`, async () => {
      const vifs = (await collect(client.interfaces.listInterfaces({}))).map((v) => v.interface!);
      const mode = c.hook === 'xdp' ? AttachMode.NATIVE : AttachMode.UNSPECIFIED;
      assert.deepEqual(vifs.map((v) => [v.name, v.hook, v.hookPolicy, v.attachMode, v.peerDelivery, v.mtu]), [
        ['veth-p1', HOOK, HOOK, mode, true, c.mtu],
        ['veth-p2', HOOK, HOOK, mode, true, c.mtu],
      ]);
      const info = await client.system.getSystemInfo({});
      assert.deepEqual(info.attachments.map((a) => a.program), Array(2).fill(c.hook === 'tc' ? 'vr_tc_vif' : 'vr_xdp_vif'));
      const link = lab.ip(topo.host, ['link', 'show', 'veth-p1']);
      if (c.hook === 'xdp') assert.match(link, /xdp/);
      else assert.doesNotMatch(link, /xdp/, 'no XDP program on a TC vif');
      for (const pod of topo.pods) {
        const o = offloads(lab, pod.ns);
        if (c.hook === 'tc')
          assert.deepEqual([o['tx-checksumming'], o['tcp-segmentation-offload']], ['on', 'on'], `${pod.ns}: the kernel's defaults`);
        else assert.deepEqual([o['tx-checksumming'], o['generic-receive-offload']], ['off', 'on'], `${pod.ns}: GRO on, TX checksum off`);
      }
    });

    it('ping IPv4 and IPv6 in both directions', async () => {
      const before1 = await stats(1);
      for (const [from, to] of [[0, 1], [1, 0]] as const) {
        assert.equal(lab.ping(topo.pods[from].ns, topo.pods[to].ip4, 3).received, 3, `pod${from + 1} -> ${topo.pods[to].ip4}`);
        assert.equal(lab.ping(topo.pods[from].ns, topo.pods[to].ip6, 3).received, 3, `pod${from + 1} -> ${topo.pods[to].ip6}`);
      }
      const after1 = await stats(1);
      // 6 echo requests out of pod1 and 6 replies to it, at least
      assert.ok(after1.rxPackets - before1.rxPackets >= 6n, 'vif 1 rx moved');
      assert.ok(after1.txPackets - before1.txPackets >= 6n, 'vif 1 tx moved');
    });

    if (c.mtu > 1500)
      it(`a ${c.mtu}-byte IP packet crosses unfragmented (DF), IPv4 and IPv6`, () => {
        const [p1, p2] = topo.pods;
        // payload = MTU - IP header - ICMP header
        for (const [dst, size] of [[p2.ip4, c.mtu - 28], [p2.ip6, c.mtu - 48]] as const) {
          const out = lab.exec(p1.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', '-M', 'do', '-s', String(size), dst], { allowFail: true });
          assert.match(out, / 2 received/, `${dst} with ${size} bytes of payload:\n${out}`);
        }
      });

    for (const family of ['ip4', 'ip6'] as const)
      it(`a TCP transfer of 64 MiB over ${family === 'ip4' ? 'IPv4' : 'IPv6'} arrives intact (sha256 equal on both ends)`, async () => {
        const before2 = await stats(2);
        const hostTx0 = hostTxPackets(lab, topo.host, 'veth-p2');
        await tcpTransferChecked(lab, topo.pods[0], topo.pods[1], family, TRANSFER_BYTES);
        const after2 = await stats(2);
        assert.ok(after2.txBytes - before2.txBytes >= BigInt(TRANSFER_BYTES), `vif 2 tx bytes moved by ≥ ${TRANSFER_BYTES}`);
        // bpf_redirect_peer goes straight into pod 2's eth0: the host end never transmits the data
        if (c.hook === 'tc') assert.ok(hostTxPackets(lab, topo.host, 'veth-p2') - hostTx0 < 100, 'veth-p2 did not carry the transfer');
      });

    if (c.mtu === 1500) {
      it('the pods resolved their gateways through proxy ARP/ND', async () => {
        const neigh = lab.ip(topo.pods[0].ns, ['neigh', 'show', 'dev', 'eth0']);
        assert.match(neigh, new RegExp(`10\\.10\\.1\\.1 lladdr ${topo.pods[0].hostMac}`));
        assert.match(neigh, new RegExp(`fd00:10:1::1 lladdr ${topo.pods[0].hostMac} router`));
        assert.ok((await stats(1)).proxied >= 2n);
      });

      it('deleting the route cuts the traffic and counts no_route; adding it back restores it', async () => {
        const drops0 = (await client.stats.getDropStats({})).counters.find((x) => x.name === 'no_route')!.packets;
        await client.routes.deleteRoute({ vrf: 1, prefix: `${topo.pods[1].ip4}/32` });
        assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2, { allowFail: true }).received, 0);
        const drops1 = (await client.stats.getDropStats({})).counters.find((x) => x.name === 'no_route')!.packets;
        assert.ok(drops1 - drops0 >= 2n, 'no_route counted');
        await client.routes.addRoute({ route: { vrf: 1, prefix: `${topo.pods[1].ip4}/32`, nextHopId: 12, proxyArp: true } });
        assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2).received, 2);
      });
    }

    // the pods of the XDP case (GRO on) take frames from either hook
    if (c.hook === 'xdp' && c.mtu === 1500)
      it('vifs moved from XDP to TC and back while a ping runs: not one lost', async () => {
        const ping = backgroundPing(lab, topo, 300); // 3 s at 100/s
        const moves = [AttachHook.TC, AttachHook.XDP, AttachHook.TC, AttachHook.XDP];
        await sleep(200);
        for (const [i, hook] of moves.entries()) {
          const r = await client.interfaces.updateInterface({ index: 1 + (i % 2), hookPolicy: hook });
          assert.equal(r.interface!.hook, hook);
          await client.interfaces.updateInterface({ index: 2 - (i % 2), hookPolicy: hook });
          await sleep(300);
        }
        const result = await ping;
        assert.deepEqual(result, { transmitted: 300, received: 300 }, 'no ping lost across the hook changes');
        const info = await client.system.getSystemInfo({});
        assert.deepEqual(info.attachments.map((a) => a.hook), [AttachHook.XDP, AttachHook.XDP]);
      });
  });
}

describe('pod to pod, mixed hooks: pod 1 on an XDP vif, pod 2 on a TC vif with default offloads', () => {
  let lab: Lab;
  let topo: TwoPods;
  let daemon: LabDaemon;
  let client: VrouterClient;

  before(async () => {
    lab = new Lab('vremix');
    topo = buildTwoPods(lab, 1500, { offloads: 'default' });
    // what an XDP vif needs of its pod; pod 2 keeps the kernel's defaults (GRO off: it takes no XDP frames)
    lab.exec(topo.pods[0].ns, 'ethtool', ['-K', 'eth0', 'gro', 'on', 'tx', 'off']);
    daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host });
    client = await daemon.start();
    await programTwoPods(client, topo, AttachHook.TC);
    await client.interfaces.updateInterface({ index: 1, hookPolicy: AttachHook.XDP });
  });

  after(async () => {
    await daemon?.destroy();
    lab?.cleanup();
  });

  it('XDP hands what goes to the TC vif to its own tcx link: ping and 64 MiB of TCP both ways', async () => {
    const vifs = (await collect(client.interfaces.listInterfaces({}))).map((v) => v.interface!.hook);
    assert.deepEqual(vifs, [AttachHook.XDP, AttachHook.TC]);
    for (const [from, to] of [[0, 1], [1, 0]] as const) {
      assert.equal(lab.ping(topo.pods[from].ns, topo.pods[to].ip4, 3).received, 3);
      assert.equal(lab.ping(topo.pods[from].ns, topo.pods[to].ip6, 3).received, 3);
    }
    const before1 = (await client.stats.getInterfaceStats({ index: 1 })).stats!;
    await tcpTransferChecked(lab, topo.pods[0], topo.pods[1], 'ip4', TRANSFER_BYTES);
    await tcpTransferChecked(lab, topo.pods[1], topo.pods[0], 'ip6', TRANSFER_BYTES);
    const after1 = (await client.stats.getInterfaceStats({ index: 1 })).stats!;
    // pod 1's data, received once (by TC, after XDP passed it up): not twice
    const rx = after1.rxBytes - before1.rxBytes;
    assert.ok(rx >= BigInt(TRANSFER_BYTES) && rx < BigInt(TRANSFER_BYTES) * 3n / 2n, `vif 1 rx bytes ${rx} counted once`);
  });
});
