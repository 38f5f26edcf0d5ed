/**
 * The manager's domain types: typed specs (addresses, prefixes and MACs
 * already parsed by the API edge) and what the daemon reports of each
 * datapath object.
 */
import type { XdpMode } from '../bpf/link.ts';
import type { Route, RouteKey } from '../maps/route.ts';
import type { FlowKey, FlowSpec } from './flow-model.ts';

export { familyOf, type Family, type Route, type RouteKey } from '../maps/route.ts';

export type VifTypeName = 'host' | 'agent' | 'fabric' | 'virtual';
/** Hook: where the datapath runs on a vif (XDP, or tcx ingress on the skb) */
export type Hook = 'xdp' | 'tc';
/** HookPolicy: the hook asked for; auto: TC for veth/netkit, XDP for the rest */
export type HookPolicy = Hook | 'auto';
export type NhKind = 'encap' | 'receive' | 'discard' | 'tunnel' | 'vrf' | 'composite';
/** a composite next hop's kind: one member per flow (ECMP), or every member (flood) */
export type CompositeKind = 'ecmp' | 'flood';
/** the overlay encapsulations of a tunnel next hop */
export type TunnelType = 'mplsoudp' | 'mplsogre' | 'vxlan';
/** the decap tables: MPLS labels and VXLAN network identifiers */
export type DecapTableName = 'mpls' | 'vxlan';

export interface Vif {
  index: number;
  type: VifTypeName;
  name: string;
  ifindex: number;
  vrf: number;
  mac: Buffer;
  ip4: Buffer | undefined;
  ip6: Buffer | undefined;
  mtu: number;
  policyEnabled: boolean;
  disabled: boolean;
  hookPolicy: HookPolicy;
  /** the hook in use */
  hook: Hook;
  /** the XDP mode in use (hook xdp; kept as the last mode otherwise) */
  attachMode: XdpMode;
  /** a veth/netkit whose peer is in another netns: TC delivers to it with bpf_redirect_peer */
  peer: boolean;
  /** the kernel interface went operationally down (rtnetlink): traffic to it is dropped as interface_link_down */
  linkDown?: boolean;
  /** the kernel interface was deleted (rtnetlink): the vif stays until the agent deletes it */
  orphaned?: boolean;
}

/** VifSpec: a vif as asked for; mac, ip4, ip6 and mtu 0 mean "from the kernel interface" / none. */
export interface VifSpec {
  index: number;
  type: VifTypeName | undefined;
  name: string;
  vrf: number;
  mac: Buffer | undefined;
  ip4: Buffer | undefined;
  ip6: Buffer | undefined;
  mtu: number;
  policyEnabled: boolean;
  disabled: boolean;
  /** undefined: native, falling back to generic */
  attachMode: XdpMode | undefined;
  /** undefined: auto */
  hookPolicy: HookPolicy | undefined;
}

/** VifChange: the fields an update sets (undefined: unchanged; an empty ip buffer clears it). */
export interface VifChange {
  vrf?: number | undefined;
  mac?: Buffer | undefined;
  ip4?: Buffer | undefined;
  ip6?: Buffer | undefined;
  mtu?: number | undefined;
  policyEnabled?: boolean | undefined;
  disabled?: boolean | undefined;
  hookPolicy?: HookPolicy | undefined;
}

/** Tunnel: a tunnel next hop's encapsulation (IPv4 underlay addresses, 4 bytes each) */
export interface Tunnel {
  type: TunnelType;
  src: Buffer;
  dst: Buffer;
  /** the default MPLS label / VNI (a route's label overrides it) */
  label: number;
  /** the fabric vif the packets leave by (the underlay FIB lookup starts there) */
  vifIndex: number;
  /** VXLAN: the inner Ethernet header's addresses */
  innerDmac: Buffer;
  innerSmac: Buffer;
}

export interface NextHop {
  id: number;
  /** the VRF the next hop belongs to; a vrf next hop routes packets again in it */
  vrf: number;
  kind: NhKind;
  /** L2 (encap, vrf): an encap next hop sends the frame as it is (a bridge port); a vrf next hop bridges a VNI's inner frame in its VRF */
  l2?: boolean;
  /** encap only */
  encap?: { vifIndex: number; dmac: Buffer; smac: Buffer };
  /** tunnel only */
  tunnel?: Tunnel;
  /** composite only: its members in slot order */
  composite?: Composite;
}

/** Composite: a composite next hop's kind and member next-hop ids */
export interface Composite {
  kind: CompositeKind;
  members: number[];
}

/** TunnelSpec: a tunnel as asked for; undefined fields are missing (or, for the inner MACs, defaulted) */
export interface TunnelSpec {
  type: TunnelType | undefined;
  src: Buffer | undefined;
  dst: Buffer | undefined;
  label: number;
  vifIndex: number;
  innerDmac: Buffer | undefined;
  innerSmac: Buffer | undefined;
}

export interface NextHopSpec {
  id: number;
  vrf: number;
  kind: NhKind | undefined;
  /** encap, vrf: L2 (see NextHop.l2) */
  l2?: boolean;
  /** encap only; smac undefined: the output vif's MAC */
  encap?: { vifIndex: number; dmac: Buffer | undefined; smac: Buffer | undefined };
  /** tunnel only */
  tunnel?: TunnelSpec;
  /** composite only; kind undefined: missing */
  composite?: { kind: CompositeKind | undefined; members: number[] };
}

/** BridgeKey: a bridge (MAC) table entry's key; ff:ff:ff:ff:ff:ff is the VRF's flood entry */
export interface BridgeKey {
  vrf: number;
  mac: Buffer;
}

/** BridgeEntry: a MAC of a VRF and the next hop its frames go to; label: the VNI a tunnel next hop sends them with (undefined: the next hop's own) */
export interface BridgeEntry extends BridgeKey {
  nhId: number;
  label: number | undefined;
}

/** DecapEntry: a label (vr_mpls) or a VNI (vr_vxlan) and the next hop a tunnelled packet with it is run through */
export interface DecapEntry {
  key: number;
  nhId: number;
}

export type RouteSpec = Route;

/** Op: one operation of a programming stream or transaction. */
export type Op =
  | { kind: 'vif'; action: 'add'; spec: VifSpec }
  | { kind: 'vif'; action: 'update'; index: number; change: VifChange }
  | { kind: 'vif'; action: 'delete'; index: number }
  | { kind: 'nh'; action: 'add' | 'update'; spec: NextHopSpec }
  | { kind: 'nh'; action: 'delete'; id: number }
  | { kind: 'member'; action: 'add' | 'delete'; id: number; member: number }
  | { kind: 'route'; action: 'add' | 'update'; spec: RouteSpec }
  | { kind: 'route'; action: 'delete'; key: RouteKey }
  | { kind: 'flow'; action: 'set'; spec: FlowSpec }
  | { kind: 'flow'; action: 'delete'; key: FlowKey }
  | { kind: DecapTableName; action: 'add' | 'update'; entry: DecapEntry }
  | { kind: DecapTableName; action: 'delete'; key: number }
  | { kind: 'bridge'; action: 'add' | 'update'; entry: BridgeEntry }
  | { kind: 'bridge'; action: 'delete'; key: BridgeKey };

/** vifSpec: a VifSpec with the API's defaults for what is not given. */
export function vifSpec(p: Pick<VifSpec, 'index' | 'name' | 'type'> & Partial<VifSpec>): VifSpec {
  return {
    vrf: 0, mac: undefined, ip4: undefined, ip6: undefined, mtu: 0, policyEnabled: false, disabled: false, attachMode: undefined, hookPolicy: undefined, ...p,
  };
}
