/**
 * privateNetns: moves this test process's main thread into a new network
 * namespace of its own, so that BPF test runs, XDP attachments and veths
 * made here can never touch the host's interfaces. The namespace vanishes
 * when the process exits. Child processes spawned afterwards inherit it.
 */
import { execFileSync } from 'node:child_process';
import { unshareNetns } from '../../src/bpf/netns.ts';

let done = false;
export function privateNetns(): void {
  if (done) return;
  unshareNetns();
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  done = true;
}

/**
 * vethPair: a veth pair a/b inside the private namespace, left down: test
 * runs and XDP attachment need no carrier, and a link that is up would send
 * its own IPv6 chatter through the program and move the counters the tests
 * read.
 */
export function vethPair(a: string, b: string): void {
  execFileSync('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
}
