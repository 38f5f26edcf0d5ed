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
#define VR_LAYOUT_VERSION 5
#else
/* Older layouts are built from this same source for the upgrade tests
 * (bpf/Makefile: build/vr_xdp_v1.o ... _v4.o); only the structs, maps and
 * lookups that changed are guarded (#if VR_LAYOUT_VERSION >= N). */
#define VR_LAYOUT_VERSION VR_LAYOUT_VERSION_OVERRIDE
#endif

/* Default table sizes; the daemon overrides them from its config at load. */
#define VR_DEF_MAX_VIFS      4096
#define VR_DEF_MAX_NEXTHOPS  65536
#define VR_DEF_MAX_ROUTES    262144
#define VR_DEF_MAX_FLOWS     524288  /* the vRouter's default flow table */
#define VR_DEF_HOLD_PER_FLOW 3       /* packets held per flow miss, as the vRouter */
#define VR_DEF_MAX_LABELS    16384   /* vr_mpls entries (the vRouter's default is 5120) */
#define VR_DEF_MAX_VNIS      16384   /* vr_vxlan entries */
#define VR_DEF_MAX_COMP      262144  /* vr_comp slots: 2048 composites of VR_COMP_BLOCK slots */
#define VR_DEF_MAX_BRIDGE    65536   /* vr_bridge entries (MACs over all VRFs) */
/* ring buffers (bytes, a power of two of pages) */
#define VR_MISS_RING_SIZE    (8u << 20)
#define VR_TRAP_RING_SIZE    (4u << 20)
/* the most of one frame a miss or trap record carries: a jumbo frame and then some */
#define VR_CAP_MAX           9216

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
#define VR_VIF_F_POLICY   (1u << 1) /* flow lookup on input: a packet without a flow is held
				      * and reported to the agent (flow miss) */
#define VR_VIF_F_PEER     (1u << 2) /* a veth/netkit whose peer is in another netns:
				      * the TC hook delivers to it with bpf_redirect_peer */
#define VR_VIF_F_SKB      (1u << 3) /* the vif runs on the TC hook: what goes to it must be
				      * an skb (its pod may not take XDP frames); the XDP
				      * entry hands such packets to its own device's TC
				      * entry (every XDP vif has one too) */
#define VR_VIF_F_LINK_DOWN (1u << 4) /* the kernel interface is operationally down (rtnetlink,
				      * set by the daemon): a redirect to it would be lost
				      * uncounted, so what goes to it is dropped as
				      * VR_DROP_INTERFACE_LINK_DOWN */

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
	VR_NH_TUNNEL    = 3, /* layout v5: outer headers to a remote host (enum vr_tun_type) */
	VR_NH_DISCARD   = 5,
	VR_NH_COMPOSITE = 6, /* layout v5: ECMP or flood over member next hops (vr_comp) */
	VR_NH_VRF       = 7, /* layout v5: route the packet again in vr_nh.vrf (the vRouter's
			      * VRF_TRANSLATE): what a VNI or label leads to for L3 overlays */
};

/* vr_nh.flags (layout v5) */
#define VR_NH_F_L2 (1u << 0) /* L2: ENCAP sends the frame as it is (no MAC rewrite, no TTL
			      * decrement: a bridge port); VRF bridges the frame a VNI
			      * leads to by its inner MAC in vr_nh.vrf (vr_bridge) instead
			      * of routing it; a FLOOD composite's members are L2 */

/* tunnel kinds of a VR_NH_TUNNEL next hop (mirrors proto TunnelType) */
enum vr_tun_type {
	VR_TUN_NONE     = 0,
	VR_TUN_MPLSOUDP = 1, /* outer IPv4 + UDP (dport 6635) + one MPLS label */
	VR_TUN_MPLSOGRE = 2, /* outer IPv4 + GRE (proto 0x8847) + one MPLS label */
	VR_TUN_VXLAN    = 3, /* outer IPv4 + UDP (dport 4789) + VXLAN + the inner Ethernet frame */
};

/* composite kinds (layout v5) */
enum vr_comp_kind {
	VR_COMP_NONE  = 0,
	VR_COMP_ECMP  = 1, /* one member, chosen by the flow hash (a bucket table) */
	VR_COMP_FLOOD = 2, /* every member (L2 broadcast / unknown unicast / multicast) */
};

/* vr_comp: each composite owns one block of VR_COMP_BLOCK slots, at
 * vr_nh.comp_first (a multiple of the block), that never moves while it
 * lives:
 *   +0 .. +comp_count-1   the member next-hop ids (ECMP and FLOOD; the
 *                         daemon's list, and what a flood walks)
 *   +VR_COMP_MEMBERS ..   ECMP only: VR_COMP_BUCKETS buckets, each a
 *                         member id; a flow's bucket is its hash modulo
 *                         VR_COMP_BUCKETS. The daemon fills them round-robin
 *                         and, when a member goes, gives only that member's
 *                         buckets to the others (a flow stays on its member
 *                         while that member stays); a new member takes an
 *                         equal share from the fullest ones.
 * Members are ENCAP or TUNNEL next hops, never composites. */
#define VR_COMP_BLOCK       128
#define VR_COMP_MEMBERS     64   /* most members of one composite (a flood's bounded loop) */
#define VR_COMP_BUCKETS     64


#define VR_UDP_PORT_MPLS   6635
#define VR_UDP_PORT_VXLAN  4789
#define VR_ETH_P_MPLS_UC   0x8847
#define VR_TUN_SPORT_MIN   49152     /* UDP source ports come from the flow hash: 49152..65535 */
#define VR_LABEL_NONE      0xffffffffu /* no label from the route: the next hop's own */

/* vr_nexthops: ARRAY indexed by next-hop id; type VR_NH_UNSPEC = empty slot.
 * An ENCAP or TUNNEL next hop carries a copy of its output vif's state and
 * MTU, so that forwarding needs no second vif lookup; the daemon rewrites
 * the next hops of a vif whenever that vif changes. Layout v5 grew it from
 * 32 to 80 bytes (the first 30 are as before; src/maps/migrate-v4.ts). */
#if VR_LAYOUT_VERSION >= 5
struct vr_nh {
	__u8  type;         /* enum vr_nh_type */
	__u8  oif_state;    /* ENCAP, TUNNEL: VR_VIF_F_ENABLED | _PEER | _SKB | _LINK_DOWN of the output vif */
	__u16 flags;        /* VR_NH_F_* (layout v5) */
	__u32 oif_ifindex;  /* ENCAP: kernel ifindex to redirect to; TUNNEL: the fabric's
			     * (the underlay FIB lookup is made from it) */
	__u32 oif_vif;      /* ENCAP, TUNNEL: vif index of the output vif (counters) */
	__u8  dmac[6];      /* ENCAP: rewrite destination MAC; TUNNEL VXLAN: the inner one */
	__u8  smac[6];      /* ENCAP: rewrite source MAC; TUNNEL VXLAN: the inner one */
	__u32 vrf;          /* VRF: the VRF to route in; other kinds: the agent's (informational) */
	__u16 oif_mtu;      /* ENCAP: the output vif's MTU (0 = unchecked); TUNNEL: the
			     * fabric vif's (the FIB's route MTU decides) */
	__u8  tun_type;     /* TUNNEL: enum vr_tun_type */
	__u8  tun_family;   /* TUNNEL: underlay family, 4 (6 reserved) */
	__u8  tun_sip[16];  /* TUNNEL: outer source (IPv4 in the first 4 bytes, network order) */
	__u8  tun_dip[16];  /* TUNNEL: outer destination (the remote host) */
	__u32 label;        /* TUNNEL: default MPLS label (20 bits) / VNI (24 bits); a route
			     * with VR_RT_F_LABEL overrides it */
	__u32 comp_first;   /* COMPOSITE: the first slot of its block in vr_comp */
	__u16 comp_count;   /* COMPOSITE: members from comp_first (0: packets drop, composite_empty) */
	__u8  comp_kind;    /* COMPOSITE: enum vr_comp_kind */
	__u8  pad;
	__u32 pad2;
};
#else /* layouts 1..4 */
struct vr_nh {
	__u8  type;
	__u8  oif_state;
	__u16 flags;
	__u32 oif_ifindex;
	__u32 oif_vif;
	__u8  dmac[6];
	__u8  smac[6];
	__u32 vrf;
	__u16 oif_mtu;
	__u8  pad[2];
};
#endif

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

/* vr_host4 / vr_host6 keys (layout v4): host routes (/32, /128) live in
 * exact-match hashes looked up before the tries, so that their cost does
 * not grow with the table. The key is the LPM key without its prefixlen
 * (same bytes, vrf big-endian): the daemon turns one into the other by
 * dropping or prepending 4 bytes. */
struct vr_host4_key {
	__be32 vrf;
	__u8  addr[4];
};

struct vr_host6_key {
	__be32 vrf;
	__u8  addr[16];
};

#define VR_RT_F_PROXY_ARP   (1u << 0) /* answer ARP / NS for addresses in this route */
#define VR_RT_F_LABEL       (1u << 1) /* layout v5: vr_rt.label is valid and overrides a tunnel
				       * next hop's label (the vRouter's VR_RT_LABEL_VALID_FLAG) */

/* vr_rt4 / vr_rt6 (and vr_host4 / vr_host6) value. Layout v2 added plen: an LPM lookup returns only
 * the value, so the value names its own prefix; the daemon then needs no
 * copy of the table to tell an exact route from a covering one. */
#if VR_LAYOUT_VERSION >= 2
struct vr_rt {
	__u32 nh_id;
	__u16 flags;        /* VR_RT_F_* */
	__u8  plen;         /* the route's own prefix length (without the VRF bits) */
	__u8  pad;
	__u32 label;        /* MPLS label / VNI for a tunnel next hop, with VR_RT_F_LABEL */
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
#define VR_TRACE_F_FLOW     (1u << 8) /* met a flow entry: flow_action, flow_flags */
#define VR_TRACE_F_MISS     (1u << 9) /* no flow on a policy vif: would be held and reported */
#define VR_TRACE_F_TRAP     (1u << 10) /* a packet of interest: would go to the agent (trap_reason) */
struct vr_trace_rec {
	__u32 flags;        /* VR_TRACE_F_* */
	__u32 reason;       /* enum vr_drop_reason, with VR_TRACE_F_DROP */
	__u32 in_vif;       /* the arrival vif's index */
	__u32 nh_id;
	__u32 oif_vif;
	__u32 oif_ifindex;
	__u8  flow_action;  /* enum vr_flow_action, with VR_TRACE_F_FLOW */
	__u8  flow_flags;   /* VR_FLOW_F_*, with VR_TRACE_F_FLOW */
	__u8  trap_reason;  /* enum vr_trap_reason, with VR_TRACE_F_TRAP */
	__u8  pad;
	__u32 pad2;
	struct vr_vif_stats scratch; /* where a trace run counts: not the real counters */
};

/* ---- flows (layout v3) ------------------------------------------------ */

/* vr_flows: HASH keyed by VRF + 5-tuple. IPv4 addresses sit in the first 4
 * bytes of src/dst, the rest zero. ICMP / ICMPv6 echo: sport = the echo id,
 * dport = 0, so a request and its reply make a forward/reverse pair; other
 * ICMP, and protocols without ports (and IPv4 fragments after the first),
 * have ports 0. */
struct vr_flow_key {
	__u32 vrf;
	__u8  family;       /* 4 or 6 */
	__u8  proto;        /* IPPROTO_* */
	__be16 sport;
	__be16 dport;
	__u8  pad[2];
	__u8  src[16];
	__u8  dst[16];
};

enum vr_flow_action {
	VR_FLOW_HOLD    = 0, /* made by the datapath on a miss: packets are held for the agent */
	VR_FLOW_FORWARD = 1, /* forward by route */
	VR_FLOW_DROP    = 2, /* drop, counted as VR_DROP_FLOW_DROP */
	VR_FLOW_NAT     = 3, /* rewrite (VR_FLOW_F_SNAT / _DNAT), then forward by route */
};

#define VR_FLOW_F_SNAT     (1u << 0) /* NAT: source address (and port, if nat_sport) := nat_src */
#define VR_FLOW_F_DNAT     (1u << 1) /* NAT: destination address (and port, if nat_dport) := nat_dst */
#define VR_FLOW_F_REVERSE  (1u << 2) /* this entry is the reverse half of a pair the agent set */

/* TCP flags seen (tcp_flags), as in the TCP header */
#define VR_TCP_FIN 0x01
#define VR_TCP_SYN 0x02
#define VR_TCP_RST 0x04
#define VR_TCP_ACK 0x10

/* vr_flows value. The reverse entry's key is the forward key with its
 * addresses and ports swapped after NAT; the daemon writes and removes both
 * halves together. Counters are updated with atomic adds (one entry is
 * shared by every CPU). */
struct vr_flow {
	__u8  action;       /* enum vr_flow_action */
	__u8  flags;        /* VR_FLOW_F_* */
	__u16 pad;
	__u32 tcp_flags;    /* VR_TCP_* seen in this direction (atomic or) */
	__u32 hold_count;   /* HOLD: packets held so far (atomic add; bounded by vr_config.hold_per_flow) */
	__u32 pad2;
	__u64 hold_id;      /* HOLD: the handle reported with the miss; kept once answered */
	__u64 created_ns;   /* CLOCK_MONOTONIC */
	__u64 last_ns;      /* last packet (CLOCK_MONOTONIC, coarse): aging */
	__u64 packets;
	__u64 bytes;
	__u8  nat_src[16];  /* SNAT: the new source (IPv4 in the first 4 bytes) */
	__u8  nat_dst[16];  /* DNAT: the new destination */
	__be16 nat_sport;   /* 0 = keep (ICMP echo: the new id) */
	__be16 nat_dport;   /* 0 = keep */
	__u32 pad3;
};

/* vr_config: ARRAY of one entry, written by the daemon at start and on reload */
#define VR_TRAP_ARP    (1u << 0) /* ARP requests go to the agent instead of the proxy */
#define VR_TRAP_DHCP   (1u << 1) /* UDP to port 67 (DHCPv4) and 547 (DHCPv6) */
#define VR_TRAP_DNS    (1u << 2) /* UDP / TCP to port 53 */
#define VR_TRAP_ND     (1u << 3) /* IPv6 neighbour solicitations, instead of the proxy */
#define VR_TRAP_RS     (1u << 4) /* IPv6 router solicitations */
#define VR_TRAP_OWN    (1u << 5) /* packets to the arrival vif's own address (vr_vif.ip4 / ip6) */
struct vr_config {
	__u32 hold_per_flow; /* packets held per flow miss; 0 = the default (VR_DEF_HOLD_PER_FLOW) */
	__u32 trap_mask;     /* VR_TRAP_*: packets of interest that go to the agent */
	__u32 pad[2];
};

/* vr_fctr: PERCPU_ARRAY of __u64 indexed by enum vr_flow_counter */
enum vr_flow_counter {
	VR_FC_MISSES = 0,   /* flow misses reported (HOLD entries made) */
	VR_FC_HELD,         /* packets held (consumed into the miss ring; not drops) */
	VR_FC_HITS,         /* packets that met a FORWARD / NAT flow */
	VR_FC_TRAPPED,      /* packets of interest sent to the agent */
	VR_FC_MAX,
};

/* ring buffer records: vr_miss_rb carries VR_EV_MISS, vr_trap_rb VR_EV_TRAP.
 * The frame's first cap_len bytes follow the header; pkt_len is its whole
 * length (cap_len < pkt_len: truncated, not re-injectable). */
enum vr_event_type {
	VR_EV_MISS = 1,
	VR_EV_TRAP = 2,
};

#define VR_MISS_F_NEW   (1u << 0) /* the miss that made the HOLD entry (the others are more held packets) */
#define VR_MISS_F_HELD  (1u << 1) /* the packet was held (consumed): the daemon re-injects it */
struct vr_miss {
	__u16 type;         /* VR_EV_MISS */
	__u8  hook;         /* arrival hook: 0 XDP, 1 TC (a TC frame may carry a partial L4 checksum) */
	__u8  flags;        /* VR_MISS_F_* */
	__u32 ifindex;      /* arrival interface */
	__u32 vif_idx;
	__u32 pkt_len;
	__u64 hold_id;
	__u64 ts_ns;        /* bpf_ktime_get_ns at arrival */
	struct vr_flow_key key;
	__u16 cap_len;
	__u8  pad[2];
	/* __u8 data[cap_len] */
};

enum vr_trap_reason {
	VR_TRAP_R_UNSPEC = 0,
	VR_TRAP_R_ARP,
	VR_TRAP_R_DHCP,
	VR_TRAP_R_DNS,
	VR_TRAP_R_ND,
	VR_TRAP_R_RS,
	VR_TRAP_R_OWN,
};

struct vr_trap {
	__u16 type;         /* VR_EV_TRAP */
	__u8  hook;
	__u8  reason;       /* enum vr_trap_reason */
	__u32 ifindex;
	__u32 vif_idx;
	__u32 vrf;
	__u32 pkt_len;
	__u16 cap_len;
	__u8  pad[2];
	__u64 ts_ns;
	/* __u8 data[cap_len] */
};

/* vr_scratch: PERCPU_ARRAY of one; where a record (header, then the frame's
 * bytes) is built before it is copied into its ring: a ring reservation
 * must be of a constant size, bpf_ringbuf_output takes any bounded one */
#define VR_SCRATCH_CAP 16384 /* a power of two >= VR_CAP_MAX: the verifier's bound (lib/capture.h) */
#define VR_SCRATCH_REC (sizeof(struct vr_miss) + VR_SCRATCH_CAP)
struct vr_scratch {
	__u64 seq;          /* this CPU's hold-id sequence: hold_id = (cpu + 1) << 48 | seq */
	union {             /* the record: a header, then the frame (the members name the headers in BTF) */
		__u8  rec[VR_SCRATCH_REC];
		struct vr_miss miss;
		struct vr_trap trap;
	};
};

/* re-injection in batches (bpf/vr_reinject.c; its own maps, not pinned) */
#define VR_RJ_SLOTS 256      /* frames per run */
#define VR_RJ_MAX   3408     /* the longest live frame (a page less headroom and tailroom) */
#define VR_RJ_BUF   4096     /* a power of two >= VR_RJ_MAX: the verifier's bound */
struct vr_rj_frame {
	__u32 len;
	__u8  data[VR_RJ_BUF];
};

struct vr_rj_ctl {
	__u32 count;        /* frames in vr_rj_frames for this run */
	__u32 next;         /* the next one to send (the program counts up) */
	__u32 sent;         /* frames sent through the datapath */
	__u32 pad;
};

/* ---- tunnels (layout v5) -------------------------------------------- */

/* vr_mpls: HASH, key __u32 label (20 bits) -> value __u32 next-hop id.
 * vr_vxlan: HASH, key __u32 VNI (24 bits) -> value __u32 next-hop id.
 * vr_comp: ARRAY, key __u32 slot -> value __u32 next-hop id (composite
 * members and ECMP buckets, see VR_COMP_BLOCK). */

/* vr_bridge: HASH keyed by VRF + MAC -> struct vr_bridge (layout v5): the
 * bridge (MAC) table, EVPN style. ff:ff:ff:ff:ff:ff is the VRF's flood
 * entry: broadcast, multicast and unknown unicast go where it says (a FLOOD
 * composite next hop); a VRF without it is not bridged (lib/bridge.h). */
struct vr_bridge_key {
	__u32 vrf;
	__u8  mac[6];
	__u8  pad[2];
};

#define VR_BE_F_LABEL (1u << 0) /* vr_bridge.label is valid and overrides a tunnel next hop's VNI */
struct vr_bridge {
	__u32 nh_id;
	__u16 flags;        /* VR_BE_F_* */
	__u16 pad;
	__u32 label;        /* the VNI a tunnel next hop sends with, with VR_BE_F_LABEL */
};

/* vr_tctr: PERCPU_ARRAY of __u64 indexed by enum vr_tun_counter */
enum vr_tun_counter {
	VR_TC_ENCAP = 0,     /* packets sent into a tunnel */
	VR_TC_DECAP,         /* tunnelled packets taken out of their outer headers */
	VR_TC_NEIGH,         /* encapsulated packets handed to the kernel's neighbour
			      * resolution (bpf_redirect_neigh: queued until ARP answers) */
	VR_TC_ICMP_TOO_BIG,  /* ICMP fragmentation needed / packet too big sent */
	VR_TC_MAX,
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
	/* layout v3: flows */
	VR_DROP_FLOW_DROP,           /* the packet's flow says DROP */
	VR_DROP_FLOW_TABLE_FULL,     /* a miss found the flow table full: not held */
	VR_DROP_FLOW_HOLD_LIMIT,     /* more packets than vr_config.hold_per_flow for one miss */
	VR_DROP_FLOW_HOLD_RING_FULL, /* the miss ring was full: not held (the HOLD entry is made) */
	VR_DROP_FLOW_HOLD_TOO_BIG,   /* a frame longer than VR_CAP_MAX: reported, not held */
	VR_DROP_FLOW_HOLD_EXPIRED,   /* held packets the agent did not answer in time (daemon) */
	VR_DROP_FLOW_HOLD_QUEUE_FULL,/* the daemon's hold queue was full (daemon) */
	VR_DROP_TRAP_RING_FULL,      /* a packet of interest found the trap ring full */
	VR_DROP_NAT_FAILED,          /* a NAT rewrite the packet could not take */
	/* layout v5: tunnels */
	VR_DROP_TUNNEL_NO_ROUTE,     /* the kernel's FIB has no usable route to the tunnel's remote
				      * end from the fabric interface */
	VR_DROP_TUNNEL_ENCAP_FAILED, /* the packet could not take the outer headers */
	VR_DROP_FRAG_NEEDED,         /* too big for the tunnel's path with DF (or IPv6): answered with
				      * ICMP fragmentation needed / packet too big */
	VR_DROP_INVALID_LABEL,       /* a tunnelled packet's MPLS label is not in vr_mpls (or a stack) */
	VR_DROP_TUNNEL_DECAP_FAILED, /* the outer headers could not be stripped */
	VR_DROP_INVALID_TUNNEL,      /* a malformed tunnel header (GRE flags, VXLAN flags) */
	VR_DROP_FABRIC_FORWARDING_OFF, /* the fabric interface has IPv4 forwarding off: the kernel
				      * answers no underlay lookup (bpf_fib_lookup) for it */
	/* layout v5: bridging */
	VR_DROP_L2_NO_NEIGH,         /* a bridged non-IP frame (ARP) for a tunnel whose underlay
				      * neighbour is unresolved: bpf_redirect_neigh takes IP only */
	/* layout v5: composites */
	VR_DROP_COMPOSITE_EMPTY,     /* a composite next hop without members */
	VR_DROP_COMPOSITE_NESTED,    /* a composite's member is a composite (the daemon refuses it) */
	VR_DROP_FLOOD_NO_NEIGH,      /* a flood copy to a tunnel whose underlay neighbour is not
				      * resolved (a copy cannot wait for ARP) */
	VR_DROP_FLOOD_COPY_FAILED,   /* a flood copy could not be made (a GSO packet or a non-IP
				      * frame to an MPLS tunnel, the encapsulation failed) */
	VR_DROP_INTERFACE_LINK_DOWN, /* next hop's output vif is operationally down (VR_VIF_F_LINK_DOWN) */
	VR_DROP_MAX,
};

#endif /* VR_KERN_USER_H */
