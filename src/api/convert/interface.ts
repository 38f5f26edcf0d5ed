/** Interface messages ⇄ vif specs. */
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  AttachHook, AttachMode, InterfaceType, type Interface, type InterfaceSchema, type UpdateInterfaceRequest,
} from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import type { XdpMode } from '../../bpf/link.ts';
import { invalid } from '../../manager/errors.ts';
import type { Hook, HookPolicy, Vif, VifChange, VifSpec, VifTypeName } from '../../manager/model.ts';
import { formatIp, formatMac, parseIp, parseMac } from '../../manager/net-addr.ts';
import type { Renames } from './locate.ts';

export const VIF_RENAMES: Renames = { ip4: 'ipv4_address', ip6: 'ipv6_address' };

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

export function hookPolicyFromProto(h: AttachHook, field: string): HookPolicy | undefined {
  switch (h) {
    case AttachHook.UNSPECIFIED:
      return undefined;
    case AttachHook.AUTO:
      return 'auto';
    case AttachHook.XDP:
      return 'xdp';
    case AttachHook.TC:
      return 'tc';
    default:
      throw invalid(field, `unknown attach hook ${h}`);
  }
}

export function hookToProto(h: HookPolicy | Hook): AttachHook {
  return h === 'xdp' ? AttachHook.XDP : h === 'tc' ? AttachHook.TC : AttachHook.AUTO;
}

/** ownIp: a vif's own address of one family; "" is none. */
function ownIp(s: string, family: 4 | 6, field: string): Buffer | undefined {
  if (!s) return undefined;
  const ip = parseIp(s, field);
  if (ip.family !== family) throw invalid(field, `not an IPv${family} address`);
  return ip.bytes;
}

/** vifSpecFromProto: `at` is the message's path in the request ("interface."). */
export function vifSpecFromProto(i: Interface | undefined, attachMode: AttachMode, at: string, modeField: string): VifSpec {
  if (!i) throw invalid(at.replace(/\.$/, ''), 'the interface is required');
  const mode = attachModeFromProto(attachMode, modeField);
  const hookPolicy = hookPolicyFromProto(i.hookPolicy, `${at}hook_policy`);
  if (mode && hookPolicy === 'tc') throw invalid(modeField, 'an XDP attach mode was asked for with hook_policy ATTACH_HOOK_TC');
  return {
    index: i.index,
    type: vifTypeFromProto(i.type, `${at}type`),
    name: i.name,
    vrf: i.vrf,
    mac: i.mac ? parseMac(i.mac, `${at}mac`) : undefined,
    ip4: ownIp(i.ipv4Address, 4, `${at}ipv4_address`),
    ip6: ownIp(i.ipv6Address, 6, `${at}ipv6_address`),
    mtu: i.mtu,
    policyEnabled: i.policyEnabled,
    disabled: i.disabled,
    attachMode: mode,
    hookPolicy,
  };
}

/** vifChangeFromProto: the optional fields present in the request; "" clears an address. */
export function vifChangeFromProto(r: UpdateInterfaceRequest, at = ''): VifChange {
  const ip = (s: string | undefined, fam: 4 | 6, f: string) => (s === undefined ? undefined : (ownIp(s, fam, `${at}${f}`) ?? Buffer.alloc(0)));
  return {
    vrf: r.vrf,
    mac: r.mac === undefined ? undefined : parseMac(r.mac, `${at}mac`),
    ip4: ip(r.ipv4Address, 4, 'ipv4_address'),
    ip6: ip(r.ipv6Address, 6, 'ipv6_address'),
    mtu: r.mtu,
    policyEnabled: r.policyEnabled,
    disabled: r.disabled,
    hookPolicy: r.hookPolicy === undefined ? undefined : (hookPolicyFromProto(r.hookPolicy, `${at}hook_policy`) ?? 'auto'),
  };
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
    hookPolicy: hookToProto(v.hookPolicy),
    osIndex: v.ifindex,
    attachMode: v.hook === 'xdp' ? attachModeToProto(v.attachMode) : AttachMode.UNSPECIFIED,
    hook: hookToProto(v.hook),
    peerDelivery: v.peer,
    linkDown: v.linkDown ?? false,
    orphaned: v.orphaned ?? false,
  };
}
