/**
 * End to end, the L2 flood across two simulated hosts (lab/multihost.ts), a
 * daemon each: two L2 VRFs, each with two pods per host in the same subnet
 * (10.50.0.0/24, the same addresses in both VRFs) and its own VNI, each
 * host's flood entry a FLOOD composite of its local pods' L2 encaps and the
 * VXLAN tunnel toward the other host (lab/bridge-program.ts programFlood).
 *
 * A pod whose neighbour table is empty pings a pod of its VRF on the other
 * host: its ARP request (a broadcast) reaches every other pod of its VRF on
 * both hosts (tcpdump in each pod sees it) and no pod of the other VRF
 * (which has a pod with the very address asked for); the reply and the
 * pings then go by the bridge entries (unicast, the pod's own MAC). The
 * underlay carries the broadcast one way only: the receiving host floods
 * what comes out of the tunnel to its local pods, never back (split
 * horizon). On TC vifs and on XDP vifs (XDP hands the flood to TC).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../lab/topology.ts';
import { startDaemons, type LabDaemon } from '../../lab/daemon.ts';
import { buildMultiHost, podOf, type MultiHost, type OverlayPod } from '../../lab/multihost.ts';
import { programLocal } from '../../lab/overlay-program.ts';
import { addL2Addresses, BROADCAST_MAC, l2Ip4, l2Vni, programBridge, programFlood } from '../../lab/bridge-program.ts';
import type { VrouterClient } from '../../src/client/client.ts';
import { AttachHook } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { UnderlayCapture } from '../helpers/underlay-capture.ts';

const HOOKS = { tc: AttachHook.TC, xdp: AttachHook.XDP } as const;
const VRFS = [1, 2];

for (const hook of ['tc', 'xdp'] as const)
  describe(`L2 flood across two hosts, two L2 VRFs, ${hook.toUpperCase()} vifs`, () => {
    let lab: Lab;
    let t: MultiHost;
    let daemons: LabDaemon[] = [];
    let clients: VrouterClient[];

    before(async () => {
      lab = new Lab('vrfl');
      t = buildMultiHost(lab, { hosts: 2, podsPerHost: 2, vrfs: 2, offloads: hook === 'tc' ? 'default' : 'xdp' });
      daemons = await startDaemons(lab, t.hosts.map((h) => h.ns));
      clients = daemons.map((d) => d.client!);
      for (const [i, c] of clients.entries()) {
        await programLocal(c, t.hosts[i]!, { hook: HOOKS[hook] });
        for (const vrf of VRFS) {
          await programBridge(c, t, t.hosts[i]!, vrf);
          await programFlood(c, t, t.hosts[i]!, vrf);
        }
      }
      for (const vrf of VRFS) addL2Addresses(lab, t, vrf);
      // a flood copy does not wait for the underlay neighbour (flood_no_neigh): resolved first
      assert.equal(lab.ping(t.hosts[0]!.ns, t.hosts[1]!.fabricIp, 1).received, 1);
      assert.equal(lab.ping(t.hosts[1]!.ns, t.hosts[0]!.fabricIp, 1).received, 1);
    });

    after(async () => {
      for (const d of daemons) await d.destroy();
      lab?.cleanup();
    });

    it('the flood entries lead to the FLOOD composites (two local pods and a tunnel each)', async () => {
      for (const vrf of VRFS) {
        const e = await clients[0]!.bridge.getBridgeEntry({ vrf, mac: BROADCAST_MAC });
        const nh = await clients[0]!.nextHops.getNextHop({ id: e.entry!.nextHopId });
        assert.equal(nh.nextHop?.kind.case, 'composite');
        assert.equal(nh.nextHop?.kind.case === 'composite' ? nh.nextHop.kind.value.memberIds.length : 0, 3);
      }
    });

    const cases: [string, number, [number, number], [number, number]][] = [
      ['VRF 1: host 1 pod 1 asks for host 2 pod 2', 1, [1, 1], [2, 2]],
      ['VRF 2: host 2 pod 1 asks for host 1 pod 2', 2, [2, 1], [1, 2]],
    ];
    for (const [name, vrf, [sh, si], [dh, di]] of cases)
      it(`${name}: the ARP broadcast reaches every other pod of the VRF on both hosts and none of the other VRF; then ping by the bridge entries`, async () => {
        const src = podOf(t, sh, vrf, si);
        const dst = podOf(t, dh, vrf, di);
        const others = t.hosts.flatMap((h) => h.pods).filter((p) => p !== src);
        const filter = `arp[6:2] = 1 and arp dst host ${l2Ip4(dst)}`;
        const caps = new Map<OverlayPod, UnderlayCapture>();
        for (const p of others) caps.set(p, await UnderlayCapture.start(lab, p.ns, p.ifname, filter, { count: 20 }));
        const recv = t.hosts[dh - 1]!;
        const send = t.hosts[sh - 1]!;
        const under = await UnderlayCapture.start(lab, t.router, recv.routerIf, 'udp dst port 4789', { count: 200 });

        lab.ip(src.ns, ['neigh', 'flush', 'dev', src.ifname]);
        const ping = lab.ping(src.ns, l2Ip4(dst), 3, { allowFail: true });

        const seen = new Map<OverlayPod, number>();
        for (const [p, c] of caps) {
          const frames = await c.stop();
          for (const f of frames) assert.deepEqual([f.protocols.includes('arp'), f.ethDst[0]], [true, BROADCAST_MAC], `pod ${p.ns}: an ARP broadcast`);
          seen.set(p, frames.length);
        }
        const frames = await under.stop();
        const where = (p: OverlayPod) => `host ${p.host} VRF ${p.vrf} pod ${p.index}`;
        const got = Object.fromEntries(others.map((p) => [where(p), (seen.get(p) ?? 0) > 0]));
        const want = Object.fromEntries(others.map((p) => [where(p), p.vrf === vrf]));
        assert.deepEqual(got, want, 'the ARP request reached the pods of its VRF only');

        // the underlay: the broadcast into the tunnel with the VRF's VNI, never back (split horizon)
        const bcast = frames.filter((f) => f.ethDst[1] === BROADCAST_MAC);
        assert.ok(bcast.some((f) => f.ipSrc[0] === send.fabricIp && f.vni[0] === l2Vni(vrf)), `the broadcast went to host ${dh} with VNI ${l2Vni(vrf)}`);
        assert.deepEqual(bcast.filter((f) => f.ipSrc[0] === recv.fabricIp), [], `host ${dh} sent no broadcast back`);

        // resolved to the pod's own MAC (the reply by its bridge entry); the pings bridged
        assert.equal(ping.received, 3, ping.output);
        assert.match(lab.ip(src.ns, ['neigh', 'show', l2Ip4(dst)]), new RegExp(`lladdr ${dst.mac}`));
        assert.equal(lab.ping(dst.ns, l2Ip4(src), 2).received, 2);
      });
  });
