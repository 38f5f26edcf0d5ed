/**
 * The manager's domain types: what the daemon knows of each datapath object.
 * Addresses are bytes; the API layer formats them.
 */
import type { XdpMode } from '../bpf/link.ts';

export type VifTypeName = 'host' | 'agent' | 'fabric' | 'virtual';
export type NhKind = 'encap' | 'receive' | 'discard';

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
  attachMode: XdpMode;
}

/** VifSpec: a vif as asked for (strings still unparsed). */
export interface VifSpec {
  index: number;
  type: VifTypeName | undefined;
  name: string;
  vrf: number;
  mac: string;
  ipv4: string;
  ipv6: string;
  mtu: number;
  policyEnabled: boolean;
  disabled: boolean;
  attachMode: XdpMode | undefined;
}

export interface VifChange {
  vrf?: number | undefined;
  mac?: string | undefined;
  ipv4?: string | undefined;
  ipv6?: string | undefined;
  mtu?: number | undefined;
  policyEnabled?: boolean | undefined;
  disabled?: boolean | undefined;
}

export interface NextHop {
  id: number;
  vrf: number;
  kind: NhKind;
  /** encap only */
  encap?: { vifIndex: number; dmac: Buffer; smac: Buffer };
}

export interface NextHopSpec {
  id: number;
  vrf: number;
  kind: NhKind | undefined;
  encap?: { vifIndex: number; dstMac: string; srcMac: string };
}

export interface Route {
  vrf: number;
  family: 4 | 6;
  addr: Buffer;
  plen: number;
  nhId: number;
  proxyArp: boolean;
}

export interface RouteSpec {
  vrf: number;
  prefix: string;
  nextHopId: number;
  proxyArp: boolean;
}

/** vifSpec: a VifSpec with the API's defaults (an empty proto field) for what is not given. */
export function vifSpec(p: Pick<VifSpec, 'index' | 'name' | 'type'> & Partial<VifSpec>): VifSpec {
  return { vrf: 0, mac: '', ipv4: '', ipv6: '', mtu: 0, policyEnabled: false, disabled: false, attachMode: undefined, ...p };
}
