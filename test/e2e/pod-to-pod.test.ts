/**
 * End to end: two pods on one host, kernel forwarding off in the host
 * namespace, the real daemon programming the real XDP datapath over gRPC.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../lab/topology.ts';
import { tcpTransferChecked } from '../helpers/transfer.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../../lab/two-pods.ts';
import { collect, type VrouterClient } from '../../src/client/client.ts';
import { AttachMode } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';


let lab: Lab;
let topo: TwoPods;
let daemon: LabDaemon;
let client: VrouterClient;

before(async () => {
  lab = new Lab('vre2e');
  topo = buildTwoPods(lab);
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host });
  client = await daemon.start();
  await programTwoPods(client, topo);
});

after(async () => {
  await daemon?.destroy();
  lab?.cleanup();
});

async function stats(index: number) {
  return (await client.stats.getInterfaceStats({ index })).stats!;
}

describe('pod to pod through XDP', () => {
  it('the host namespace does not forward by itself', () => {
    assert.equal(lab.exec(topo.host, 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), '0');
    assert.equal(lab.exec(topo.host, 'sysctl', ['-n', 'net.ipv6.conf.all.forwarding']).trim(), '0');
  });

  it('attached natively on both vifs', async () => {
    const vifs = await collect(client.interfaces.listInterfaces({}));
    assert.deepEqual(vifs.map((v) => [v.interface!.name, v.interface!.attachMode]), [
      ['veth-p1', AttachMode.NATIVE],
      ['veth-p2', AttachMode.NATIVE],
    ]);
    assert.match(lab.ip(topo.host, ['link', 'show', 'veth-p1']), /prog\/xdp id \d+ name vr_xdp_vif|xdp/);
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

  it('the pods resolved their gateways through proxy ARP/ND', async () => {
    const neigh = lab.ip(topo.pods[0].ns, ['neigh', 'show', 'dev', 'eth0']);
    assert.match(neigh, new RegExp(`10\\.10\\.1\\.1 lladdr ${topo.pods[0].hostMac}`));
    assert.match(neigh, new RegExp(`fd00:10:1::1 lladdr ${topo.pods[0].hostMac} router`));
    assert.ok((await stats(1)).proxied >= 2n);
  });

  for (const family of ['ip4', 'ip6'] as const) {
    it(`a TCP transfer of 8 MiB over ${family === 'ip4' ? 'IPv4' : 'IPv6'} arrives intact (sha256 equal on both ends)`, async () => {
      const bytes = 8 * 1024 * 1024;
      const before2 = await stats(2);
      await tcpTransferChecked(lab, topo.pods[0], topo.pods[1], family, bytes);
      const after2 = await stats(2);
      assert.ok(after2.txBytes - before2.txBytes >= BigInt(bytes), `vif 2 tx bytes moved by ≥ ${bytes}`);
    });
  }

  it('deleting the route cuts the traffic and counts no_route; adding it back restores it', async () => {
    const drops0 = (await client.stats.getDropStats({})).counters.find((c) => c.name === 'no_route')!.packets;
    await client.routes.deleteRoute({ vrf: 1, prefix: `${topo.pods[1].ip4}/32` });
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2, { allowFail: true }).received, 0);
    const drops1 = (await client.stats.getDropStats({})).counters.find((c) => c.name === 'no_route')!.packets;
    assert.ok(drops1 - drops0 >= 2n, 'no_route counted');
    await client.routes.addRoute({ route: { vrf: 1, prefix: `${topo.pods[1].ip4}/32`, nextHopId: 12, proxyArp: true } });
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2).received, 2);
  });
});
