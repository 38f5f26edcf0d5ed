/**
 * vhost: the host vif's kernel interface in a lab host namespace, and its
 * programming. The host's own stack reaches pods (and remote pods) by
 * routes that point at vhost0; what it sends out of vhost0 meets the
 * datapath's tcx egress entry (vr_tc_egress), which routes it like a packet
 * from the host vif.
 *
 * The device: this kernel has no dummy device, so vhost0 is a veth whose
 * peer sits alone in a namespace of its own (the "sink", IPv6 off): the
 * link has a carrier, and what the datapath lets go on out of vhost0
 * (addresses it does not know) ends there instead of coming back into the
 * host. vhost0 carries the host's address for the overlay (a /32 and a
 * /128), the source of what the host sends to pods; ARP and neighbour
 * discovery stay on: the datapath's proxy answers the host for the pods'
 * addresses (routes with proxy ARP), up into the host.
 *
 *   host ns: vhost0 10.10.0.1/32 fd00:10::1/128 ═ eth0 (sink ns, no address)
 *            ip route add 10.10.1.0/24 dev vhost0   (pods, remote pods)
 *
 * The pods reach the host's address through a RECEIVE next hop (the packet
 * goes up the host stack from the pod's veth); a remote host reaches it
 * through a tunnel whose label (or VNI) leads to a RECEIVE next hop here.
 */
import type { Lab, Pod } from './topology.ts';
import type { VrouterClient } from '../src/client/client.ts';
import { AttachHook, InterfaceType } from '../src/gen/vrouter/ebpf/v1/interface_pb.js';
import type { MultiHost } from './multihost.ts';
import type { Encap, TunnelApi } from './tunnel-api.ts';
import { FABRIC_VIF, labelOf, NH_RECEIVE, tunnelNextHop } from './overlay-program.ts';

export const VHOST_IF = 'vhost0';
/** the host vif's index (the vRouter numbers vhost0 0; here after the pods' and below the fabric's 100) */
export const HOST_VIF = 50;

export interface Vhost {
  /** the host namespace */
  ns: string;
  ifname: string;
  mac: string;
  /** the namespace holding the peer */
  sink: string;
  ip4: string;
  ip6: string;
}

/**
 * addVhost: vhost0 in hostNs (peer in a sink namespace `<tag>-vhs`), up, with
 * the host's addresses, and routes to each prefix through it.
 */
export function addVhost(lab: Lab, hostNs: string, tag: string, ip4: string, ip6: string, prefixes: string[]): Vhost {
  const sink = lab.ns(`${tag}-vhs`);
  lab.sysctl(sink, 'net.ipv6.conf.all.disable_ipv6', '1');
  lab.sysctl(sink, 'net.ipv6.conf.default.disable_ipv6', '1');
  lab.ip(hostNs, ['link', 'add', VHOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', sink]);
  lab.ip(hostNs, ['addr', 'add', `${ip4}/32`, 'dev', VHOST_IF]);
  lab.ip(hostNs, ['-6', 'addr', 'add', `${ip6}/128`, 'dev', VHOST_IF, 'nodad']);
  lab.ip(sink, ['link', 'set', 'eth0', 'up']);
  lab.ip(hostNs, ['link', 'set', VHOST_IF, 'up']);
  for (const p of prefixes) lab.ip(hostNs, [...(p.includes(':') ? ['-6'] : []), 'route', 'replace', p, 'dev', VHOST_IF]);
  return { ns: hostNs, ifname: VHOST_IF, mac: lab.mac(hostNs, VHOST_IF), sink, ip4, ip6 };
}

/** hostEnd: the host's end of a transfer or ping, shaped as a Pod (its namespace and addresses) */
export function hostEnd(v: Vhost): Pod {
  return { ns: v.ns, ifname: v.ifname, hostIf: v.ifname, mac: v.mac, hostMac: v.mac, ip4: v.ip4, ip6: v.ip6 };
}

/**
 * programVhost: the host vif on vhost0 in `vrf` (the pods' VRF here: its
 * routes to the pods, with proxy ARP, serve the host too) and routes for the
 * host's addresses in that VRF to the RECEIVE next hop `receiveNh` (the pods'
 * answers go up the host stack).
 */
export async function programVhost(client: VrouterClient, v: Vhost, vrf: number, receiveNh: number, hookPolicy = AttachHook.UNSPECIFIED): Promise<void> {
  await client.interfaces.addInterface({
    interface: { index: HOST_VIF, type: InterfaceType.HOST, name: v.ifname, vrf, ipv4Address: v.ip4, ipv6Address: v.ip6, hookPolicy },
  });
  for (const prefix of [`${v.ip4}/32`, `${v.ip6}/128`]) await client.routes.addRoute({ route: { vrf, prefix, nextHopId: receiveNh } });
}

/** the overlay address of simulated host h's vhost0 (inside its pod subnets, 10.1h.0.0/16, fd00:1h::/32) */
export const vhostIp4 = (h: number) => `10.1${h}.0.1`;
export const vhostIp6 = (h: number) => `fd00:1${h}::1`;
/** hostSlot: the label / VNI slot of a host's own address (pods use 1..8) */
const HOST_SLOT = 99;
/** vhostTunnelNh: the TUNNEL next hop toward host h's own address */
export const vhostTunnelNh = (h: number) => 1000 + 100 * h + HOST_SLOT;

/**
 * addVhosts: vhost0 on every simulated host, with routes to every host's
 * pod subnets (its own and the others') through it.
 */
export function addVhosts(lab: Lab, t: MultiHost): Vhost[] {
  return t.hosts.map((host) => {
    const prefixes = t.hosts.flatMap((o) => [`10.1${o.index}.0.0/16`, `fd00:1${o.index}::/32`]);
    return addVhost(lab, host.ns, `h${host.index}`, vhostIp4(host.index), vhostIp6(host.index), prefixes);
  });
}

/**
 * programVhostsOverlay: on each host (after programOverlay): its host vif in
 * VRF 1 (programVhost), its address's label / VNI leading to its RECEIVE
 * next hop (a remote pod's answer to the host is decapsulated up the host
 * stack), and on every other host a tunnel toward that address.
 */
export async function programVhostsOverlay(clients: VrouterClient[], t: MultiHost, vhosts: Vhost[], encap: Encap, api: TunnelApi): Promise<void> {
  for (const host of t.hosts) {
    const client = clients[host.index - 1]!;
    const v = vhosts[host.index - 1]!;
    await programVhost(client, v, 1, NH_RECEIVE);
    await api.addDecap(client, encap, labelOf(encap, { vrf: 1, index: HOST_SLOT }), NH_RECEIVE);
    for (const remote of t.hosts.filter((o) => o !== host)) {
      const id = vhostTunnelNh(remote.index);
      const label = labelOf(encap, { vrf: 1, index: HOST_SLOT });
      await client.nextHops.addNextHop(api.tunnelNextHop({ id, vrf: 1, encap, srcIp: host.fabricIp, dstIp: remote.fabricIp, label, fabricVif: FABRIC_VIF }));
      for (const prefix of [`${vhostIp4(remote.index)}/32`, `${vhostIp6(remote.index)}/128`])
        await client.routes.addRoute(proxied(api.tunnelRoute(1, prefix, id, label)));
      // the host resolves remote pods through the proxy as well (an agent flags every pod route so)
      for (const pod of remote.pods.filter((p) => p.vrf === 1)) {
        const podLabel = labelOf(encap, pod);
        for (const prefix of [`${pod.ip4}/32`, `${pod.ip6}/128`])
          await client.routes.updateRoute({ route: proxied(api.tunnelRoute(1, prefix, tunnelNextHop(pod), podLabel)).route! });
      }
    }
  }
}

/** proxied: a route request with the proxy ARP / ND flag */
function proxied<T extends { route?: { proxyArp: boolean } | undefined }>(req: T): T {
  req.route!.proxyArp = true;
  return req;
}
