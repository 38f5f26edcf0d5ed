/**
 * Network namespaces of the calling thread. setns/unshare act on one
 * thread only: call them, and everything that must run inside, from the
 * main thread, synchronously (FFI calls and child processes spawned from it
 * inherit the namespace; libuv's thread pool does not).
 */
import { sys } from './libbpf.ts';
import { BpfError } from './errors.ts';

const CLONE_NEWNET = 0x40000000;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;

/** unshareNetns: moves the calling thread into a new, empty network namespace. */
export function unshareNetns(): void {
  if (sys.unshare(CLONE_NEWNET) < 0) throw new BpfError('unshare', 'CLONE_NEWNET', sys.errno());
}

/** enterNetns: moves the calling thread into a named namespace (/run/netns/<name> or a path). */
export function enterNetns(nameOrPath: string): void {
  const path = nameOrPath.includes('/') ? nameOrPath : `/run/netns/${nameOrPath}`;
  const fd = sys.open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw new BpfError('open', path, sys.errno());
  try {
    if (sys.setns(fd, CLONE_NEWNET) < 0) throw new BpfError('setns', path, sys.errno());
  } finally {
    sys.close(fd);
  }
}
