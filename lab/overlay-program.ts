/**
 * programOverlay: each simulated host's daemon programmed the way an agent
 * programs a vRouter for an overlay, over gRPC:
 * - per local pod: a VIRTUAL vif, an ENCAP next hop, /32 and /128 routes
 *   with proxy ARP/ND in the pod's VRF, its gateways on a RECEIVE next hop;
 * - the fabric vif (FABRIC, the host's underlay address on fabric0);
 * - the decap table: per local pod, its label (MPLS) or VNI (VXLAN) → the
 *   pod's ENCAP next hop;
 * - per remote pod: a TUNNEL next hop toward its host (type per encap,
 *   source and destination underlay addresses, the pod's label / VNI, the
 *   fabric vif) and /32 and /128 routes in the pod's VRF through it.
 * Labels and VNIs depend on the pod's VRF and number, not on its host
 * (local significance: each host maps them to its own pod), so a Linux
 * VTEP with one VNI can stand for a host whose pod 1 of VRF 1 it serves.
 */
import type { VrouterClient } from '../src/client/client.ts';
import { AttachHook, InterfaceType } from '../src/gen/vrouter/ebpf/v1/interface_pb.js';
import type { MultiHost, OverlayPod, SimHost } from './multihost.ts';
import type { Encap, TunnelApi } from './tunnel-api.ts';

export const NH_RECEIVE = 1;
export const FABRIC_VIF = 100;

/** podNextHop: a local pod's ENCAP next hop */
export const podNextHop = (pod: OverlayPod) => 10 + pod.vif;
/** tunnelNextHop: the TUNNEL next hop toward a remote pod (ids stay below the default table size) */
export const tunnelNextHop = (pod: OverlayPod) => 1000 + 100 * pod.host + pod.vif;

/** labelOf: the MPLS label (1000 + ...) or VNI (5000 + ...) of a pod: 100 x VRF + its number */
export function labelOf(encap: Encap, pod: Pick<OverlayPod, 'vrf' | 'index'>): number {
  return (encap === 'vxlan' ? 5000 : 1000) + 100 * pod.vrf + pod.index;
}

export interface OverlayOptions {
  /** hook of the pods' vifs (default AUTO: TC on veths) */
  hook?: AttachHook;
  /** hook of the fabric vif (default: the pods') */
  fabricHook?: AttachHook;
  /** VXLAN: the inner destination MAC toward a host (a Linux VTEP's vx0), where the API has the field */
  innerMac?: (host: SimHost) => string | undefined;
}

/**
 * programOverlay: clients[i] programs host i + 1; a host without a client
 * (a Linux VTEP in the interoperability tests) is only a remote for the others.
 */
export async function programOverlay(
  clients: (VrouterClient | undefined)[], t: MultiHost, encap: Encap, api: TunnelApi, opts: OverlayOptions = {},
): Promise<void> {
  for (const host of t.hosts) {
    const client = clients[host.index - 1];
    if (client) await programHost(client, t, host, encap, api, opts);
  }
}

async function programHost(client: VrouterClient, t: MultiHost, host: SimHost, encap: Encap, api: TunnelApi, o: OverlayOptions): Promise<void> {
  await programLocal(client, host, o);
  for (const pod of host.pods) await api.addDecap(client, encap, labelOf(encap, pod), podNextHop(pod));
  for (const remote of t.hosts.filter((h) => h !== host)) {
    for (const pod of remote.pods) {
      const id = tunnelNextHop(pod);
      const label = labelOf(encap, pod);
      const innerDstMac = encap === 'vxlan' ? o.innerMac?.(remote) : undefined;
      await client.nextHops.addNextHop(
        api.tunnelNextHop({ id, vrf: pod.vrf, encap, srcIp: host.fabricIp, dstIp: remote.fabricIp, label, fabricVif: FABRIC_VIF, ...(innerDstMac ? { innerDstMac } : {}) }),
      );
      for (const prefix of [`${pod.ip4}/32`, `${pod.ip6}/128`]) await client.routes.addRoute(api.tunnelRoute(pod.vrf, prefix, id, label));
    }
  }
}

/**
 * programLocal: the part of a host's programming that needs no tunnel:
 * its pods (vifs, ENCAP next hops, routes, gateways) and its fabric vif.
 */
export async function programLocal(client: VrouterClient, host: SimHost, o: Pick<OverlayOptions, 'hook' | 'fabricHook'> = {}): Promise<void> {
  const hookPolicy = o.hook ?? AttachHook.UNSPECIFIED;
  await client.nextHops.addNextHop({ nextHop: { id: NH_RECEIVE, vrf: 1, kind: { case: 'receive', value: {} } } });
  for (const pod of host.pods) {
    await client.interfaces.addInterface({
      interface: { index: pod.vif, type: InterfaceType.VIRTUAL, name: pod.hostIf, vrf: pod.vrf, ipv4Address: pod.ip4, ipv6Address: pod.ip6, hookPolicy },
    });
    const nh = podNextHop(pod);
    await client.nextHops.addNextHop({ nextHop: { id: nh, vrf: pod.vrf, kind: { case: 'encap', value: { interfaceIndex: pod.vif, dstMac: pod.mac } } } });
    for (const prefix of [`${pod.ip4}/32`, `${pod.ip6}/128`]) await client.routes.addRoute({ route: { vrf: pod.vrf, prefix, nextHopId: nh, proxyArp: true } });
    for (const prefix of [`${pod.gw4}/32`, `${pod.gw6}/128`]) await client.routes.addRoute({ route: { vrf: pod.vrf, prefix, nextHopId: NH_RECEIVE, proxyArp: true } });
  }
  await client.interfaces.addInterface({
    interface: { index: FABRIC_VIF, type: InterfaceType.FABRIC, name: host.fabricIf, vrf: 0, ipv4Address: host.fabricIp, hookPolicy: o.fabricHook ?? hookPolicy },
  });
}
