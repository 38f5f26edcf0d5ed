/** NextHop messages ⇄ next-hop specs. */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { NextHop as NextHopMsg, NextHopSchema } from '../../gen/vrouter/ebpf/v1/nexthop_pb.js';
import { invalid } from '../../manager/errors.ts';
import type { NextHop, NextHopSpec } from '../../manager/model.ts';
import { formatMac, parseMac } from '../../manager/net-addr.ts';
import type { Renames } from './locate.ts';

export const NH_RENAMES: Renames = {
  'encap.vifIndex': 'encap.interface_index',
  'encap.dmac': 'encap.dst_mac',
  'encap.smac': 'encap.src_mac',
};

/** nextHopSpecFromProto: `at` is the message's path in the request ("next_hop."). */
export function nextHopSpecFromProto(nh: NextHopMsg | undefined, at: string): NextHopSpec {
  if (!nh) throw invalid(at.replace(/\.$/, ''), 'the next hop is required');
  const spec: NextHopSpec = { id: nh.id, vrf: nh.vrf, kind: nh.kind.case };
  if (nh.kind.case === 'encap') {
    const e = nh.kind.value;
    spec.encap = {
      vifIndex: e.interfaceIndex,
      dmac: e.dstMac ? parseMac(e.dstMac, `${at}encap.dst_mac`) : undefined,
      smac: e.srcMac ? parseMac(e.srcMac, `${at}encap.src_mac`) : undefined,
    };
  }
  return spec;
}

export function nextHopToProto(nh: NextHop, refCount: number): MessageInitShape<typeof NextHopSchema> {
  const base = { id: nh.id, vrf: nh.vrf, refCount };
  switch (nh.kind) {
    case 'encap':
      return {
        ...base,
        kind: {
          case: 'encap',
          value: { interfaceIndex: nh.encap!.vifIndex, dstMac: formatMac(nh.encap!.dmac), srcMac: formatMac(nh.encap!.smac) },
        },
      };
    case 'receive':
      return { ...base, kind: { case: 'receive', value: {} } };
    case 'discard':
      return { ...base, kind: { case: 'discard', value: {} } };
  }
}
