/**
 * layout: the constants of bpf/shared/vr_kern_user.h, kept in sync by hand
 * and checked against the object's BTF by test/unit/map-layout.test.ts.
 */
export const VR_MAGIC = 0x76726562;
export const VR_LAYOUT_VERSION = 2;

export const MAP_NAMES = [
  'vr_meta', 'vr_vifs', 'vr_nexthops', 'vr_rt4', 'vr_rt6', 'vr_vif_stats', 'vr_drops',
] as const;
export type MapName = (typeof MAP_NAMES)[number];

/** the programs pinned under progs/: the XDP and the tcx entry of one datapath (bpf/vr_xdp.c) */
export const PROGRAM_NAMES = ['vr_xdp_vif', 'vr_tc_vif'] as const;
export type ProgramName = (typeof PROGRAM_NAMES)[number];

export const VifType = { UNSPEC: 0, HOST: 1, AGENT: 2, FABRIC: 3, VIRTUAL: 4 } as const;
export const VIF_F_ENABLED = 1 << 0;
export const VIF_F_POLICY = 1 << 1;
export const VIF_F_PEER = 1 << 2;
/** in a next hop's copy only: the output vif is on the TC hook (XDP hands its packets to TC) */
export const VIF_F_SKB = 1 << 3;
export const AttachModeCode = { NONE: 0, NATIVE: 1, GENERIC: 2, TC: 3 } as const;
export const HookPolicyCode = { AUTO: 0, XDP: 1, TC: 2 } as const;

export const NhType = { UNSPEC: 0, RECEIVE: 1, ENCAP: 2, TUNNEL: 3, DISCARD: 5, COMPOSITE: 6 } as const;

export const RT_F_PROXY_ARP = 1 << 0;

/** The built-in discard next hop (the vRouter's NH_DISCARD_ID). */
export const NH_DISCARD_ID = 0;
