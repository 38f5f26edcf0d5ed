/**
 * multiHost: two or three simulated hosts joined by an underlay that the
 * kernel routes, with pods behind each host, for the overlay tests and
 * benchmarks. Builds namespaces and veths only: what carries the pods'
 * traffic between hosts is set up afterwards, either by our datapath
 * (lab/overlay-program.ts) or by Linux vxlan devices (lab/linux-vxlan.ts).
 *
 *   pod h1v1p1 ── veth-v1p1 ┐                                  ┌ veth-v1p1 ── pod h2v1p1
 *   10.11.1.2               host h1 ── fabric0 ═ to-h1 ┐      │ host h2      10.12.1.2
 *   fd00:11:1::2            172.16.1.2/24              router  ├── fabric0 ═ to-h2
 *                                                      (fab)   │ 172.16.2.2/24
 *                                          172.16.1.1, 172.16.2.1, ...: ip_forward=1
 *
 * Addresses: host h's underlay address is 172.16.h.2/24 on its fabric0,
 * the router's 172.16.h.1 on to-h<h>; each host has a /32 route to every
 * other host's underlay address via the router. Pod p of VRF v on host h
 * is 10.1h.p.2/24 and fd00:1h:p::2/64 with gateway .1 / ::1, whatever v:
 * the VRFs' pod subnets overlap by construction (same addresses in every
 * VRF), which the isolation test needs. The host namespaces never forward
 * by themselves (ip_forward=0) until a Linux baseline turns it on.
 */
import type { Lab, Pod, PodOffloads } from './topology.ts';

export interface MultiHostOptions {
  /** simulated hosts, 2 or 3 (default 2) */
  hosts?: number;
  /** pods per host and VRF (default 1) */
  podsPerHost?: number;
  /** VRFs 1..vrfs, each with the same pods and addresses on every host (default 1) */
  vrfs?: number;
  /** the pods' offloads: 'default' (the kernel's, what TC vifs keep; the default) or 'xdp' (GRO on, TX csum off) */
  offloads?: PodOffloads;
  /** MTU of every pod veth, both ends (default 1500) */
  podMtu?: number;
  /** MTU of the fabric veths, both ends (default 1500) */
  fabricMtu?: number;
}

export interface OverlayPod extends Pod {
  /** 1-based host number */
  host: number;
  vrf: number;
  /** 1-based pod number within its host and VRF */
  index: number;
  /** the pod's vif index on its host: 1 + its slot among the host's pods */
  vif: number;
  gw4: string;
  gw6: string;
}

export interface SimHost {
  /** 1-based host number */
  index: number;
  ns: string;
  /** the underlay interface in the host namespace */
  fabricIf: string;
  fabricIp: string;
  fabricMac: string;
  /** the router's end of this host's fabric veth, in the router namespace */
  routerIf: string;
  routerIp: string;
  routerMac: string;
  pods: OverlayPod[];
}

export interface MultiHost {
  router: string;
  hosts: SimHost[];
  opts: Required<MultiHostOptions>;
}

export const FABRIC_IF = 'fabric0';

export const underlayIp = (host: number) => `172.16.${host}.2`;
export const routerIp = (host: number) => `172.16.${host}.1`;
export const podIp4 = (host: number, index: number) => `10.1${host}.${index}.2`;
export const podIp6 = (host: number, index: number) => `fd00:1${host}:${index}::2`;
/** podSubnets: what covers every pod of a host (all VRFs), for routes toward it */
export const podSubnets = (host: number) => ({ v4: `10.1${host}.0.0/16`, v6: `fd00:1${host}::/32` });

/** multiHostOptions: the options with their defaults, range-checked. */
export function multiHostOptions(o: MultiHostOptions): Required<MultiHostOptions> {
  const r = { hosts: 2, podsPerHost: 1, vrfs: 1, offloads: 'default' as PodOffloads, podMtu: 1500, fabricMtu: 1500, ...o };
  if (r.hosts < 2 || r.hosts > 3) throw new Error(`multiHost: ${r.hosts} hosts; 2 or 3`);
  if (r.podsPerHost < 1 || r.podsPerHost > 8) throw new Error(`multiHost: ${r.podsPerHost} pods per host; 1..8`);
  if (r.vrfs < 1 || r.vrfs > 4) throw new Error(`multiHost: ${r.vrfs} VRFs; 1..4`);
  return r;
}

/** buildMultiHost: the router, the hosts with their fabric veths and routes, and every host's pods. */
export function buildMultiHost(lab: Lab, options: MultiHostOptions = {}): MultiHost {
  const opts = multiHostOptions(options);
  const router = lab.ns('fab');
  lab.sysctl(router, 'net.ipv4.ip_forward', '1');
  const hosts: SimHost[] = [];
  for (let h = 1; h <= opts.hosts; h++) {
    const ns = lab.ns(`h${h}`);
    lab.sysctl(ns, 'net.ipv4.ip_forward', '0');
    lab.sysctl(ns, 'net.ipv6.conf.all.forwarding', '0');
    // no DAD on the interfaces made from now on: a tentative link-local
    // address holds the host's first neighbour solicitations for a second
    for (const conf of ['all', 'default']) lab.sysctl(ns, `net.ipv6.conf.${conf}.accept_dad`, '0');
    const routerIf = `to-h${h}`;
    const mtu = String(opts.fabricMtu);
    lab.ip(ns, ['link', 'add', FABRIC_IF, 'mtu', mtu, 'type', 'veth', 'peer', 'name', routerIf, 'netns', router, 'mtu', mtu]);
    lab.ip(ns, ['addr', 'add', `${underlayIp(h)}/24`, 'dev', FABRIC_IF]);
    lab.ip(router, ['addr', 'add', `${routerIp(h)}/24`, 'dev', routerIf]);
    lab.ip(ns, ['link', 'set', FABRIC_IF, 'up']);
    lab.ip(router, ['link', 'set', routerIf, 'up']);
    // bpf_fib_lookup answers nothing for a device with IPv4 forwarding off (FWD_DISABLED), even for
    // the underlay lookup of a tunnel: the fabric alone forwards (ip_forward stays 0 for the rest)
    lab.sysctl(ns, `net.ipv4.conf.${FABRIC_IF}.forwarding`, '1');
    // a frame XDP-redirected into a veth needs GRO (or XDP) on the receiving end
    lab.exec(router, 'ethtool', ['-K', routerIf, 'gro', 'on']);
    hosts.push({
      index: h, ns, fabricIf: FABRIC_IF, fabricIp: underlayIp(h), fabricMac: lab.mac(ns, FABRIC_IF),
      routerIf, routerIp: routerIp(h), routerMac: lab.mac(router, routerIf), pods: [],
    });
  }
  for (const host of hosts) {
    for (const other of hosts)
      if (other !== host) lab.ip(host.ns, ['route', 'add', `${other.fabricIp}/32`, 'via', host.routerIp, 'dev', FABRIC_IF]);
    for (let v = 1; v <= opts.vrfs; v++)
      for (let p = 1; p <= opts.podsPerHost; p++) host.pods.push(addPod(lab, host, v, p, opts));
  }
  return { router, hosts, opts };
}

function addPod(lab: Lab, host: SimHost, vrf: number, index: number, o: Required<MultiHostOptions>): OverlayPod {
  const [ip4, ip6] = [podIp4(host.index, index), podIp6(host.index, index)];
  const [gw4, gw6] = [ip4.replace(/\.2$/, '.1'), ip6.replace(/::2$/, '::1')];
  const pod = lab.pod(`h${host.index}v${vrf}p${index}`, host.ns, `veth-v${vrf}p${index}`, `${ip4}/24`, gw4, `${ip6}/64`, gw6, o.podMtu, { offloads: o.offloads });
  return { ...pod, host: host.index, vrf, index, vif: host.pods.length + 1, gw4, gw6 };
}

/** pod: the pod of VRF vrf, number index, on host h (1-based); throws if there is none. */
export function podOf(t: MultiHost, h: number, vrf = 1, index = 1): OverlayPod {
  const pod = t.hosts[h - 1]?.pods.find((p) => p.vrf === vrf && p.index === index);
  if (!pod) throw new Error(`no pod v${vrf}p${index} on host ${h}`);
  return pod;
}
