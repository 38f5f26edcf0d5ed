/* vr_kern_user.h: the datapath ABI shared by the BPF programs and the daemon.
 *
 * Every struct here is a map key or value. The TypeScript codecs in
 * src/maps/ mirror them; test/unit/map-layout.test.ts checks sizes and
 * offsets against this object's BTF, so a change here that is not made there
 * fails the tests. Bump VR_LAYOUT_VERSION whenever a pinned map's key/value
 * layout changes, and add the step from the previous version to the registry
 * in src/maps/migrate.ts: a daemon migrates an older pinned layout it has a
 * step for, and refuses any other version.
 */
#ifndef VR_KERN_USER_H
#define VR_KERN_USER_H

#include <linux/types.h>

#define VR_MAGIC          0x76726562 /* "vreb" */
#ifndef VR_LAYOUT_VERSION_OVERRIDE
#define VR_LAYOUT_VERSION 2
#else
/* Older layouts are built from this same source for the upgrade tests
 * (bpf/Makefile: build/vr_xdp_v1.o); only the structs that changed are
 * guarded, below. */
#define VR_LAYOUT_VERSION VR_LAYOUT_VERSION_OVERRIDE
#endif

/* Default table sizes; the daemon overrides them from its config at load. */
#define VR_DEF_MAX_VIFS      4096
#define VR_DEF_MAX_NEXTHOPS  65536
#define VR_DEF_MAX_ROUTES    262144

/* vif types (mirrors proto InterfaceType) */
enum vr_vif_type {
	VR_VIF_TYPE_UNSPEC  = 0,
	VR_VIF_TYPE_HOST    = 1, /* vhost0: the host stack's door into the datapath */
	VR_VIF_TYPE_AGENT   = 2, /* pkt0: the agent's packet interface */
	VR_VIF_TYPE_FABRIC  = 3, /* physical underlay NIC */
	VR_VIF_TYPE_VIRTUAL = 4, /* pod / VM interface (host end of a veth or tap) */
};

/* vif flags (mirrors proto Interface fields) */
#define VR_VIF_F_ENABLED  (1u << 0) /* admin up: packets in and out are allowed */
#define VR_VIF_F_POLICY   (1u << 1) /* flow lookup on input (flows: later issue) */
#define VR_VIF_F_PEER     (1u << 2) /* a veth/netkit whose peer is in another netns:
				      * the TC hook delivers to it with bpf_redirect_peer */
#define VR_VIF_F_SKB      (1u << 3) /* the vif runs on the TC hook: what goes to it must be
				      * an skb (its pod may not take XDP frames); the XDP
				      * entry hands such packets to its own device's TC
				      * entry (every XDP vif has one too) */

/* the attachment in use (hook and XDP mode), recorded in the vif so that a
 * restarted daemon re-adopts the right link and reports it */
enum vr_attach_mode {
	VR_ATTACH_NONE    = 0,
	VR_ATTACH_NATIVE  = 1, /* XDP, in the driver */
	VR_ATTACH_GENERIC = 2, /* XDP, on the skb */
	VR_ATTACH_TC      = 3, /* tcx ingress (vr_tc_vif) */
};

/* hook policy as the agent asked (mirrors proto AttachHook; daemon bookkeeping) */
enum vr_hook_policy {
	VR_HOOK_POLICY_AUTO = 0,
	VR_HOOK_POLICY_XDP  = 1,
	VR_HOOK_POLICY_TC   = 2,
};

/* vr_vifs: key __u32 kernel ifindex (what XDP sees as ingress_ifindex) */
struct vr_vif {
	__u32 vif_idx;      /* the agent's vif index; indexes vr_vif_stats */
	__u32 vrf;
	__u32 flags;        /* VR_VIF_F_* */
	__u16 mtu;          /* L3 MTU enforced on output */
	__u8  type;         /* enum vr_vif_type */
	__u8  attach_mode;  /* enum vr_attach_mode (daemon bookkeeping) */
	__u8  mac[6];       /* our MAC on this vif: source of rewrites and proxy replies */
	__u8  hook_policy;  /* enum vr_hook_policy (daemon bookkeeping; was padding: 0 = auto) */
	__u8  pad;
	__u32 ip4;          /* network order; 0 = none */
	__u8  ip6[16];      /* all zero = none */
};

/* next-hop types (mirrors the proto NextHop oneof; gaps kept for later kinds) */
enum vr_nh_type {
	VR_NH_UNSPEC    = 0,
	VR_NH_RECEIVE   = 1, /* to the host stack: XDP_PASS */
	VR_NH_ENCAP     = 2, /* L2 rewrite + redirect to a local vif */
	VR_NH_TUNNEL    = 3, /* reserved: overlay issue */
	VR_NH_DISCARD   = 5,
	VR_NH_COMPOSITE = 6, /* reserved: overlay issue */
};

/* vr_nexthops: ARRAY indexed by next-hop id; type VR_NH_UNSPEC = empty slot.
 * An ENCAP next hop carries a copy of its output vif's state and MTU, so
 * that forwarding needs no second vif lookup; the daemon rewrites the next
 * hops of a vif whenever that vif changes. */
struct vr_nh {
	__u8  type;         /* enum vr_nh_type */
	__u8  oif_state;    /* ENCAP: VR_VIF_F_ENABLED | _PEER | _SKB of the output vif */
	__u16 flags;
	__u32 oif_ifindex;  /* ENCAP: kernel ifindex to redirect to */
	__u32 oif_vif;      /* ENCAP: vif index of the output vif (counters) */
	__u8  dmac[6];      /* ENCAP: rewrite destination MAC */
	__u8  smac[6];      /* ENCAP: rewrite source MAC */
	__u32 vrf;
	__u16 oif_mtu;      /* ENCAP: the output vif's MTU (0 = unchecked) */
	__u8  pad[2];
};

/* LPM keys: prefixlen counts the 32 VRF bits, so it is 32 + the route's
 * prefix length; vrf is big-endian so that it is matched as leading bits. */
struct vr_rt4_key {
	__u32 prefixlen;
	__be32 vrf;
	__u8  addr[4];
};

struct vr_rt6_key {
	__u32 prefixlen;
	__be32 vrf;
	__u8  addr[16];
};

#define VR_RT_F_PROXY_ARP   (1u << 0) /* answer ARP / NS for addresses in this route */

/* vr_rt4 / vr_rt6 value. Layout v2 added plen: an LPM lookup returns only
 * the value, so the value names its own prefix; the daemon then needs no
 * copy of the table to tell an exact route from a covering one. */
#if VR_LAYOUT_VERSION >= 2
struct vr_rt {
	__u32 nh_id;
	__u16 flags;        /* VR_RT_F_* */
	__u8  plen;         /* the route's own prefix length (without the VRF bits) */
	__u8  pad;
	__u32 label;        /* MPLS label / VNI (overlay issue); 0 = none */
};
#else /* layout v1 */
struct vr_rt {
	__u32 nh_id;
	__u32 flags;        /* VR_RT_F_* */
	__u32 label;
};
#endif

/* vr_vif_stats: PERCPU_ARRAY indexed by vif_idx */
struct vr_vif_stats {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 drops;        /* packets received on this vif and dropped */
	__u64 to_host;      /* packets received on this vif and passed to the kernel */
	__u64 proxied;      /* ARP / NS answered on this vif */
};

/* vr_trace_rec: what a trace run (bpf/vr_trace.c: the same datapath built
 * with VR_TRACE, run by the daemon with BPF_PROG_TEST_RUN, never attached)
 * saw of one frame. Not a pinned map: the trace object's own. */
#define VR_TRACE_F_RAN      (1u << 0) /* the program ran (the record is this run's) */
#define VR_TRACE_F_DROP     (1u << 1) /* reason says why */
#define VR_TRACE_F_NEXTHOP  (1u << 2) /* nh_id was run */
#define VR_TRACE_F_OUT      (1u << 3) /* sent out of oif_vif / oif_ifindex */
#define VR_TRACE_F_PEER     (1u << 4) /* ... with bpf_redirect_peer (TC) */
#define VR_TRACE_F_PROXIED  (1u << 5) /* an ARP / NS answered on the arrival vif */
#define VR_TRACE_F_TO_HOST  (1u << 6) /* passed to the kernel */
#define VR_TRACE_F_TO_TC    (1u << 7) /* XDP passed it to the device's TC entry (output vif on TC) */
struct vr_trace_rec {
	__u32 flags;        /* VR_TRACE_F_* */
	__u32 reason;       /* enum vr_drop_reason, with VR_TRACE_F_DROP */
	__u32 in_vif;       /* the arrival vif's index */
	__u32 nh_id;
	__u32 oif_vif;
	__u32 oif_ifindex;
	struct vr_vif_stats scratch; /* where a trace run counts: not the real counters */
};

/* vr_meta: ARRAY of one entry, written once by the daemon that loads */
struct vr_meta {
	__u32 magic;
	__u32 layout_version;
	__u64 loaded_at_ns; /* CLOCK_REALTIME of the load, for uptime of the datapath */
};

/* Drop reasons: one numbered list, mirrored by proto DropReason and the
 * metric label in src/maps/drop-reasons.ts. Append only. */
enum vr_drop_reason {
	VR_DROP_UNSPEC = 0,
	VR_DROP_INVALID_PACKET,      /* truncated or malformed headers */
	VR_DROP_INVALID_INTERFACE,   /* arrived on an ifindex that is not a vif */
	VR_DROP_INTERFACE_DOWN,      /* arrived on a disabled vif */
	VR_DROP_INTERFACE_TX_DOWN,   /* next hop's output vif is disabled */
	VR_DROP_NO_ROUTE,
	VR_DROP_INVALID_NEXTHOP,     /* route points at a missing next hop */
	VR_DROP_DISCARD,             /* DISCARD next hop */
	VR_DROP_TTL_EXCEEDED,
	VR_DROP_MTU_EXCEEDED,
	VR_DROP_INVALID_PROTOCOL,    /* not ARP / IPv4 / IPv6 on a virtual vif */
	VR_DROP_ARP_NOT_PROXIED,
	VR_DROP_ND_NOT_PROXIED,
	VR_DROP_MULTICAST,           /* multicast/broadcast not handled yet */
	VR_DROP_UNSUPPORTED_NEXTHOP, /* a next-hop kind this datapath does not run yet */
	VR_DROP_MAX,
};

#endif /* VR_KERN_USER_H */
