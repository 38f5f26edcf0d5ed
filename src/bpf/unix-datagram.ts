/**
 * Unix datagram sockets, which node's dgram module lacks: one send (the
 * systemd notify protocol, src/sd-notify.ts) and a bound receiver (a fake
 * notify socket in tests). A path starting with "@" is in the abstract
 * namespace, as systemd writes NOTIFY_SOCKET for one.
 */
import koffi from 'koffi';
import { sys } from './libbpf.ts';
import { BpfError } from './errors.ts';

const libc = koffi.load('libc.so.6');
const bind = libc.func('int bind(int fd, const void *addr, uint32_t addrlen)');

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(sun_path) */
const SUN_PATH = 108;

/** sockaddrUn: a struct sockaddr_un and its length (abstract names have no trailing NUL). */
function sockaddrUn(path: string): { addr: Buffer; len: number } {
  const abstract = path.startsWith('@');
  const name = Buffer.from(abstract ? `\0${path.slice(1)}` : path);
  if (name.length === 0 || name.length >= SUN_PATH) throw new Error(`unix socket path ${JSON.stringify(path.slice(0, 32))}: want 1 to ${SUN_PATH - 1} bytes`);
  const addr = Buffer.alloc(2 + SUN_PATH);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  return { addr, len: 2 + name.length + (abstract ? 0 : 1) };
}

function open(path: string): number {
  const fd = sys.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new BpfError('socket', `AF_UNIX ${path}`, sys.errno());
  return fd;
}

/** sendDatagram: one datagram to the socket at `path`; throws a BpfError (ENOENT, ECONNREFUSED, EAGAIN, ...). */
export function sendDatagram(path: string, payload: Buffer): void {
  const { addr, len } = sockaddrUn(path);
  const fd = open(path);
  try {
    const n = Number(sys.sendto(fd, payload, payload.length, MSG_NOSIGNAL | MSG_DONTWAIT, addr, len));
    if (n < 0) throw new BpfError('sendto', path, sys.errno());
  } finally {
    sys.close(fd);
  }
}

/** DatagramReceiver: a bound unix datagram socket read without blocking. */
export class DatagramReceiver {
  private fd: number;
  readonly path: string;

  private constructor(fd: number, path: string) {
    this.fd = fd;
    this.path = path;
  }

  static bind(path: string): DatagramReceiver {
    const { addr, len } = sockaddrUn(path);
    const fd = open(path);
    if (bind(fd, addr, len) < 0) {
      const errno = sys.errno();
      sys.close(fd);
      throw new BpfError('bind', path, errno);
    }
    return new DatagramReceiver(fd, path);
  }

  /** tryRecv: the next datagram, or undefined when none is queued. */
  tryRecv(): Buffer | undefined {
    if (this.fd < 0) throw new Error('datagram socket closed');
    const buf = Buffer.alloc(4096);
    const n = Number(sys.recv(this.fd, buf, buf.length, MSG_DONTWAIT));
    if (n >= 0) return buf.subarray(0, n);
    const errno = sys.errno();
    if (errno === 11 /* EAGAIN */) return undefined;
    throw new BpfError('recv', this.path, errno);
  }

  close(): void {
    if (this.fd >= 0) sys.close(this.fd);
    this.fd = -1;
  }
}
