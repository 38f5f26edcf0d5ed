/**
 * Conversions between protobuf messages and the manager's domain types.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { AttachMode, InterfaceType, type InterfaceSchema } from '../gen/vrouter/ebpf/v1/interface_pb.js';
import type { NextHopSchema } from '../gen/vrouter/ebpf/v1/nexthop_pb.js';
import type { RouteSchema } from '../gen/vrouter/ebpf/v1/route_pb.js';
import type { XdpMode } from '../bpf/link.ts';
import type { NextHop, Route, Vif, VifTypeName } from '../manager/model.ts';
import { formatIp, formatMac, formatPrefix } from '../manager/net-addr.ts';
import { invalid } from '../manager/errors.ts';

const TYPE_TO_NAME = new Map<InterfaceType, VifTypeName>([
  [InterfaceType.HOST, 'host'],
  [InterfaceType.AGENT, 'agent'],
  [InterfaceType.FABRIC, 'fabric'],
  [InterfaceType.VIRTUAL, 'virtual'],
]);
const NAME_TO_TYPE = new Map([...TYPE_TO_NAME].map(([k, v]) => [v, k]));

export function vifTypeFromProto(t: InterfaceType, field: string): VifTypeName | undefined {
  if (t === InterfaceType.UNSPECIFIED) return undefined;
  const name = TYPE_TO_NAME.get(t);
  if (!name) throw invalid(field, `unknown interface type ${t}`);
  return name;
}

export function attachModeFromProto(m: AttachMode, field: string): XdpMode | undefined {
  switch (m) {
    case AttachMode.UNSPECIFIED:
      return undefined;
    case AttachMode.NATIVE:
      return 'native';
    case AttachMode.GENERIC:
      return 'generic';
    default:
      throw invalid(field, `unknown attach mode ${m}`);
  }
}

export function attachModeToProto(m: XdpMode): AttachMode {
  return m === 'native' ? AttachMode.NATIVE : AttachMode.GENERIC;
}

export function vifToProto(v: Vif): MessageInitShape<typeof InterfaceSchema> {
  return {
    index: v.index,
    type: NAME_TO_TYPE.get(v.type) ?? InterfaceType.UNSPECIFIED,
    name: v.name,
    vrf: v.vrf,
    mac: formatMac(v.mac),
    ipv4Address: v.ip4 ? formatIp(v.ip4) : '',
    ipv6Address: v.ip6 ? formatIp(v.ip6) : '',
    mtu: v.mtu,
    policyEnabled: v.policyEnabled,
    disabled: v.disabled,
    osIndex: v.ifindex,
    attachMode: attachModeToProto(v.attachMode),
  };
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

export function routeToProto(r: Route): MessageInitShape<typeof RouteSchema> {
  return { vrf: r.vrf, prefix: formatPrefix(r), nextHopId: r.nhId, proxyArp: r.proxyArp };
}
