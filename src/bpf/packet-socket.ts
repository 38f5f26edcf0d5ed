/**
 * PacketSocket: an AF_PACKET raw socket that only transmits: a frame,
 * Ethernet header included, straight out of a kernel interface of the
 * calling thread's network namespace (the daemon's), past every hook of
 * that interface's receive side. Opened with protocol 0, so the kernel
 * queues nothing to it for reading.
 */
import { sys } from './libbpf.ts';
import { BpfError } from './errors.ts';

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
/** sizeof(struct sockaddr_ll) */
const SOCKADDR_LL = 20;

export class PacketSocket {
  private fd: number;
  private readonly addr = Buffer.alloc(SOCKADDR_LL);

  private constructor(fd: number) {
    this.fd = fd;
  }

  static open(): PacketSocket {
    const fd = sys.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new BpfError('socket', 'AF_PACKET', sys.errno());
    return new PacketSocket(fd);
  }

  /**
   * send: transmits `frame` out of `ifindex` as is. Never blocks (a full
   * device queue is EAGAIN / ENOBUFS); errors are BpfErrors: ENXIO or
   * ENODEV (no such interface), ENETDOWN (down), EMSGSIZE (longer than its
   * MTU allows).
   */
  send(ifindex: number, frame: Buffer): void {
    if (this.fd < 0) throw new Error('packet socket closed');
    // struct sockaddr_ll: family, protocol (the frame's own ethertype, network order), ifindex; the rest zero
    const a = this.addr;
    a.fill(0);
    a.writeUInt16LE(AF_PACKET, 0);
    if (frame.length >= 14) frame.copy(a, 2, 12, 14);
    a.writeInt32LE(ifindex, 4);
    const n = Number(sys.sendto(this.fd, frame, frame.length, MSG_DONTWAIT, a, SOCKADDR_LL));
    if (n < 0) throw new BpfError('sendto', `ifindex ${ifindex}`, sys.errno());
    if (n !== frame.length) throw new BpfError('sendto', `ifindex ${ifindex}`, 0, `${n} of ${frame.length} bytes sent`);
  }

  close(): void {
    if (this.fd >= 0) sys.close(this.fd);
    this.fd = -1;
  }
}
