/**
 * Network namespaces of the calling thread. unshare (like setns) acts on
 * one thread only: call it, and everything that must run inside, from the
 * main thread, synchronously (FFI calls and child processes spawned from it
 * inherit the namespace; libuv's thread pool does not).
 */
import { sys } from './libbpf.ts';
import { BpfError } from './errors.ts';

const CLONE_NEWNET = 0x40000000;

/** unshareNetns: moves the calling thread into a new, empty network namespace. */
export function unshareNetns(): void {
  if (sys.unshare(CLONE_NEWNET) < 0) throw new BpfError('unshare', 'CLONE_NEWNET', sys.errno());
}
