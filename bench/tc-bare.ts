/**
 * tcBare: the `tc-bare` TCP path: two pods behind a host namespace whose
 * veths run bpf/tools/tc_peer_fwd.c at tcx ingress (bpf_redirect_peer to the
 * other pod, nothing else). It is the floor of any TC router on this
 * topology: what the hook and the peer redirect cost by themselves, so the
 * gap between it and vrouter-tc is our datapath's own work (tables,
 * rewrites, counters), and the gap between it and the veth pair is the
 * host namespace's receive pass. The pods get their gateway's MAC by hand
 * (no proxy ARP here) and keep their default offloads.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../lab/topology.ts';
import type { TwoPods } from '../lab/two-pods.ts';
import { BpfObject } from '../src/bpf/object.ts';
import { BpfMap } from '../src/bpf/map.ts';
import { BpfLink } from '../src/bpf/link.ts';
import { ifindexOf } from '../src/bpf/netdev.ts';
import { withNetns } from '../src/bpf/netns.ts';
import { benchBpffsDir } from './packet-rate.ts';

const TC_PEER_FWD = fileURLToPath(new URL('../bpf/build/tools/tc_peer_fwd.o', import.meta.url));
const GATEWAYS = ['10.10.1.1', '10.10.2.1'] as const;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** attachBarePeerForwarder: the forwarder on both host veths of t; its pins go with the lab's bench bpffs dir. */
export function attachBarePeerForwarder(lab: Lab, t: TwoPods): void {
  const dir = join(benchBpffsDir(lab), 'tc-bare');
  mkdirSync(dir, { recursive: true });
  const obj = BpfObject.load(TC_PEER_FWD);
  try {
    obj.pinMap('peer_of', join(dir, 'peer_of'));
    const peerOf = BpfMap.open(join(dir, 'peer_of'));
    try {
      withNetns(`/run/netns/${t.host}`, () => {
        const [a, b] = t.pods.map((p) => ifindexOf(p.hostIf));
        if (!a || !b) throw new Error(`tc-bare: host veths ${t.pods.map((p) => p.hostIf).join(', ')} not found in ${t.host}`);
        peerOf.update(u32(a), u32(b));
        peerOf.update(u32(b), u32(a));
        for (const ifindex of [a, b]) BpfLink.attachTcx(obj.progFd('tc_peer_fwd'), ifindex, join(dir, `tc_${ifindex}`)).close();
      });
    } finally {
      peerOf.close();
    }
  } finally {
    obj.close();
  }
  for (const [i, pod] of t.pods.entries())
    lab.ip(pod.ns, ['neigh', 'replace', GATEWAYS[i]!, 'lladdr', pod.hostMac, 'dev', 'eth0', 'nud', 'permanent']);
}
