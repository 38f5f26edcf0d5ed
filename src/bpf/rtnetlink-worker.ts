/**
 * The rtnetlink reader's thread (started by RtnetlinkReader,
 * src/bpf/rtnetlink-reader.ts): polls the bound socket with a bounded wait
 * (a thread asleep in a native call cannot be terminated, and process.exit
 * joins every worker), reads each datagram and posts its parsed events.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { sys } from './libbpf.ts';
import { BpfError, ERRNO } from './errors.ts';
import { parseRtnetlink, type RtnetlinkMessage } from './rtnetlink-parse.ts';

export interface RtnetlinkWorkerSetup {
  fd: number;
  /** [0]: set to 1 to stop */
  control: SharedArrayBuffer;
}

const POLLIN = 1;
const MSG_DONTWAIT = 0x40;
const { ENOBUFS, EAGAIN, EINTR } = ERRNO;
/** the longest sleep in poll: how long a stopped worker may take to go */
const WAIT_MS = 200;

const w = workerData as RtnetlinkWorkerSetup;
const ctl = new Int32Array(w.control);
const pfd = Buffer.alloc(8); // struct pollfd: int fd, short events, short revents
pfd.writeInt32LE(w.fd, 0);
pfd.writeInt16LE(POLLIN, 4);
const buf = Buffer.alloc(1 << 16);

while (Atomics.load(ctl, 0) === 0) {
  pfd.writeInt16LE(0, 6);
  const ready = sys.poll(pfd, 1, WAIT_MS);
  if (ready < 0 && sys.errno() !== EINTR) throw new BpfError('poll', 'rtnetlink', sys.errno());
  if (ready <= 0) continue;
  const out: RtnetlinkMessage[] = [];
  for (;;) {
    const n = Number(sys.recv(w.fd, buf, buf.length, MSG_DONTWAIT));
    if (n < 0) {
      const errno = sys.errno();
      // the receive buffer overflowed: the kernel dropped events (reported; the socket goes on)
      if (errno === ENOBUFS) out.push({ kind: 'overrun' });
      else if (errno !== EAGAIN && errno !== EINTR) throw new BpfError('recv', 'rtnetlink', errno);
      if (errno !== ENOBUFS) break;
      continue;
    }
    if (n === 0) break;
    out.push(...parseRtnetlink(buf.subarray(0, n)));
    if (out.length >= 1024) break;
  }
  if (out.length) parentPort!.postMessage(out);
}
