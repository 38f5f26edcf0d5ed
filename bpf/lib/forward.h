/* forward.h: next-hop execution for routed IPv4/IPv6 packets, for both
 * hooks (lib/ctx.h): ENCAP (here), TUNNEL (lib/tunnel.h), COMPOSITE
 * (lib/composite.h: ECMP picks a member, flood copies to all), RECEIVE,
 * DISCARD, and the VRF next hop, which routes the packet again in its VRF
 * (follow_vrf). */
#ifndef VR_FORWARD_H
#define VR_FORWARD_H

#include "ctx.h"
#include "hdr.h"
#include "counters.h"
#include "flow.h"
#include "route.h"
#if VR_LAYOUT_VERSION >= 5
#include "tunnel.h"
#include "composite.h"
#else
#define VR_XDP_TO_TC 0x100
#endif

/* rt_label: the label / VNI a route gives a tunnel next hop, or VR_LABEL_NONE */
#if VR_LAYOUT_VERSION >= 5
#define rt_label(rt) (((rt)->flags & VR_RT_F_LABEL) ? (rt)->label : VR_LABEL_NONE)
#else
#define rt_label(rt) 0xffffffffu
#endif

/* follow_vrf: a VRF next hop routes the packet again in its VRF, by the
 * same destination (one level: a VRF next hop there is not followed).
 * Updates the next hop, its id and the label; 0, or a drop reason. */
static __always_inline __u32 follow_vrf(struct vr_nh **nhp, __u32 *nh_id, __u32 *label, const __u8 *dst, int is_v6)
{
#if VR_LAYOUT_VERSION >= 5
	struct vr_nh *nh = *nhp;
	struct vr_rt *rt;

	if (!nh || nh->type != VR_NH_VRF)
		return 0;
	trace_nexthop(*nh_id);
	rt = is_v6 ? route6_lookup(nh->vrf, dst) : route4_lookup(nh->vrf, *(const __be32 *)dst);
	if (!rt)
		return VR_DROP_NO_ROUTE;
	*nh_id = rt->nh_id;
	*label = rt_label(rt);
	nh = bpf_map_lookup_elem(&vr_nexthops, nh_id);
	if (nh && nh->type == VR_NH_VRF)
		return VR_DROP_UNSUPPORTED_NEXTHOP;
	*nhp = nh;
#endif
	return 0;
}

/* encap_out: the ENCAP next hop: checks the output vif (its state is
 * copied into the next hop), writes the L2 header and redirects. l3_len is
 * the IP packet length for the MTU check, pkt_len the whole frame's. The
 * caller has already decremented the TTL (packet pointers are re-read
 * here: on TC that helper may have moved them). */
static __always_inline int encap_out(void *ctx, const enum vr_hook hook, const struct vr_nh *nh,
				     struct vr_vif_stats *st, __u32 l3_len, __u32 pkt_len)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	if (!(nh->oif_state & VR_VIF_F_ENABLED))
		return count_drop(hook, st, VR_DROP_INTERFACE_TX_DOWN);
	if (nh->oif_state & VR_VIF_F_LINK_DOWN)
		return count_drop(hook, st, VR_DROP_INTERFACE_LINK_DOWN);
	if (nh->oif_mtu && ctx_exceeds_mtu(ctx, hook, l3_len, nh->oif_mtu))
		return count_drop(hook, st, VR_DROP_MTU_EXCEEDED);

#if VR_LAYOUT_VERSION >= 5
	/* an L2 encap sends the frame as it is */
	if (!(nh->flags & VR_NH_F_L2)) {
		mac_copy(eth->h_dest, nh->dmac);
		mac_copy(eth->h_source, nh->smac);
	}
#else
	mac_copy(eth->h_dest, nh->dmac);
	mac_copy(eth->h_source, nh->smac);
#endif
	count_tx(nh->oif_vif, (__u64)pkt_len);
	trace_out(nh->oif_vif, nh->oif_ifindex, hook == VR_HOOK_TC && (nh->oif_state & VR_VIF_F_PEER));
	/* a local pod behind a veth: straight into its namespace (TC only) */
	if (nh->oif_state & VR_VIF_F_PEER)
		return ctx_redirect_peer(ctx, hook, nh->oif_ifindex);
	return ctx_redirect(ctx, hook, nh->oif_ifindex);
}

/* local_nexthop: the next hops that end here (RECEIVE, ENCAP, DISCARD; a
 * tunnel's is run_nexthop's). A packet of a flow (f) is counted, and
 * NAT-rewritten, once it is known to leave here: not when the XDP entry
 * hands it to TC (TC counts it). The TTL / hop limit is decremented only
 * when the packet really leaves through an ENCAP next hop. */
static __always_inline int local_nexthop(void *ctx, const enum vr_hook hook, __u32 nh_id, const struct vr_nh *nh,
					 struct vr_vif_stats *st, __u32 l3_len, __u32 pkt_len, int is_v6,
					 struct vr_flow *f, struct vr_l4 *l4)
{
	void *data_end;
	void *l3;

	trace_nexthop(nh_id);
	if (!nh || nh->type == VR_NH_UNSPEC)
		return count_drop(hook, st, VR_DROP_INVALID_NEXTHOP);
	switch (nh->type) {
	case VR_NH_RECEIVE:
	case VR_NH_ENCAP:
		break;
	case VR_NH_DISCARD:
		return count_drop(hook, st, VR_DROP_DISCARD);
	default:
		return count_drop(hook, st, VR_DROP_UNSUPPORTED_NEXTHOP);
	}
	/* to a vif on the TC hook, from XDP: the packet must become an skb (a pod
	 * with the kernel's default offloads does not take XDP frames). Pass it
	 * up untouched; this device's own TC entry forwards it (redirect_peer)
	 * and counts it, so its receipt is not counted twice. */
	if (hook == VR_HOOK_XDP && nh->type == VR_NH_ENCAP && (nh->oif_state & VR_VIF_F_SKB)) {
		if (st) {
			st->rx_packets--;
			st->rx_bytes -= pkt_len;
		}
		trace_flag(VR_TRACE_F_TO_TC);
		return VR_XDP_TO_TC;
	}
	if (f && flow_account(ctx, hook, f, l4, pkt_len, is_v6))
		return count_drop(hook, st, VR_DROP_NAT_FAILED);
	if (nh->type == VR_NH_RECEIVE)
		return count_to_host(hook, st);

#if VR_LAYOUT_VERSION >= 5
	/* an L2 (bridge) encap keeps the TTL */
	if (nh->flags & VR_NH_F_L2)
		return encap_out(ctx, hook, nh, st, l3_len, pkt_len);
#endif
	data_end = ctx_data_end(ctx, hook);
	l3 = ctx_data(ctx, hook) + sizeof(struct ethhdr);
	if (is_v6) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			return count_drop(hook, st, VR_DROP_INVALID_PACKET);
		if (ip6->hop_limit <= 1)
			return count_drop(hook, st, VR_DROP_TTL_EXCEEDED);
		/* no L3 checksum in IPv6; TC keeps a CHECKSUM_COMPLETE sum right */
		ctx_ipv6_hop_limit_dec(ctx, hook, ip6);
	} else {
		struct iphdr *iph = l3;

		if ((void *)(iph + 1) > data_end)
			return count_drop(hook, st, VR_DROP_INVALID_PACKET);
		if (iph->ttl <= 1)
			return count_drop(hook, st, VR_DROP_TTL_EXCEEDED);
		ipv4_ttl_dec(iph);
	}
	return encap_out(ctx, hook, nh, st, l3_len, pkt_len);
}

/* run_nexthop: what every routed packet ends in: a tunnel, or a next hop
 * that ends here (local_nexthop); a composite first: ECMP picks the member
 * that runs, a flood copies to every member. */
static __always_inline int run_nexthop(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				       __u32 nh_id, const struct vr_nh *nh, struct vr_vif_stats *st, __u32 l3_len,
				       __u32 pkt_len, int is_v6, struct vr_flow *f, struct vr_l4 *l4, __u32 label)
{
#if VR_LAYOUT_VERSION >= 5
	if (nh && nh->type == VR_NH_COMPOSITE) {
		__u32 l4w = comp_l4(l4, is_v6), r;

		trace_nexthop(nh_id);
		if (nh->comp_kind == VR_COMP_FLOOD) {
			if (!nh->comp_count)
				return count_drop(hook, st, VR_DROP_COMPOSITE_EMPTY);
			/* XDP cannot copy a packet: its device's TC entry floods it */
			if (hook == VR_HOOK_XDP)
				return xdp_to_tc(st, pkt_len);
			if (f && flow_account(ctx, hook, f, l4, pkt_len, is_v6))
				return count_drop(hook, st, VR_DROP_NAT_FAILED);
			r = vr_flood_tc(ctx, nh_id, l4w, label, 0);
			if (r & VR_COMP_ERR)
				return count_drop(hook, st, r & 0xffff);
			return (int)r;
		}
		r = hook == VR_HOOK_TC ? vr_ecmp_tc(ctx, nh_id, l4w) : vr_ecmp_xdp(ctx, nh_id, l4w);
		if (r & VR_COMP_ERR)
			return count_drop(hook, st, r & 0xffff);
		nh_id = r;
		nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id);
	}
	if (nh && nh->type == VR_NH_TUNNEL) {
		trace_nexthop(nh_id);
		return tunnel_out(ctx, hook, vif, nh, st, l3_len, pkt_len, is_v6, f, l4, label);
	}
#endif
	(void)vif;
	(void)label;
	return local_nexthop(ctx, hook, nh_id, nh, st, l3_len, pkt_len, is_v6, f, l4);
}

#endif /* VR_FORWARD_H */
