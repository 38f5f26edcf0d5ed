/**
 * End to end, L2 forwarding by the bridge (MAC) tables across two simulated
 * hosts (lab/multihost.ts), a daemon each, pods of VRF 1 in one subnet
 * (10.50.0.0/24, lab/bridge-program.ts): a pod reaches a pod of the other
 * host by its MAC, through the bridge entry of that MAC (a VXLAN tunnel,
 * the frame carried whole), and the other host bridges the inner frame by
 * its MAC to its pod (an L2 VNI). The pods' neighbour entries are static:
 * without a flood entry nothing floods their ARP requests. On TC vifs (the
 * pods' default offloads) and on XDP vifs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../lab/topology.ts';
import { startDaemons, type LabDaemon } from '../../lab/daemon.ts';
import { buildMultiHost, podOf, type MultiHost } from '../../lab/multihost.ts';
import { FABRIC_VIF, programLocal } from '../../lab/overlay-program.ts';
import { addL2Addresses, l2Ip4, programBridge } from '../../lab/bridge-program.ts';
import type { VrouterClient } from '../../src/client/client.ts';
import { AttachHook } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';

const HOOKS = { tc: AttachHook.TC, xdp: AttachHook.XDP } as const;

for (const hook of ['tc', 'xdp'] as const)
  describe(`L2 across two hosts over VXLAN, ${hook.toUpperCase()} vifs: pods of one subnet by their MACs`, () => {
    let lab: Lab;
    let t: MultiHost;
    let daemons: LabDaemon[] = [];
    let clients: VrouterClient[];

    before(async () => {
      lab = new Lab('vrbr');
      t = buildMultiHost(lab, { hosts: 2, vrfs: 1, offloads: hook === 'tc' ? 'default' : 'xdp' });
      daemons = await startDaemons(lab, t.hosts.map((h) => h.ns));
      clients = daemons.map((d) => d.client!);
      for (const [i, c] of clients.entries()) {
        await programLocal(c, t.hosts[i]!, { hook: HOOKS[hook] });
        await programBridge(c, t, t.hosts[i]!, 1);
      }
      addL2Addresses(lab, t, 1);
      const [a, b] = [podOf(t, 1), podOf(t, 2)];
      lab.ip(a.ns, ['neigh', 'replace', l2Ip4(b), 'lladdr', b.mac, 'dev', a.ifname, 'nud', 'permanent']);
      lab.ip(b.ns, ['neigh', 'replace', l2Ip4(a), 'lladdr', a.mac, 'dev', b.ifname, 'nud', 'permanent']);
    });

    after(async () => {
      for (const d of daemons) await d.destroy();
      lab?.cleanup();
    });

    it('the bridge tables list the local and the remote MAC', async () => {
      const r = await clients[0]!.bridge.listBridgeEntries({ vrf: 1 });
      assert.deepEqual(r.entries.map((e) => e.mac).sort(), [podOf(t, 1).mac, podOf(t, 2).mac].sort());
      assert.equal(r.nextPageToken, '');
    });

    it('ping across hosts in one subnet: bridged (to the pod\'s MAC, not the router\'s), through the VXLAN tunnel, both ways', async () => {
      const fab = async (c: VrouterClient) => (await c.stats.getInterfaceStats({ index: FABRIC_VIF })).stats!;
      const [f1, f2] = [await fab(clients[0]!), await fab(clients[1]!)];
      assert.equal(lab.ping(podOf(t, 1).ns, l2Ip4(podOf(t, 2)), 3).received, 3);
      assert.equal(lab.ping(podOf(t, 2).ns, l2Ip4(podOf(t, 1)), 3).received, 3);
      const [g1, g2] = [await fab(clients[0]!), await fab(clients[1]!)];
      assert.ok(g1.txPackets - f1.txPackets >= 6n, `host 1 sent ${g1.txPackets - f1.txPackets} frames into the tunnel`);
      assert.ok(g2.rxPackets - f2.rxPackets >= 6n, `host 2 received ${g2.rxPackets - f2.rxPackets} tunnelled frames`);
      // the router's MAC never saw it: the pod's neighbour entry is the remote pod's own MAC
      const neigh = lab.ip(podOf(t, 1).ns, ['neigh', 'show', l2Ip4(podOf(t, 2))]);
      assert.match(neigh, new RegExp(podOf(t, 2).mac));
    });

    it('the router still answers beside it: the gateway is resolved by the proxy to the vif\'s MAC', () => {
      const a = podOf(t, 1);
      lab.ping(a.ns, a.gw4, 1, { allowFail: true }); // the host stack owns no gateway address: ARP is what is checked
      assert.match(lab.ip(a.ns, ['neigh', 'show', a.gw4]), new RegExp(`lladdr ${a.hostMac}`));
    });

    it('a MAC removed from the bridge table is no longer reached', async () => {
      await clients[0]!.bridge.deleteBridgeEntry({ vrf: 1, mac: podOf(t, 2).mac });
      assert.equal(lab.ping(podOf(t, 1).ns, l2Ip4(podOf(t, 2)), 2, { allowFail: true }).received, 0);
    });
  });
