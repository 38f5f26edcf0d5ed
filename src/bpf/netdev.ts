/**
 * Kernel network devices of the calling thread's network namespace, read
 * with if_nametoindex, SIOCGIF* ioctls and one rtnetlink RTM_GETLINK (not
 * /sys, which shows the namespace it was mounted in).
 */
import { readFileSync } from 'node:fs';
import { sys } from './libbpf.ts';
import { BpfError } from './errors.ts';

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SIOCGIFFLAGS = 0x8913;
const SIOCGIFMTU = 0x8921;
const SIOCGIFHWADDR = 0x8927;
const IFF_UP = 0x1;
const IFNAMSIZ = 16;

export interface NetDev {
  name: string;
  ifindex: number;
  mac: Buffer;
  mtu: number;
  up: boolean;
  /** the rtnetlink link kind ("veth", "netkit", "vxlan", ...); undefined for a physical NIC */
  kind: string | undefined;
  /** the device's peer (veth, netkit) lives in another network namespace */
  peerInOtherNetns: boolean;
}

/** ifindexOf: the ifindex of a named device, or 0 when there is none. */
export function ifindexOf(name: string): number {
  if (!name || Buffer.byteLength(name) >= IFNAMSIZ) return 0;
  return sys.if_nametoindex(name);
}

/** nameOf: the name of an ifindex, or undefined when there is none. */
export function nameOf(ifindex: number): string | undefined {
  const buf = Buffer.alloc(IFNAMSIZ);
  const p = sys.if_indextoname(ifindex, buf);
  if (!p) return undefined;
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? IFNAMSIZ : end);
}

function ifreq(fd: number, name: string, req: number): Buffer {
  const buf = Buffer.alloc(40); // struct ifreq
  buf.write(name, 0, IFNAMSIZ - 1, 'utf8');
  if (sys.ioctl(fd, req, buf) < 0) throw new BpfError('ioctl', `${name} 0x${req.toString(16)}`, sys.errno());
  return buf;
}

/** netdev: a device's index, MAC, MTU and admin state; undefined if absent. */
export function netdev(name: string): NetDev | undefined {
  const ifindex = ifindexOf(name);
  if (!ifindex) return undefined;
  const fd = sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new BpfError('socket', 'AF_INET', sys.errno());
  try {
    const hw = ifreq(fd, name, SIOCGIFHWADDR);
    const mtu = ifreq(fd, name, SIOCGIFMTU).readInt32LE(16);
    const flags = ifreq(fd, name, SIOCGIFFLAGS).readUInt16LE(16);
    return { name, ifindex, mac: Buffer.from(hw.subarray(18, 24)), mtu, up: (flags & IFF_UP) !== 0, ...linkKind(ifindex) };
  } finally {
    sys.close(fd);
  }
}

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;
const RTM_GETLINK = 18;
const RTM_NEWLINK = 16;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 1;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFLA_LINK_NETNSID = 37;
const NLA_TYPE_MASK = 0x3fff; // without NLA_F_NESTED / NLA_F_NET_BYTEORDER

/** attrs: the rtnetlink attributes in buf[from, to) by type (the last of a type wins). */
function attrs(buf: Buffer, from: number, to: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let off = from; off + 4 <= to; ) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > to) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

const NLM_F_ACK = 4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const IFLA_IFNAME = 3;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const NLA_F_NESTED = 0x8000;

/** nla: one rtnetlink attribute (padded to 4 bytes) */
function nla(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

const cstr = (s: string) => Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);

/**
 * createVethPair: a veth pair `name` / `peer` in the calling thread's
 * namespace (RTM_NEWLINK), both down. Fails with EEXIST if a name is taken.
 */
export function createVethPair(name: string, peer: string): void {
  const peerInfo = Buffer.concat([Buffer.alloc(16) /* ifinfomsg */, nla(IFLA_IFNAME, cstr(peer))]);
  const linkinfo = nla(IFLA_LINKINFO | NLA_F_NESTED, Buffer.concat([
    nla(IFLA_INFO_KIND, cstr('veth')),
    nla(IFLA_INFO_DATA | NLA_F_NESTED, nla(VETH_INFO_PEER | NLA_F_NESTED, peerInfo)),
  ]));
  const body = Buffer.concat([Buffer.alloc(16) /* ifinfomsg */, nla(IFLA_IFNAME, cstr(name)), linkinfo]);
  const req = Buffer.concat([Buffer.alloc(16), body]);
  req.writeUInt32LE(req.length, 0);
  req.writeUInt16LE(RTM_NEWLINK, 4);
  req.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 6);
  req.writeUInt32LE(1, 8);
  const fd = sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw new BpfError('socket', 'AF_NETLINK', sys.errno());
  try {
    if (Number(sys.send(fd, req, req.length, 0)) < 0) throw new BpfError('send', 'RTM_NEWLINK', sys.errno());
    const buf = Buffer.alloc(4096);
    const n = Number(sys.recv(fd, buf, buf.length, 0));
    if (n < 20) throw new BpfError('recv', 'RTM_NEWLINK', n < 0 ? sys.errno() : 5 /* EIO */);
    if (buf.readUInt16LE(4) !== NLMSG_ERROR) throw new BpfError('RTM_NEWLINK', `${name}: reply type ${buf.readUInt16LE(4)}`, 5);
    const err = -buf.readInt32LE(16);
    if (err) throw new BpfError('RTM_NEWLINK', `veth ${name} / ${peer}`, err);
  } finally {
    sys.close(fd);
  }
}

/**
 * linkKind: what rtnetlink says of a device: its kind (IFLA_INFO_KIND) and
 * whether its peer is in another namespace (IFLA_LINK_NETNSID: a pod's veth
 * seen from the host). Both decide the hook and bpf_redirect_peer.
 */
export function linkKind(ifindex: number): { kind: string | undefined; peerInOtherNetns: boolean } {
  const fd = sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw new BpfError('socket', 'AF_NETLINK', sys.errno());
  try {
    const req = Buffer.alloc(32); // nlmsghdr + ifinfomsg
    req.writeUInt32LE(32, 0);
    req.writeUInt16LE(RTM_GETLINK, 4);
    req.writeUInt16LE(NLM_F_REQUEST, 6);
    req.writeUInt32LE(1, 8);
    req.writeInt32LE(ifindex, 20);
    if (Number(sys.send(fd, req, req.length, 0)) < 0) throw new BpfError('send', 'RTM_GETLINK', sys.errno());
    const buf = Buffer.alloc(65536);
    const n = Number(sys.recv(fd, buf, buf.length, 0));
    if (n < 16) throw new BpfError('recv', 'RTM_GETLINK', n < 0 ? sys.errno() : 5 /* EIO */);
    const type = buf.readUInt16LE(4);
    if (type === NLMSG_ERROR) throw new BpfError('RTM_GETLINK', `ifindex ${ifindex}`, -buf.readInt32LE(16));
    if (type !== RTM_NEWLINK) throw new BpfError('RTM_GETLINK', `ifindex ${ifindex}: reply type ${type}`, 5);
    const top = attrs(buf, 32, Math.min(n, buf.readUInt32LE(0)));
    const info = top.get(IFLA_LINKINFO);
    const kindAttr = info ? attrs(info, 0, info.length).get(IFLA_INFO_KIND) : undefined;
    const kind = kindAttr ? kindAttr.toString('utf8').replace(/\0+$/, '') : undefined;
    return { kind, peerInOtherNetns: top.has(IFLA_LINK_NETNSID) };
  } finally {
    sys.close(fd);
  }
}

/**
 * ipv4Forwarding: net.ipv4.conf.<name>.forwarding of the calling thread's
 * network namespace (read synchronously: a thread-pool read would see the
 * process's first namespace); undefined when there is no such device.
 * bpf_fib_lookup answers only for a device that forwards.
 */
export function ipv4Forwarding(name: string): boolean | undefined {
  if (!/^[^/\0]{1,15}$/.test(name) || name === '.' || name === '..') return undefined;
  try {
    return readFileSync(`/proc/sys/net/ipv4/conf/${name}/forwarding`, 'utf8').trim() === '1';
  } catch {
    return undefined;
  }
}
