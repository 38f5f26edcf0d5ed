/**
 * programBridge: an L2 VRF (EVPN style) across the simulated hosts, the
 * way an agent programs it: per host, an L2 encap next hop per local pod of
 * the VRF, a VXLAN tunnel toward every other host (the VRF's VNI), an L2
 * VNI (a vrf next hop with l2) for what arrives, and the bridge table: the
 * local pods' MACs to their L2 encaps, the remote pods' MACs to the tunnel
 * toward their host. programFlood adds the flood entry (ff:ff:ff:ff:ff:ff):
 * a FLOOD composite of the local pods' L2 encaps and the VXLAN tunnels
 * toward the other hosts (broadcast, ARP, unknown unicast). The pods get an address in one subnet
 * (l2Ip4), on the interface they have, so that they reach each other by ARP
 * and MAC, not through their gateway.
 */
import type { VrouterClient } from '../src/client/client.ts';
import { CompositeKind, TunnelType } from '../src/gen/vrouter/ebpf/v1/nexthop_pb.js';
import type { Lab } from './topology.ts';
import type { MultiHost, OverlayPod, SimHost } from './multihost.ts';
import { FABRIC_VIF } from './overlay-program.ts';

/** l2NextHop: a local pod's L2 encap next hop */
export const l2NextHop = (pod: OverlayPod) => 300 + pod.vif;
/** l2TunnelNextHop: the VXLAN tunnel of VRF vrf toward host h */
export const l2TunnelNextHop = (vrf: number, h: number) => 400 + 10 * vrf + h;
/** l2VniNextHop: what VRF vrf's VNI leads to */
export const l2VniNextHop = (vrf: number) => 500 + vrf;
/** floodNextHop: VRF vrf's FLOOD composite */
export const floodNextHop = (vrf: number) => 600 + vrf;
/** BROADCAST_MAC: the flood entry's MAC */
export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
/** l2Vni: the VNI of an L2 VRF */
export const l2Vni = (vrf: number) => 9000 + vrf;
/** l2Ip4: a pod's address in its VRF's one subnet, 10.50.0.0/24 */
export const l2Ip4 = (pod: OverlayPod) => `10.50.0.${10 * pod.host + pod.index}`;

/** addL2Addresses: every pod of the VRF gets its l2Ip4 (a connected /24 on its interface) */
export function addL2Addresses(lab: Lab, t: MultiHost, vrf: number): void {
  for (const h of t.hosts)
    for (const pod of h.pods.filter((p) => p.vrf === vrf)) lab.ip(pod.ns, ['addr', 'add', `${l2Ip4(pod)}/24`, 'dev', pod.ifname]);
}

/** programBridge: host's part of L2 VRF vrf (its vifs, from programLocal, must exist) */
export async function programBridge(client: VrouterClient, t: MultiHost, host: SimHost, vrf: number): Promise<void> {
  for (const pod of host.pods.filter((p) => p.vrf === vrf)) {
    await client.nextHops.addNextHop({ nextHop: { id: l2NextHop(pod), vrf, kind: { case: 'encap', value: { interfaceIndex: pod.vif, l2: true } } } });
    await client.bridge.addBridgeEntry({ entry: { vrf, mac: pod.mac, nextHopId: l2NextHop(pod) } });
  }
  for (const remote of t.hosts.filter((h) => h !== host)) {
    const id = l2TunnelNextHop(vrf, remote.index);
    await client.nextHops.addNextHop({
      nextHop: {
        id, vrf,
        kind: { case: 'tunnel', value: { type: TunnelType.VXLAN, srcIp: host.fabricIp, dstIp: remote.fabricIp, label: l2Vni(vrf), interfaceIndex: FABRIC_VIF } },
      },
    });
    for (const pod of remote.pods.filter((p) => p.vrf === vrf)) await client.bridge.addBridgeEntry({ entry: { vrf, mac: pod.mac, nextHopId: id } });
  }
  await client.nextHops.addNextHop({ nextHop: { id: l2VniNextHop(vrf), vrf, kind: { case: 'vrfRoute', value: { l2: true } } } });
  await client.vxlan.addVni({ vni: { vni: l2Vni(vrf), nextHopId: l2VniNextHop(vrf) } });
}

/** programFlood: host's flood entry of L2 VRF vrf (after programBridge): a copy to every local pod of the VRF and into the tunnel toward every other host */
export async function programFlood(client: VrouterClient, t: MultiHost, host: SimHost, vrf: number): Promise<void> {
  const memberIds = [
    ...host.pods.filter((p) => p.vrf === vrf).map(l2NextHop),
    ...t.hosts.filter((h) => h !== host).map((h) => l2TunnelNextHop(vrf, h.index)),
  ];
  await client.nextHops.addNextHop({ nextHop: { id: floodNextHop(vrf), vrf, kind: { case: 'composite', value: { kind: CompositeKind.FLOOD, memberIds } } } });
  await client.bridge.addBridgeEntry({ entry: { vrf, mac: BROADCAST_MAC, nextHopId: floodNextHop(vrf) } });
}
