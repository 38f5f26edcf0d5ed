/** NextHop messages ⇄ next-hop specs. */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { CompositeKind, TunnelType, type NextHop as NextHopMsg, type NextHopSchema } from '../../gen/vrouter/ebpf/v1/nexthop_pb.js';
import { invalid } from '../../manager/errors.ts';
import type { CompositeKind as CompositeKindName, NextHop, NextHopSpec, NhKind, TunnelType as TunnelTypeName } from '../../manager/model.ts';
import { formatIp, formatMac, parseIp, parseMac } from '../../manager/net-addr.ts';
import type { Renames } from './locate.ts';

export const NH_RENAMES: Renames = {
  'encap.vifIndex': 'encap.interface_index',
  'encap.dmac': 'encap.dst_mac',
  'encap.smac': 'encap.src_mac',
  'tunnel.src': 'tunnel.src_ip',
  'tunnel.dst': 'tunnel.dst_ip',
  'tunnel.vifIndex': 'tunnel.interface_index',
  'tunnel.innerDmac': 'tunnel.inner_dst_mac',
  'tunnel.innerSmac': 'tunnel.inner_src_mac',
};

const TUNNEL_TYPES = new Map<TunnelType, TunnelTypeName>([
  [TunnelType.MPLS_OVER_UDP, 'mplsoudp'],
  [TunnelType.MPLS_OVER_GRE, 'mplsogre'],
  [TunnelType.VXLAN, 'vxlan'],
]);
const TUNNEL_CODES = new Map([...TUNNEL_TYPES].map(([k, v]) => [v, k]));
const COMPOSITE_KINDS = new Map<CompositeKind, CompositeKindName>([
  [CompositeKind.ECMP, 'ecmp'],
  [CompositeKind.FLOOD, 'flood'],
]);
const COMPOSITE_CODES = new Map([...COMPOSITE_KINDS].map(([k, v]) => [v, k]));

/** the proto oneof case of each kind */
const KIND_OF_CASE: Record<NonNullable<NextHopMsg['kind']['case']>, NhKind> = {
  encap: 'encap', receive: 'receive', discard: 'discard', tunnel: 'tunnel', vrfRoute: 'vrf', composite: 'composite',
};

/** nextHopSpecFromProto: `at` is the message's path in the request ("next_hop."). */
export function nextHopSpecFromProto(nh: NextHopMsg | undefined, at: string): NextHopSpec {
  if (!nh) throw invalid(at.replace(/\.$/, ''), 'the next hop is required');
  const spec: NextHopSpec = { id: nh.id, vrf: nh.vrf, kind: nh.kind.case ? KIND_OF_CASE[nh.kind.case] : undefined };
  if (nh.kind.case === 'vrfRoute' && nh.kind.value.l2) spec.l2 = true;
  if (nh.kind.case === 'encap') {
    const e = nh.kind.value;
    if (e.l2) spec.l2 = true;
    spec.encap = {
      vifIndex: e.interfaceIndex,
      dmac: e.dstMac ? parseMac(e.dstMac, `${at}encap.dst_mac`) : undefined,
      smac: e.srcMac ? parseMac(e.srcMac, `${at}encap.src_mac`) : undefined,
    };
  } else if (nh.kind.case === 'composite') {
    const c = nh.kind.value;
    const kind = COMPOSITE_KINDS.get(c.kind);
    if (c.kind !== CompositeKind.UNSPECIFIED && !kind) throw invalid(`${at}composite.kind`, `unknown composite kind ${c.kind}`);
    spec.composite = { kind, members: [...c.memberIds] };
  } else if (nh.kind.case === 'tunnel') {
    const t = nh.kind.value;
    const type = TUNNEL_TYPES.get(t.type);
    if (t.type !== TunnelType.UNSPECIFIED && !type) throw invalid(`${at}tunnel.type`, `unknown tunnel type ${t.type}`);
    spec.tunnel = {
      type,
      src: t.srcIp ? parseIp(t.srcIp, `${at}tunnel.src_ip`).bytes : undefined,
      dst: t.dstIp ? parseIp(t.dstIp, `${at}tunnel.dst_ip`).bytes : undefined,
      label: t.label,
      vifIndex: t.interfaceIndex,
      innerDmac: t.innerDstMac ? parseMac(t.innerDstMac, `${at}tunnel.inner_dst_mac`) : undefined,
      innerSmac: t.innerSrcMac ? parseMac(t.innerSrcMac, `${at}tunnel.inner_src_mac`) : undefined,
    };
  }
  return spec;
}

export function nextHopToProto(nh: NextHop, refCount: number, decapRefCount = 0, bridgeRefCount = 0, compositeRefCount = 0): MessageInitShape<typeof NextHopSchema> {
  const base = { id: nh.id, vrf: nh.vrf, refCount, decapRefCount, bridgeRefCount, compositeRefCount };
  switch (nh.kind) {
    case 'encap':
      return {
        ...base,
        kind: {
          case: 'encap',
          value: nh.l2
            ? { interfaceIndex: nh.encap!.vifIndex, l2: true }
            : { interfaceIndex: nh.encap!.vifIndex, dstMac: formatMac(nh.encap!.dmac), srcMac: formatMac(nh.encap!.smac) },
        },
      };
    case 'tunnel': {
      const t = nh.tunnel!;
      const vxlan = t.type === 'vxlan';
      return {
        ...base,
        kind: {
          case: 'tunnel',
          value: {
            type: TUNNEL_CODES.get(t.type)!,
            srcIp: formatIp(t.src),
            dstIp: formatIp(t.dst),
            label: t.label,
            interfaceIndex: t.vifIndex,
            innerDstMac: vxlan ? formatMac(t.innerDmac) : '',
            innerSrcMac: vxlan ? formatMac(t.innerSmac) : '',
          },
        },
      };
    }
    case 'vrf':
      return { ...base, kind: { case: 'vrfRoute', value: { l2: !!nh.l2 } } };
    case 'composite': {
      const c = nh.composite!;
      return { ...base, kind: { case: 'composite', value: { kind: COMPOSITE_CODES.get(c.kind)!, memberIds: c.members } } };
    }
    case 'receive':
      return { ...base, kind: { case: 'receive', value: {} } };
    case 'discard':
      return { ...base, kind: { case: 'discard', value: {} } };
  }
}
