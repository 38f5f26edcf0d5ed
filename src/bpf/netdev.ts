/**
 * Kernel network devices of the calling thread's network namespace, read
 * with if_nametoindex and SIOCGIF* ioctls (not /sys, which shows the
 * namespace it was mounted in).
 */
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
    return { name, ifindex, mac: Buffer.from(hw.subarray(18, 24)), mtu, up: (flags & IFF_UP) !== 0 };
  } finally {
    sys.close(fd);
  }
}
