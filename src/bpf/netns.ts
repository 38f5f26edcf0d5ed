/**
 * Network namespaces of the calling thread. unshare (like setns) acts on
 * one thread only: call it, and everything that must run inside, from the
 * main thread, synchronously (FFI calls and child processes spawned from it
 * inherit the namespace; libuv's thread pool does not).
 */
import { closeSync, openSync } from 'node:fs';
import { sys } from './libbpf.ts';
import { BpfError } from './errors.ts';

const CLONE_NEWNET = 0x40000000;

/** unshareNetns: moves the calling thread into a new, empty network namespace. */
export function unshareNetns(): void {
  if (sys.unshare(CLONE_NEWNET) < 0) throw new BpfError('unshare', 'CLONE_NEWNET', sys.errno());
}

/**
 * withNetns: runs fn (synchronous) with the calling thread in the network
 * namespace at nsPath (e.g. /run/netns/<name>), and back in its own after.
 * Ifindexes given to the kernel inside fn (XDP attach) are that namespace's.
 */
export function withNetns<T>(nsPath: string, fn: () => T): T {
  const own = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(nsPath, 'r');
  try {
    if (sys.setns(target, CLONE_NEWNET) < 0) throw new BpfError('setns', nsPath, sys.errno());
    try {
      return fn();
    } finally {
      if (sys.setns(own, CLONE_NEWNET) < 0) throw new BpfError('setns', '/proc/thread-self/ns/net', sys.errno());
    }
  } finally {
    closeSync(target);
    closeSync(own);
  }
}
