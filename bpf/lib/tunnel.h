/* tunnel.h: the TUNNEL next hop (layout v5): a routed packet leaves for a
 * remote host inside outer headers, on both hooks.
 *
 *   MPLSoUDP  outer Ethernet + IPv4 + UDP (dport 6635) + MPLS label + inner IP
 *   MPLSoGRE  outer Ethernet + IPv4 + GRE (0x8847) + MPLS label + inner IP
 *   VXLAN     outer Ethernet + IPv4 + UDP (dport 4789) + VXLAN + inner Ethernet + inner IP
 *
 * The outer MACs and the egress device come from bpf_fib_lookup against the
 * kernel's own routes and neighbours (an output lookup from the fabric
 * interface the next hop names), before the packet is touched. The kernel
 * answers only for a device with IPv4 forwarding on (bpf_fib_lookup checks
 * it even for an output lookup): net.ipv4.conf.<fabric>.forwarding must be
 * 1 (the manager refuses a tunnel on a fabric without it; if it is turned
 * off later, packets drop as fabric_forwarding_off).
 *   - no usable route: dropped (tunnel_no_route);
 *   - too big for the route's MTU once encapsulated: ICMP fragmentation
 *     needed / packet too big back to the sender with the MTU left for the
 *     inner packet (lib/icmp_err.h), or, IPv4 without DF, dropped
 *     (mtu_exceeded: the datapath does not fragment);
 *   - neighbour not resolved: the kernel resolves it and sends the packet.
 *     TC encapsulates and hands it over with bpf_redirect_neigh (the
 *     kernel's neighbour code queues it until ARP answers, then sends it:
 *     nothing is lost and the underlay never sees the inner packet); XDP
 *     cannot, so it hands the untouched packet to its device's TC entry,
 *     which does the same (counted by TC, as VR_TC_NEIGH). Passing the
 *     original packet up to the kernel's forwarding instead would send pod
 *     traffic into the underlay unencapsulated (or drop it: forwarding is
 *     off on a vRouter host), and passing the encapsulated one up would
 *     depend on the host forwarding it; neither is what a router wants.
 *
 * The UDP source port is a hash of the inner 5-tuple (entropy for the
 * underlay's ECMP, stable per flow on both hooks), 49152..65535. The outer
 * IPv4 header: DF (the datapath answers oversize packets itself), TTL 64,
 * id 0, no options; the UDP checksum is 0 (RFC 7348 / 7510 allow it over
 * IPv4). The MPLS label carries bottom-of-stack and the inner TTL (after its
 * decrement).
 *
 * TC keeps a GSO skb GSO: bpf_skb_adjust_room with the encap flags (L3
 * IPv4, L4 UDP or GRE, the inner L2 length for VXLAN) sets the inner
 * offsets and the tunnel GSO type, so a 64 KB TSO packet crosses the tunnel
 * and is segmented once, on the way out. Its segments must fit the path:
 * when they do with the encapsulation on top, gso_size is kept
 * (BPF_F_ADJ_ROOM_FIXED_GSO); otherwise adjust_room lowers it by the
 * encapsulation (the inner segments shrink, the outer ones keep the inner
 * size); a segment that does not fit even so is answered as too big. */
#ifndef VR_TUNNEL_H
#define VR_TUNNEL_H

#include <linux/in.h>
#include "ctx.h"
#include "hdr.h"
#include "l4.h"
#include "counters.h"
#include "flow.h"
#include "icmp_err.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* VR_XDP_TO_TC: a next hop's answer on XDP for a packet that its device's
 * TC entry must forward (the entry returns XDP_PASS without the "done" mark) */
#define VR_XDP_TO_TC 0x100

/* the bytes a tunnel inserts after the outer Ethernet header */
#define VR_TUN_MPLSOUDP_LEN (20 + 8 + 4)
#define VR_TUN_MPLSOGRE_LEN (20 + 4 + 4)
#define VR_TUN_VXLAN_LEN    (20 + 8 + 8 + ETH_HLEN)

static __always_inline __u32 tun_overhead(__u8 type)
{
	switch (type) {
	case VR_TUN_MPLSOUDP:
		return VR_TUN_MPLSOUDP_LEN;
	case VR_TUN_MPLSOGRE:
		return VR_TUN_MPLSOGRE_LEN;
	case VR_TUN_VXLAN:
		return VR_TUN_VXLAN_LEN;
	}
	return 0;
}

/* xdp_to_tc: XDP hands the packet up untouched; TC counts its receipt */
static __always_inline int xdp_to_tc(struct vr_vif_stats *st, __u32 pkt_len)
{
	if (st) {
		st->rx_packets--;
		st->rx_bytes -= pkt_len;
	}
	trace_flag(VR_TRACE_F_TO_TC);
	return VR_XDP_TO_TC;
}

static __always_inline __u32 fnv_mix(__u32 h, __u32 w)
{
	return (h ^ w) * 0x01000193;
}

/* flow_hash: the hash of a packet's 5-tuple (before NAT), stable per flow on
 * both hooks: the tunnel's UDP source port and an ECMP composite's bucket
 * (lib/composite.h) come from it. test/helpers/tunnel-frames.ts computes
 * the same: FNV-1a over 32-bit little-endian words of the source, the
 * destination, the two ports (as they sit in the header) and the protocol,
 * folded. 0 when the IP header cannot be read. */
static __always_inline __u32 flow_hash(void *ctx, const enum vr_hook hook, int is_v6, const struct vr_l4 *l4)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	__u32 h = 0x811c9dc5;

	if (is_v6) {
		struct ipv6hdr *ip6 = data + ETH_HLEN;
		const __u32 *a;

		if ((void *)(ip6 + 1) > data_end)
			return 0;
		a = (const __u32 *)&ip6->saddr;
		h = fnv_mix(h, a[0]);
		h = fnv_mix(h, a[1]);
		h = fnv_mix(h, a[2]);
		h = fnv_mix(h, a[3]);
		h = fnv_mix(h, a[4]);
		h = fnv_mix(h, a[5]);
		h = fnv_mix(h, a[6]);
		h = fnv_mix(h, a[7]);
	} else {
		struct iphdr *iph = data + ETH_HLEN;

		if ((void *)(iph + 1) > data_end)
			return 0;
		h = fnv_mix(h, iph->saddr);
		h = fnv_mix(h, iph->daddr);
	}
	h = fnv_mix(h, (__u32)l4->sport | ((__u32)l4->dport << 16));
	h = fnv_mix(h, l4->proto);
	return h ^ (h >> 16);
}

/* tun_sport: the outer UDP source port from the flow hash, 49152..65535 */
static __always_inline __be16 tun_sport(void *ctx, const enum vr_hook hook, int is_v6, const struct vr_l4 *l4)
{
	return bpf_htons(VR_TUN_SPORT_MIN | (flow_hash(ctx, hook, is_v6, l4) & 0x3fff));
}

/* l2_sport: a bridged frame's outer UDP source port (VXLAN), from its MACs
 * and ethertype (and an IPv4 packet's addresses): stable per conversation;
 * lib/bridge.h and a bridged flood (lib/composite.h) */
static __always_inline __be16 l2_sport(void *ctx, const enum vr_hook hook)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	const __u32 *w = data;
	__u32 h = 0x811c9dc5;

	if ((void *)(w + 4) > data_end)
		return bpf_htons(VR_TUN_SPORT_MIN);
	h = fnv_mix(h, w[0]);
	h = fnv_mix(h, w[1]);
	h = fnv_mix(h, w[2]);
	h = fnv_mix(h, w[3] & bpf_htonl(0xffff0000)); /* the ethertype */
	if (((struct ethhdr *)data)->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = data + ETH_HLEN;

		if ((void *)(iph + 1) <= data_end) {
			h = fnv_mix(h, iph->saddr);
			h = fnv_mix(h, iph->daddr);
		}
	}
	h ^= h >> 16;
	return bpf_htons(VR_TUN_SPORT_MIN | (h & 0x3fff));
}

/* tun_hdr: the bytes inserted after the outer Ethernet header, built on the stack */
struct vr_tun_hdr {
	struct iphdr ip;
	union {
		struct {
			__be16 sport;
			__be16 dport;
			__be16 len;
			__be16 check;
			union {
				__be32 mpls;                    /* MPLSoUDP */
				struct {                        /* VXLAN */
					__be32 flags;
					__be32 vni;
					__u8   dmac[ETH_ALEN];
					__u8   smac[ETH_ALEN];
					__be16 proto;
				} __attribute__((packed)) vx;
			};

		} __attribute__((packed)) udp;
		struct {
			__be16 flags;
			__be16 proto;
			__be32 mpls;
		} gre;
	};
	__u8 pad[2]; /* to a multiple of 4 */
} __attribute__((packed, aligned(4)));
_Static_assert(sizeof(struct vr_tun_hdr) <= sizeof(((struct vr_twork *)0)->hdr), "vr_twork.hdr holds a vr_tun_hdr");

static __always_inline void tun_hdr_build(struct vr_tun_hdr *h, const struct vr_nh *nh, __u32 n, __u32 l3_len,
					  __u32 label, __u8 inner_ttl, __be16 sport, __be16 inner_proto)
{
	__be32 mpls = bpf_htonl(((label & 0xfffff) << 12) | (1u << 8) | inner_ttl);

	h->ip.version = 4;
	h->ip.ihl = 5;
	h->ip.tot_len = bpf_htons(n + l3_len);
	h->ip.frag_off = bpf_htons(0x4000); /* DF */
	h->ip.ttl = 64;
	h->ip.protocol = nh->tun_type == VR_TUN_MPLSOGRE ? IPPROTO_GRE : IPPROTO_UDP;
	__builtin_memcpy(&h->ip.saddr, nh->tun_sip, 4);
	__builtin_memcpy(&h->ip.daddr, nh->tun_dip, 4);
	h->ip.check = csum_fold((__u32)bpf_csum_diff(0, 0, (__be32 *)(void *)h, sizeof(h->ip), 0)); /* ip is at 0 */
	if (nh->tun_type == VR_TUN_MPLSOGRE) {
		h->gre.proto = bpf_htons(VR_ETH_P_MPLS_UC);
		h->gre.mpls = mpls;
		return;
	}
	h->udp.sport = sport;
	h->udp.len = bpf_htons(n - 20 + l3_len);
	if (nh->tun_type == VR_TUN_VXLAN) {
		h->udp.dport = bpf_htons(VR_UDP_PORT_VXLAN);
		h->udp.vx.flags = bpf_htonl(0x08000000); /* I: the VNI is valid */
		h->udp.vx.vni = bpf_htonl((label & 0xffffff) << 8);
		mac_copy(h->udp.vx.dmac, nh->dmac);
		mac_copy(h->udp.vx.smac, nh->smac);
		h->udp.vx.proto = inner_proto;
		return;
	}
	h->udp.dport = bpf_htons(VR_UDP_PORT_MPLS);
	h->udp.mpls = mpls;
}

/* tun_push: n bytes of room after the Ethernet header, filled with h; 0 or < 0.
 * n is a constant at each call site (the verifier bounds the copy by it). */
static __always_inline int tun_push(void *ctx, const enum vr_hook hook, const struct vr_tun_hdr *h, const __u32 n,
				    __u64 flags)
{
	void *data, *data_end;

	if (hook == VR_HOOK_TC) {
		if (bpf_skb_adjust_room(ctx, n, BPF_ADJ_ROOM_MAC, flags))
			return -1;
		/* the new bytes are within a CHECKSUM_COMPLETE sum: the store keeps it right */
		return bpf_skb_store_bytes(ctx, ETH_HLEN, h, n, BPF_F_RECOMPUTE_CSUM) ? -1 : 0;
	}
	if (bpf_xdp_adjust_head(ctx, -(int)n))
		return -1;
	data = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	if (data + ETH_HLEN + n > data_end)
		return -1;
	__builtin_memcpy(data + ETH_HLEN, h, n);
	return 0;
}

#ifndef BPF_F_ADJ_ROOM_ENCAP_L2_ETH
#define BPF_F_ADJ_ROOM_ENCAP_L2_ETH (1ULL << 6)
#endif

/* tunnel_out: runs a TUNNEL next hop. label: the route's (VR_LABEL_NONE: the
 * next hop's own). f: the packet's flow, counted (and NAT-rewritten) once it
 * is known to leave. */
static __always_inline int tunnel_out(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				      const struct vr_nh *nh, struct vr_vif_stats *st, __u32 l3_len, __u32 pkt_len,
				      int is_v6, struct vr_flow *f, struct vr_l4 *l4, __u32 label)
{
	struct vr_twork *w = twork();
	struct bpf_fib_lookup *fibp;
	struct vr_tun_hdr *hp;
	__u32 n = tun_overhead(nh->tun_type);
	__u32 seg = l3_len, gso = 0;
	__u64 flags = 0;
	int neigh = 0, rc, df = 1;
	__be16 sport = 0, inner_proto = bpf_htons(is_v6 ? ETH_P_IPV6 : ETH_P_IP);
	__u8 ttl;
	void *data, *data_end;
	struct ethhdr *eth;

	if (!n || nh->tun_family != 4)
		return count_drop(hook, st, VR_DROP_INVALID_NEXTHOP);
	if (!w)
		return count_drop(hook, st, VR_DROP_TUNNEL_ENCAP_FAILED);
	fibp = &w->fib;
	hp = (struct vr_tun_hdr *)w->hdr;
	__builtin_memset(fibp, 0, sizeof(*fibp));
	__builtin_memset(hp, 0, sizeof(*hp));
	if (!(nh->oif_state & VR_VIF_F_ENABLED))
		return count_drop(hook, st, VR_DROP_INTERFACE_TX_DOWN);
	if (nh->oif_state & VR_VIF_F_LINK_DOWN)
		return count_drop(hook, st, VR_DROP_INTERFACE_LINK_DOWN);
	if (label == VR_LABEL_NONE)
		label = nh->label;
	if (hook == VR_HOOK_TC) {
		gso = ((struct __sk_buff *)ctx)->gso_size;
		/* a GSO skb is checked by its segments, as ctx_exceeds_mtu does */
		if (gso)
			seg = gso + 20 + 8;
	}
	if (n + l3_len > 0xffff)
		return count_drop(hook, st, VR_DROP_TUNNEL_ENCAP_FAILED);

	fibp->family = AF_INET;
	fibp->l4_protocol = nh->tun_type == VR_TUN_MPLSOGRE ? IPPROTO_GRE : IPPROTO_UDP;
	fibp->tot_len = seg + n;
	fibp->ifindex = nh->oif_ifindex;
	__builtin_memcpy(&fibp->ipv4_src, nh->tun_sip, 4);
	__builtin_memcpy(&fibp->ipv4_dst, nh->tun_dip, 4);
	rc = bpf_fib_lookup(ctx, fibp, sizeof(*fibp), BPF_FIB_LOOKUP_OUTPUT);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		__u32 mtu = fibp->mtu_result;

		/* a GSO skb whose segments fit without the encapsulation: its
		 * gso_size goes down by it (outer segments = the inner size) */
		if (gso && seg <= mtu) {
			__builtin_memset(fibp, 0, sizeof(*fibp));
			fibp->family = AF_INET;
			fibp->l4_protocol = nh->tun_type == VR_TUN_MPLSOGRE ? IPPROTO_GRE : IPPROTO_UDP;
			fibp->tot_len = seg;
			fibp->ifindex = nh->oif_ifindex;
			__builtin_memcpy(&fibp->ipv4_src, nh->tun_sip, 4);
			__builtin_memcpy(&fibp->ipv4_dst, nh->tun_dip, 4);
			rc = bpf_fib_lookup(ctx, fibp, sizeof(*fibp), BPF_FIB_LOOKUP_OUTPUT);
		} else {
			data = ctx_data(ctx, hook);
			data_end = ctx_data_end(ctx, hook);
			if (!is_v6) {
				struct iphdr *iph = data + ETH_HLEN;

				if ((void *)(iph + 1) > data_end)
					return count_drop(hook, st, VR_DROP_INVALID_PACKET);
				df = (iph->frag_off & bpf_htons(0x4000)) != 0;
			}
			if (!df)
				return count_drop(hook, st, VR_DROP_MTU_EXCEEDED);
			mtu = mtu > n ? mtu - n : 0;
			if (hook == VR_HOOK_TC)
				return vr_too_big_tc(ctx, l3_len, mtu, is_v6);
			return vr_too_big_xdp(ctx, l3_len, mtu, is_v6);
		}
	} else if (gso) {
		flags |= BPF_F_ADJ_ROOM_FIXED_GSO;
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		/* XDP cannot wait for ARP: TC can (bpf_redirect_neigh) */
		if (hook == VR_HOOK_XDP)
			return xdp_to_tc(st, pkt_len);
		neigh = 1;
	} else if (rc == BPF_FIB_LKUP_RET_FWD_DISABLED) {
		return count_drop(hook, st, VR_DROP_FABRIC_FORWARDING_OFF);
	} else if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		return count_drop(hook, st, VR_DROP_TUNNEL_NO_ROUTE);
	}

	/* the packet leaves: inner TTL / hop limit, flow accounting (NAT), then the outer headers */
	if (!l4->parsed)
		l4_parse(ctx, hook, l4, l4->first, is_v6);
	sport = tun_sport(ctx, hook, is_v6, l4);
	if (f && flow_account(ctx, hook, f, l4, pkt_len, is_v6))
		return count_drop(hook, st, VR_DROP_NAT_FAILED);
	/* packet pointers read after this point only (a NAT may have moved them):
	 * without it clang merges a 32-bit load from before and after the NAT */
	asm volatile("" ::: "memory");
	data = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	if (is_v6) {
		struct ipv6hdr *ip6 = data + ETH_HLEN;

		if ((void *)(ip6 + 1) > data_end)
			return count_drop(hook, st, VR_DROP_INVALID_PACKET);
		if (ip6->hop_limit <= 1)
			return count_drop(hook, st, VR_DROP_TTL_EXCEEDED);
		ctx_ipv6_hop_limit_dec(ctx, hook, ip6);
		ttl = ip6->hop_limit;
	} else {
		struct iphdr *iph = data + ETH_HLEN;

		if ((void *)(iph + 1) > data_end)
			return count_drop(hook, st, VR_DROP_INVALID_PACKET);
		if (iph->ttl <= 1)
			return count_drop(hook, st, VR_DROP_TTL_EXCEEDED);
		ipv4_ttl_dec(iph);
		ttl = iph->ttl;
	}

	tun_hdr_build(hp, nh, n, l3_len, label, ttl, sport, inner_proto);
	flags |= BPF_F_ADJ_ROOM_ENCAP_L3_IPV4;
	switch (nh->tun_type) {
	case VR_TUN_MPLSOUDP:
		rc = tun_push(ctx, hook, hp, VR_TUN_MPLSOUDP_LEN, flags | BPF_F_ADJ_ROOM_ENCAP_L4_UDP);
		break;
	case VR_TUN_MPLSOGRE:
		rc = tun_push(ctx, hook, hp, VR_TUN_MPLSOGRE_LEN, flags | BPF_F_ADJ_ROOM_ENCAP_L4_GRE);
		break;
	default:
		rc = tun_push(ctx, hook, hp, VR_TUN_VXLAN_LEN,
			      flags | BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN) |
			      BPF_F_ADJ_ROOM_ENCAP_L2_ETH);
		break;
	}
	if (rc)
		return count_drop(hook, st, VR_DROP_TUNNEL_ENCAP_FAILED);
	data = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return count_drop(hook, st, VR_DROP_TUNNEL_ENCAP_FAILED);
	eth->h_proto = bpf_htons(ETH_P_IP);
	count_tx(nh->oif_vif, (__u64)pkt_len + n);
	tctr_inc(VR_TC_ENCAP);
	trace_out(nh->oif_vif, fibp->ifindex, 0);
	if (hook == VR_HOOK_TC && neigh) {
		struct bpf_redir_neigh *rn = &w->rn;

		/* the kernel writes the MACs once the neighbour answers */
		__builtin_memset(rn, 0, sizeof(*rn));
		if (fibp->family == AF_INET6) {
			rn->nh_family = AF_INET6;
			__builtin_memcpy(rn->ipv6_nh, fibp->ipv6_dst, 16);
		} else {
			rn->nh_family = AF_INET;
			rn->ipv4_nh = fibp->ipv4_dst;
		}
		tctr_inc(VR_TC_NEIGH);
		return bpf_redirect_neigh(fibp->ifindex, rn, sizeof(*rn), 0);
	}
	mac_copy(eth->h_dest, fibp->dmac);
	mac_copy(eth->h_source, fibp->smac);
	return ctx_redirect(ctx, hook, fibp->ifindex);
}

#endif /* VR_TUNNEL_H */
