/**
 * xdpBare: the limit of the packet-rate table: bpf/tools/xdp_redirect.c in
 * native mode on pod1's host veth, every frame sent to pod2's host veth with
 * bpf_redirect and nothing else (no parsing, tables, rewrite or counters),
 * on the same topology, generator and sinks as every other row. Our XDP
 * path is reported as a share of its packets per second.
 */
import { mkdirSync, rmSync } from 'node:fs';
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

const XDP_REDIRECT = fileURLToPath(new URL('../bpf/build/tools/xdp_redirect.o', import.meta.url));

/**
 * attachBareXdpRedirect: the bare redirect on pod1's host veth toward pod2's;
 * returns what detaches it (the link is held by its pin only). Its pins go
 * with the lab's bench bpffs directory.
 */
export function attachBareXdpRedirect(lab: Lab, t: TwoPods): { detach: () => void } {
  const dir = join(benchBpffsDir(lab), 'xdp-bare');
  mkdirSync(dir, { recursive: true });
  const obj = BpfObject.load(XDP_REDIRECT);
  try {
    const mapPin = join(dir, 'redirect_to');
    obj.pinMap('redirect_to', mapPin);
    const redirectTo = BpfMap.open(mapPin);
    try {
      withNetns(`/run/netns/${t.host}`, () => {
        const [from, to] = t.pods.map((p) => ifindexOf(p.hostIf));
        if (!from || !to) throw new Error(`xdp-bare: host veths ${t.pods.map((p) => p.hostIf).join(', ')} not found in ${t.host}`);
        const v = Buffer.alloc(4);
        v.writeUInt32LE(to);
        redirectTo.update(Buffer.alloc(4), v);
        BpfLink.attachXdp(obj.progFd('xdp_bare_redirect'), from, 'native', join(dir, 'link')).close();
      });
    } finally {
      redirectTo.close();
    }
  } finally {
    obj.close();
  }
  // the last reference to the link is its pin: removing it detaches the program
  return { detach: () => rmSync(dir, { recursive: true, force: true }) };
}
