/**
 * layout: the constants of bpf/shared/vr_kern_user.h, kept in sync by hand
 * and checked against the object's BTF by test/unit/map-layout.test.ts.
 */
export const VR_MAGIC = 0x76726562;
export const VR_LAYOUT_VERSION = 5;

export const MAP_NAMES = [
  'vr_meta', 'vr_vifs', 'vr_nexthops', 'vr_rt4', 'vr_rt6', 'vr_vif_stats', 'vr_drops',
  // layout v3: flows, their rings and the datapath's run-time config
  'vr_flows', 'vr_config', 'vr_fctr', 'vr_scratch', 'vr_miss_rb', 'vr_trap_rb',
  // layout v4: host routes (/32, /128) in exact-match hashes before the tries
  'vr_host4', 'vr_host6',
  // layout v5: tunnels (decap tables, composite members, tunnel counters)
  'vr_mpls', 'vr_vxlan', 'vr_comp', 'vr_tctr',
  // layout v5: the bridge (MAC) table
  'vr_bridge',
] as const;
/** the ring buffer maps (no lookup / update: read through src/bpf/ringbuf.ts) */
export const RING_MAPS = ['vr_miss_rb', 'vr_trap_rb'] as const;
export type MapName = (typeof MAP_NAMES)[number];

/**
 * the programs pinned under progs/: the XDP and the tcx ingress entry of one
 * datapath (bpf/vr_xdp.c), and the tcx egress entry of host vifs (layout v5)
 */
export const PROGRAM_NAMES = ['vr_xdp_vif', 'vr_tc_vif', 'vr_tc_egress'] as const;
export type ProgramName = (typeof PROGRAM_NAMES)[number];

export const VifType = { UNSPEC: 0, HOST: 1, AGENT: 2, FABRIC: 3, VIRTUAL: 4 } as const;
export const VIF_F_ENABLED = 1 << 0;
export const VIF_F_POLICY = 1 << 1;
export const VIF_F_PEER = 1 << 2;
/** in a next hop's copy only: the output vif is on the TC hook (XDP hands its packets to TC) */
export const VIF_F_SKB = 1 << 3;
/** the kernel interface is operationally down (from rtnetlink): traffic to it is dropped as interface_link_down */
export const VIF_F_LINK_DOWN = 1 << 4;
export const AttachModeCode = { NONE: 0, NATIVE: 1, GENERIC: 2, TC: 3 } as const;
export const HookPolicyCode = { AUTO: 0, XDP: 1, TC: 2 } as const;

export const NhType = { UNSPEC: 0, RECEIVE: 1, ENCAP: 2, TUNNEL: 3, DISCARD: 5, COMPOSITE: 6, VRF: 7 } as const;
/** enum vr_tun_type */
export const TunType = { NONE: 0, MPLSOUDP: 1, MPLSOGRE: 2, VXLAN: 3 } as const;
/** enum vr_comp_kind */
export const CompKind = { NONE: 0, ECMP: 1, FLOOD: 2 } as const;
/** vr_comp: slots per composite (members at +0, ECMP buckets at +COMP_MEMBERS) */
export const VR_COMP_BLOCK = 128;
export const VR_COMP_MEMBERS = 64;
export const VR_COMP_BUCKETS = 64;
/** enum vr_tun_counter: vr_tctr's slots */
export const TunCounter = { ENCAP: 0, DECAP: 1, NEIGH: 2, ICMP_TOO_BIG: 3 } as const;
export const VR_TC_MAX = 4;
export const VR_DEF_MAX_LABELS = 16384;
export const VR_DEF_MAX_VNIS = 16384;
export const VR_DEF_MAX_BRIDGE = 65536;
/** vr_nh.flags: an L2 next hop (ENCAP: no MAC rewrite; VRF: bridge the VNI's inner frame) */
export const NH_F_L2 = 1 << 0;
/** vr_bridge.flags: the entry's label (VNI) is valid */
export const BE_F_LABEL = 1 << 0;
/** vr_comp slots by default: 2048 composites */
export const VR_DEF_MAX_COMP = 262144;
/** the largest MPLS label (20 bits) and VNI (24 bits) */
export const MAX_LABEL = 0xfffff;
export const MAX_VNI = 0xffffff;

export const RT_F_PROXY_ARP = 1 << 0;
/** the route's label is valid: it overrides its tunnel next hop's (layout v5) */
export const RT_F_LABEL = 1 << 1;

/** The built-in discard next hop (the vRouter's NH_DISCARD_ID). */
export const NH_DISCARD_ID = 0;

/* flows (layout v3) */
export const FlowActionCode = { HOLD: 0, FORWARD: 1, DROP: 2, NAT: 3 } as const;
export const FLOW_F = { SNAT: 1 << 0, DNAT: 1 << 1, REVERSE: 1 << 2 } as const;
export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, ACK: 0x10 } as const;
export const TRAP_F = { ARP: 1 << 0, DHCP: 1 << 1, DNS: 1 << 2, ND: 1 << 3, RS: 1 << 4, OWN: 1 << 5 } as const;
export const TrapReasonCode = { UNSPEC: 0, ARP: 1, DHCP: 2, DNS: 3, ND: 4, RS: 5, OWN: 6 } as const;
export const FlowCounter = { MISSES: 0, HELD: 1, HITS: 2, TRAPPED: 3 } as const;
export const VR_FC_MAX = 4;
export const EventType = { MISS: 1, TRAP: 2 } as const;
export const MISS_F = { NEW: 1 << 0, HELD: 1 << 1 } as const;
export const VR_DEF_MAX_FLOWS = 524288;
export const VR_DEF_HOLD_PER_FLOW = 3;
/** the most of one frame a miss or trap record carries */
export const VR_CAP_MAX = 9216;
