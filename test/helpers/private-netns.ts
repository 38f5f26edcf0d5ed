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

/** vethPair: a veth pair a/b, up, inside the private namespace. */
export function vethPair(a: string, b: string): void {
  execFileSync('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  execFileSync('ip', ['link', 'set', a, 'up']);
  execFileSync('ip', ['link', 'set', b, 'up']);
}
