/**
 * RtnetlinkReader: a NETLINK_ROUTE socket bound to the link, address,
 * neighbour and route multicast groups of the calling thread's network
 * namespace (opened here, on the daemon's thread, so it is that namespace's
 * whatever thread reads it), read on a worker thread (rtnetlink-worker.ts)
 * so that the gRPC event loop never waits on it. Parsed events reach this
 * thread through `onEvents`, in the kernel's order.
 */
import { Worker } from 'node:worker_threads';
import { sys } from './libbpf.ts';
import { BpfError } from './errors.ts';
import type { RtnetlinkMessage } from './rtnetlink-parse.ts';
import type { RtnetlinkWorkerSetup } from './rtnetlink-worker.ts';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVBUFFORCE = 33;
const SO_RCVBUF = 8;
/** RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE */
export const RTMGRP_ALL = 0x1 | 0x4 | 0x10 | 0x40 | 0x100 | 0x400;
/** a burst (a thousand pods' veths going at once) fits; past it the kernel says ENOBUFS (an overrun event) */
const RCVBUF = 4 << 20;

export interface RtnetlinkOptions {
  /** multicast groups (default RTMGRP_ALL) */
  groups?: number;
  /** called on this thread with each datagram's events */
  onEvents: (events: RtnetlinkMessage[]) => void;
  /** called once when the worker fails (the reader is then closed) */
  onError?: (err: Error) => void;
}

export class RtnetlinkReader {
  private readonly fd: number;
  private readonly control = new Int32Array(new SharedArrayBuffer(4));
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private closing: Promise<void> | undefined;

  private constructor(fd: number, opts: RtnetlinkOptions) {
    this.fd = fd;
    const setup: RtnetlinkWorkerSetup = { fd, control: this.control.buffer as SharedArrayBuffer };
    this.worker = new Worker(new URL('./rtnetlink-worker.ts', import.meta.url), { workerData: setup, name: 'rtnetlink' });
    this.worker.on('message', (m: RtnetlinkMessage[]) => opts.onEvents(m));
    let failed: Error | undefined;
    this.worker.on('error', (err) => (failed = err));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (failed && !this.closing) opts.onError?.(failed);
    });
    // process.exit joins the worker: told to stop, it goes within its poll's 200 ms
    const stop = () => Atomics.store(this.control, 0, 1);
    process.once('exit', stop);
    void this.exited.then(() => process.off('exit', stop));
  }

  /** open: the socket, bound in the calling thread's network namespace, and its reader. */
  static open(opts: RtnetlinkOptions): RtnetlinkReader {
    const fd = sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw new BpfError('socket', 'AF_NETLINK', sys.errno());
    try {
      const size = Buffer.alloc(4);
      size.writeInt32LE(RCVBUF, 0);
      // FORCE (CAP_NET_ADMIN) passes net.core.rmem_max; without it the capped size will do
      if (sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) < 0) sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4);
      const addr = Buffer.alloc(12); // struct sockaddr_nl: family, pad, pid (0: the kernel picks), groups
      addr.writeUInt16LE(AF_NETLINK, 0);
      addr.writeUInt32LE(opts.groups ?? RTMGRP_ALL, 8);
      if (sys.bind(fd, addr, addr.length) < 0) throw new BpfError('bind', 'rtnetlink groups', sys.errno());
      return new RtnetlinkReader(fd, opts);
    } catch (err) {
      sys.close(fd);
      throw err;
    }
  }

  /** close: stops the worker (within its 200 ms wait), then closes the socket. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      Atomics.store(this.control, 0, 1);
      await this.exited;
      sys.close(this.fd);
    })();
    return this.closing;
  }
}
