/**
 * The overlay without our datapath: each host a plain Linux router whose
 * path to the other hosts' pods is a `vxlan` device (built into this
 * kernel; MPLS routing, FOU and GRE devices are not). The baseline of the
 * overlay bench, a check of the multi-host lab itself, and the peer we did
 * not write in the interoperability tests (one host Linux, the other ours).
 *
 * On a Linux host h: ip_forward on (IPv4 and IPv6), the pods' gateways as
 * addresses of their host veths, and vx0 (VNI, local = h's underlay
 * address, UDP 4789, no learning, MTU = fabric MTU - 50) with 10.255.0.h/24
 * and fd00:255::h/64. Toward each peer r: a route to r's pod subnets via
 * 10.255.0.r / fd00:255::r on vx0, a permanent neighbour entry with the
 * peer's inner MAC, and an FDB entry sending that MAC to r's underlay
 * address. Everything is static: no flooding, no learning.
 */
import type { Lab } from './topology.ts';
import { FABRIC_IF, podSubnets, type MultiHost, type SimHost } from './multihost.ts';

export const VXLAN_PORT = 4789;
/** outer IPv4 + UDP + VXLAN + inner Ethernet */
export const VXLAN_OVERHEAD = 50;
export const VTEP_DEV = 'vx0';
/** the VNI programOverlay gives pod 1 of VRF 1 (labelOf), so that a Linux VTEP can face our datapath */
export const DEFAULT_VNI = 5101;

export const vtepIp4 = (host: number) => `10.255.0.${host}`;
export const vtepIp6 = (host: number) => `fd00:255::${host}`;

/** LinuxVtep: a host made a Linux VXLAN router. */
export interface LinuxVtep {
  host: SimHost;
  vni: number;
  /** vx0's MAC: the inner destination MAC its peers must send to */
  mac: string;
}

/** VtepPeer: what a VTEP needs of another host: its underlay address and the inner MAC it accepts. */
export interface VtepPeer {
  host: number;
  fabricIp: string;
  mac: string;
}

/**
 * addLinuxVtep: host h as a Linux router with vx0 (see above); its pods'
 * gateways on their host veths. VRF 1 only: this kernel has no vrf device.
 */
export function addLinuxVtep(lab: Lab, t: MultiHost, h: number, vni = DEFAULT_VNI): LinuxVtep {
  const host = t.hosts[h - 1]!;
  if (host.pods.some((p) => p.vrf !== 1)) throw new Error(`host ${h}: a Linux VTEP here has one VRF (no vrf device in this kernel)`);
  lab.sysctl(host.ns, 'net.ipv4.ip_forward', '1');
  lab.sysctl(host.ns, 'net.ipv6.conf.all.forwarding', '1');
  for (const pod of host.pods) {
    lab.ip(host.ns, ['addr', 'add', `${pod.gw4}/24`, 'dev', pod.hostIf]);
    lab.ip(host.ns, ['-6', 'addr', 'add', `${pod.gw6}/64`, 'dev', pod.hostIf, 'nodad']);
  }
  const mtu = String(t.opts.fabricMtu - VXLAN_OVERHEAD);
  lab.ip(host.ns, [
    'link', 'add', VTEP_DEV, 'mtu', mtu, 'type', 'vxlan', 'id', String(vni), 'local', host.fabricIp, 'dev', FABRIC_IF,
    'dstport', String(VXLAN_PORT), 'nolearning',
  ]);
  lab.ip(host.ns, ['addr', 'add', `${vtepIp4(h)}/24`, 'dev', VTEP_DEV]);
  lab.ip(host.ns, ['-6', 'addr', 'add', `${vtepIp6(h)}/64`, 'dev', VTEP_DEV, 'nodad']);
  lab.ip(host.ns, ['link', 'set', VTEP_DEV, 'up']);
  return { host, vni, mac: lab.mac(host.ns, VTEP_DEV) };
}

/** linkVtep: the routes, neighbours and FDB entries of one Linux VTEP toward its peers. */
export function linkVtep(lab: Lab, vtep: LinuxVtep, peers: VtepPeer[]): void {
  const ns = vtep.host.ns;
  for (const peer of peers) {
    const nets = podSubnets(peer.host);
    lab.ip(ns, ['neigh', 'replace', vtepIp4(peer.host), 'lladdr', peer.mac, 'dev', VTEP_DEV, 'nud', 'permanent']);
    lab.ip(ns, ['-6', 'neigh', 'replace', vtepIp6(peer.host), 'lladdr', peer.mac, 'dev', VTEP_DEV, 'nud', 'permanent']);
    lab.exec(ns, 'bridge', ['fdb', 'append', peer.mac, 'dev', VTEP_DEV, 'dst', peer.fabricIp, 'self', 'permanent']);
    lab.ip(ns, ['route', 'add', nets.v4, 'via', vtepIp4(peer.host), 'dev', VTEP_DEV]);
    lab.ip(ns, ['-6', 'route', 'add', nets.v6, 'via', vtepIp6(peer.host), 'dev', VTEP_DEV]);
  }
}

/** setVtepMac: vx0's MAC (a peer that sends a fixed inner MAC: the VTEP takes that one as its own). */
export function setVtepMac(lab: Lab, vtep: LinuxVtep, mac: string): void {
  lab.ip(vtep.host.ns, ['link', 'set', VTEP_DEV, 'address', mac]);
  vtep.mac = lab.mac(vtep.host.ns, VTEP_DEV);
}

/** enableLinuxVxlan: every host a Linux VTEP, each linked to all the others: the overlay baseline. */
export function enableLinuxVxlan(lab: Lab, t: MultiHost, vni = DEFAULT_VNI): LinuxVtep[] {
  const vteps = t.hosts.map((h) => addLinuxVtep(lab, t, h.index, vni));
  for (const v of vteps)
    linkVtep(lab, v, vteps.filter((o) => o !== v).map((o) => ({ host: o.host.index, fabricIp: o.host.fabricIp, mac: o.mac })));
  return vteps;
}

interface LinkStats {
  stats64: { rx: { packets: number; bytes: number }; tx: { packets: number; bytes: number } };
}

/** vtepStats: vx0's counters (the kernel's own; a GSO packet counts once). */
export function vtepStats(lab: Lab, host: SimHost): { rx: number; tx: number; rxBytes: number; txBytes: number } {
  const s = (JSON.parse(lab.ip(host.ns, ['-s', '-j', 'link', 'show', VTEP_DEV])) as LinkStats[])[0]!.stats64;
  return { rx: s.rx.packets, tx: s.tx.packets, rxBytes: s.rx.bytes, txBytes: s.tx.bytes };
}
