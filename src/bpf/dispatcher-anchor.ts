/**
 * DispatcherAnchor: keeps an XDP program in the kernel's XDP dispatcher,
 * so that BPF_PROG_TEST_RUN of it with repeat > 1 is cheap.
 *
 * Why: a test run with repeat > 1 adds the program to the XDP dispatcher
 * for its duration and removes it after (bpf_prog_change_xdp); when the
 * program is not there already, each change rewrites the dispatcher's
 * trampoline, which costs ~24 ms per run here, whatever the repeat count.
 * A program attached in native mode somewhere stays in the dispatcher, and
 * the run's add and remove are then reference counts (0.06 ms for a run of
 * 256 live frames, measured 2026-11-28).
 *
 * How: a veth pair in a network namespace of its own, unnamed, held by
 * this object's fd only, with the program attached to one end by an
 * unpinned XDP link. Nothing of it is visible in the host's namespace;
 * closing (or the process exiting) frees the namespace, the veths and the
 * link. The pair never carries a packet.
 */
import { closeSync, openSync } from 'node:fs';
import { sys } from './libbpf.ts';
import { BpfError } from './errors.ts';
import { BpfLink } from './link.ts';
import { createVethPair, ifindexOf } from './netdev.ts';
import { unshareNetns } from './netns.ts';

const CLONE_NEWNET = 0x40000000;

export class DispatcherAnchor {
  private readonly netns: number;
  private readonly link: BpfLink;

  private constructor(netns: number, link: BpfLink) {
    this.netns = netns;
    this.link = link;
  }

  /** open: progFd attached (native XDP) in a private namespace; the calling thread is back in its own after. */
  static open(progFd: number): DispatcherAnchor {
    const own = openSync('/proc/thread-self/ns/net', 'r');
    let netns: number | undefined;
    try {
      unshareNetns();
      netns = openSync('/proc/thread-self/ns/net', 'r');
      createVethPair('vr-anchor0', 'vr-anchor1');
      const link = BpfLink.attachXdpUnpinned(progFd, ifindexOf('vr-anchor0'), 'native');
      return new DispatcherAnchor(netns, link);
    } catch (err) {
      if (netns !== undefined) closeSync(netns);
      throw err;
    } finally {
      const back = sys.setns(own, CLONE_NEWNET);
      closeSync(own);
      if (back < 0) throw new BpfError('setns', 'back to the daemon\'s namespace', sys.errno());
    }
  }

  close(): void {
    this.link.close();
    closeSync(this.netns);
  }
}
