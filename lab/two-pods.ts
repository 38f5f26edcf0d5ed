/**
 * twoPods: the demo topology, shared by the demo, the e2e tests and the
 * benchmark: one host namespace (kernel forwarding off) and two pod
 * namespaces behind veths, programmed over gRPC the way the agent does it.
 *
 *   pod1 eth0 10.10.1.2/24 fd00:10:1::2/64 ── veth-p1 ┐
 *                                                     host (our datapath only)
 *   pod2 eth0 10.10.2.2/24 fd00:10:2::2/64 ── veth-p2 ┘
 */
import type { Lab, Pod, PodOptions } from './topology.ts';
import type { VrouterClient } from '../src/client/client.ts';
import type { OperationInit } from '../src/client/program-stream.ts';
import { AttachHook, InterfaceType } from '../src/gen/vrouter/ebpf/v1/interface_pb.js';

export const VRF = 1;
export const NH_RECEIVE = 1;

export interface TwoPods {
  host: string;
  pods: [Pod, Pod];
}

/**
 * buildTwoPods: the host and pod namespaces, every veth end with the given
 * MTU; opts.offloads picks the pods' offloads ('xdp' by default; 'default'
 * for the TC hook, see Lab.pod).
 */
export function buildTwoPods(lab: Lab, mtu = 1500, opts: PodOptions = {}): TwoPods {
  const host = lab.ns('host');
  // only our datapath may carry packets between the pods
  lab.sysctl(host, 'net.ipv4.ip_forward', '0');
  lab.sysctl(host, 'net.ipv6.conf.all.forwarding', '0');
  const pod1 = lab.pod('pod1', host, 'veth-p1', '10.10.1.2/24', '10.10.1.1', 'fd00:10:1::2/64', 'fd00:10:1::1', mtu, opts);
  const pod2 = lab.pod('pod2', host, 'veth-p2', '10.10.2.2/24', '10.10.2.1', 'fd00:10:2::2/64', 'fd00:10:2::1', mtu, opts);
  return { host, pods: [pod1, pod2] };
}

const GATEWAYS = [
  ['10.10.1.1/32', 'fd00:10:1::1/128'],
  ['10.10.2.1/32', 'fd00:10:2::1/128'],
] as const;

/**
 * programTwoPods: vifs 1 and 2, an ENCAP next hop per pod (11, 12), a
 * RECEIVE next hop for the gateways, host routes with proxy ARP/ND. Both
 * vifs get hookPolicy (unset: UNSPECIFIED, which the daemon takes as AUTO).
 */
export async function programTwoPods(client: VrouterClient, t: TwoPods, hookPolicy?: AttachHook): Promise<void> {
  await client.nextHops.addNextHop({ nextHop: { id: NH_RECEIVE, vrf: VRF, kind: { case: 'receive', value: {} } } });
  for (const [i, pod] of t.pods.entries()) {
    const vif = i + 1;
    await client.interfaces.addInterface({
      interface: {
        index: vif,
        type: InterfaceType.VIRTUAL,
        name: pod.hostIf,
        vrf: VRF,
        ipv4Address: pod.ip4,
        ipv6Address: pod.ip6,
        hookPolicy: hookPolicy ?? AttachHook.UNSPECIFIED,
      },
    });
    await client.nextHops.addNextHop({
      nextHop: { id: 10 + vif, vrf: VRF, kind: { case: 'encap', value: { interfaceIndex: vif, dstMac: pod.mac } } },
    });
    await client.routes.addRoute({ route: { vrf: VRF, prefix: `${pod.ip4}/32`, nextHopId: 10 + vif, proxyArp: true } });
    await client.routes.addRoute({ route: { vrf: VRF, prefix: `${pod.ip6}/128`, nextHopId: 10 + vif, proxyArp: true } });
    for (const gw of GATEWAYS[i]!)
      await client.routes.addRoute({ route: { vrf: VRF, prefix: gw, nextHopId: NH_RECEIVE, proxyArp: true } });
  }
}

/**
 * twoPodsOps: the same programming as programTwoPods, as operations of the
 * programming stream (ProgramService), in the same order.
 */
export function twoPodsOps(t: TwoPods, hookPolicy?: AttachHook): OperationInit['op'][] {
  const ops: OperationInit['op'][] = [{ case: 'addNextHop', value: { nextHop: { id: NH_RECEIVE, vrf: VRF, kind: { case: 'receive', value: {} } } } }];
  for (const [i, pod] of t.pods.entries()) {
    const vif = i + 1;
    ops.push({
      case: 'addInterface',
      value: {
        interface: {
          index: vif, type: InterfaceType.VIRTUAL, name: pod.hostIf, vrf: VRF, ipv4Address: pod.ip4, ipv6Address: pod.ip6,
          hookPolicy: hookPolicy ?? AttachHook.UNSPECIFIED,
        },
      },
    });
    ops.push({ case: 'addNextHop', value: { nextHop: { id: 10 + vif, vrf: VRF, kind: { case: 'encap', value: { interfaceIndex: vif, dstMac: pod.mac } } } } });
    for (const prefix of [`${pod.ip4}/32`, `${pod.ip6}/128`]) ops.push({ case: 'addRoute', value: { route: { vrf: VRF, prefix, nextHopId: 10 + vif, proxyArp: true } } });
    for (const gw of GATEWAYS[i]!) ops.push({ case: 'addRoute', value: { route: { vrf: VRF, prefix: gw, nextHopId: NH_RECEIVE, proxyArp: true } } });
  }
  return ops;
}
