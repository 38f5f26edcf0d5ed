/* datapath.h: the forwarding of a frame that arrived on a vif, ONE code for
 * both entries (vr_xdp_vif, vr_tc_vif in vr_xdp.c) through lib/ctx.h.
 *
 * parse (bounded, every length checked) -> classify by input vif -> ARP/ND
 * proxy -> per-VRF LPM route -> next hop -> TTL/checksum -> redirect /
 * PASS / DROP, every drop counted under a named reason (lib/counters.h).
 *
 * Lengths come from the packet (ctx_len: every fragment of a multi-buffer
 * XDP frame, the whole skb), headers from the linear part with every
 * pointer checked against data_end. */
#ifndef VR_DATAPATH_H
#define VR_DATAPATH_H

#include <linux/in.h>
#include <linux/icmpv6.h>
#include "ctx.h"
#include "maps.h"
#include "hdr.h"
#include "counters.h"
#include "route.h"
#include "proxy.h"
#include "forward.h"
#include "flow.h"
#include "trap.h"
#include "bridge.h"
#if VR_LAYOUT_VERSION >= 5
#include "decap.h"
#endif

/* host-facing vifs hand what the overlay does not know to the kernel; pod
 * vifs drop it (a pod reaches the host only through a RECEIVE route) */
static __always_inline int not_ours(const enum vr_hook hook, const struct vr_vif *vif,
				    struct vr_vif_stats *st, __u32 reason)
{
	if (vif->type == VR_VIF_TYPE_FABRIC || vif->type == VR_VIF_TYPE_HOST)
		return count_to_host(hook, st);
	return count_drop(hook, st, reason);
}

static __always_inline int vif_has_ip6(const struct vr_vif *vif)
{
	const __u32 *w = (const __u32 *)vif->ip6;

	return (w[0] | w[1] | w[2] | w[3]) != 0;
}

static __always_inline int ip6_eq(const void *a, const void *b)
{
	const __u32 *x = a, *y = b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]));
}

static __always_inline int arp_is_request(void *ctx, const enum vr_hook hook)
{
	void *data_end = ctx_data_end(ctx, hook);
	struct arp_eth *a = ctx_data(ctx, hook) + sizeof(struct ethhdr);

	if ((void *)(a + 1) > data_end)
		return 0;
	return a->op == bpf_htons(ARPOP_REQUEST_);
}

/* arp_proxied: an ARP request that the proxy answers (handle_arp's checks) */
static __always_inline int arp_proxied(void *ctx, const enum vr_hook hook, const struct vr_vif *vif, __u32 ifindex)
{
	void *data_end = ctx_data_end(ctx, hook);
	struct arp_eth *a = ctx_data(ctx, hook) + sizeof(struct ethhdr);

	if ((void *)(a + 1) > data_end || a->op != bpf_htons(ARPOP_REQUEST_) || a->ptype != bpf_htons(ETH_P_IP) ||
	    a->spa == a->tpa)
		return 0;
	return proxy_allowed(route4_lookup(vif->vrf, a->tpa), ifindex);
}

/* ns_proxied: a neighbour solicitation that the proxy answers (handle_ns's
 * checks on the sender and the target) */
static __always_inline int ns_proxied(void *ctx, const enum vr_hook hook, const struct vr_vif *vif, __u32 ifindex)
{
	void *data_end = ctx_data_end(ctx, hook);
	struct ipv6hdr *ip6 = ctx_data(ctx, hook) + sizeof(struct ethhdr);
	struct nd_msg *nd = (void *)(ip6 + 1);
	const __u32 *src;

	if ((void *)nd + 24 > data_end)
		return 0;
	src = (const __u32 *)&ip6->saddr;
	if (!(src[0] | src[1] | src[2] | src[3]))
		return 0;
	return proxy_allowed(route6_lookup(vif->vrf, nd->target), ifindex);
}

/* l3_stage: what IPv4 and IPv6 share after their header checks: trap rules,
 * the flow stage on a policy vif, the route (of the NAT destination when
 * the flow rewrites it) and its next hop. `daddr` is the packet's
 * destination (4 or 16 bytes). */
static __always_inline int l3_stage(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				    struct vr_vif_stats *st, __u32 ifindex, __u32 pkt_len, __u32 l3_len,
				    struct vr_l4 *l4, int first_frag, int is_v6)
{
	struct vr_config *cfg = vr_cfg();
	__u32 traps = cfg ? cfg->trap_mask : 0;
	struct vr_flow *f = 0;
	struct vr_flow_key key = {};
	struct vr_rt *rt;
	void *data, *data_end;

	l4->first = first_frag;
	if (traps || vif_policy(vif))
		l4_parse(ctx, hook, l4, first_frag, is_v6);
	data = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	if (is_v6) {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

		if ((void *)(ip6 + 1) > data_end)
			return count_drop(hook, st, VR_DROP_INVALID_PACKET);
		if (traps) {
			__u8 reason = trap_l4(traps, l4, 1);

			if (!reason && (traps & VR_TRAP_OWN) && vif_has_ip6(vif) && ip6_eq(&ip6->daddr, vif->ip6))
				reason = VR_TRAP_R_OWN;
			if (reason)
				return trap_packet(ctx, hook, vif, st, ifindex, reason, pkt_len);
		}
		if (vif_policy(vif))
			flow_key6(&key, vif->vrf, ip6, l4);
		else
			__builtin_memcpy(key.dst, &ip6->daddr, 16);
	} else {
		struct iphdr *iph = data + sizeof(struct ethhdr);

		if ((void *)(iph + 1) > data_end)
			return count_drop(hook, st, VR_DROP_INVALID_PACKET);
		if (traps) {
			__u8 reason = trap_l4(traps, l4, 0);

			if (!reason && (traps & VR_TRAP_OWN) && vif->ip4 && iph->daddr == vif->ip4)
				reason = VR_TRAP_R_OWN;
			if (reason)
				return trap_packet(ctx, hook, vif, st, ifindex, reason, pkt_len);
		}
		if (vif_policy(vif))
			flow_key4(&key, vif->vrf, iph, l4);
		else
			__builtin_memcpy(key.dst, &iph->daddr, 4);
	}
	if (vif_policy(vif)) {
		int r = flow_stage(ctx, hook, vif, st, ifindex, &key, pkt_len, &f);

		if (r != VR_FLOW_CONTINUE)
			return r;
		/* DNAT: the packet goes where its new destination's route says */
		if (f && f->action == VR_FLOW_NAT && (f->flags & VR_FLOW_F_DNAT))
			__builtin_memcpy(key.dst, f->nat_dst, 16);
	}
	if (is_v6)
		rt = route6_lookup(vif->vrf, key.dst);
	else
		rt = route4_lookup(vif->vrf, *(__be32 *)key.dst);
	if (!rt)
		return not_ours(hook, vif, st, VR_DROP_NO_ROUTE);
	{
		__u32 nh_id = rt->nh_id;
		__u32 label = rt_label(rt);
		struct vr_nh *nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id);
		__u32 why = follow_vrf(&nh, &nh_id, &label, key.dst, is_v6);

		if (why)
			return count_drop(hook, st, why);
		return run_nexthop(ctx, hook, vif, nh_id, nh, st, l3_len, pkt_len, is_v6, f, l4, label);
	}
}

static __always_inline int handle_ipv4(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				       struct vr_vif_stats *st, __u32 ifindex, __u32 pkt_len)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct iphdr *iph = data + sizeof(struct ethhdr);
	struct vr_l4 l4;
	__u32 tot_len;
	__be32 daddr;

	if ((void *)(iph + 1) > data_end)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	tot_len = bpf_ntohs(iph->tot_len);
	if (iph->version != 4 || iph->ihl < 5 || tot_len < (__u32)iph->ihl * 4 ||
	    tot_len > pkt_len - sizeof(struct ethhdr))
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	daddr = iph->daddr;
	/* 224.0.0.0/4 and the limited broadcast */
	if ((daddr & bpf_htonl(0xf0000000)) == bpf_htonl(0xe0000000) || daddr == 0xffffffff)
		return l2_or_drop(hook, vif, st, VR_DROP_MULTICAST);
#if VR_LAYOUT_VERSION >= 5
	/* the overlay: tunnelled packets to the fabric's own address */
	if (vif->type == VR_VIF_TYPE_FABRIC) {
		int r = fabric_decap(ctx, hook, vif, st, ifindex, pkt_len);

		if (r != VR_DECAP_NONE)
			return r;
		/* the decap's checks may have moved the packet (TC: pulled) */
		data = ctx_data(ctx, hook);
		data_end = ctx_data_end(ctx, hook);
		iph = data + sizeof(struct ethhdr);
		if ((void *)(iph + 1) > data_end)
			return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	}
#endif
	l4_init(&l4, sizeof(struct ethhdr) + (__u32)iph->ihl * 4, iph->protocol);
	/* a fragment after the first has no L4 header */
	return l3_stage(ctx, hook, vif, st, ifindex, pkt_len, tot_len, &l4,
			!(iph->frag_off & bpf_htons(0x1fff)), 0);
}

static __always_inline int handle_ipv6(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				       struct vr_vif_stats *st, __u32 ifindex, __u32 pkt_len)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	struct vr_config *cfg;
	struct vr_l4 l4;
	__u32 l3_len;

	if ((void *)(ip6 + 1) > data_end)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	l3_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	if (ip6->version != 6 || l3_len > pkt_len - sizeof(struct ethhdr))
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	if (ip6->nexthdr == IPPROTO_ICMPV6) {
		struct icmp6hdr *icmp;

		/* ICMPv6 is small and rare: the headers an NS answer reads */
		ctx_pull(ctx, hook, VR_ND_PULL_LEN);
		data = ctx_data(ctx, hook);
		data_end = ctx_data_end(ctx, hook);
		ip6 = data + sizeof(struct ethhdr);
		icmp = (void *)(ip6 + 1);
		if ((void *)(icmp + 1) > data_end)
			return count_drop(hook, st, VR_DROP_INVALID_PACKET);
		if (icmp->icmp6_type == NDISC_NS) {
			cfg = vr_cfg();
			/* trapped NS go to the agent (l3_stage) instead of the proxy */
			if (!cfg || !(cfg->trap_mask & VR_TRAP_ND)) {
				/* the host's own solicitations (egress) that the proxy
				 * does not answer go their way, as its ARP does */
				if (ctx_at_egress(ctx, hook) && !ns_proxied(ctx, hook, vif, ifindex))
					return count_to_host(hook, st);
				return handle_ns(ctx, hook, vif, st);
			}
		}
	}
	if (ip6->daddr.in6_u.u6_addr8[0] == 0xff) {
		cfg = vr_cfg();
		/* a router or neighbour solicitation to a multicast group may be of interest */
		if (!cfg || !(cfg->trap_mask & (VR_TRAP_RS | VR_TRAP_ND)) || ip6->nexthdr != IPPROTO_ICMPV6)
			return l2_or_drop(hook, vif, st, VR_DROP_MULTICAST);
		l4_init(&l4, sizeof(struct ethhdr) + sizeof(*ip6), IPPROTO_ICMPV6);
		l4_parse(ctx, hook, &l4, 1, 1);
		{
			__u8 reason = trap_l4(cfg->trap_mask, &l4, 1);

			if (reason)
				return trap_packet(ctx, hook, vif, st, ifindex, reason, pkt_len);
		}
		return l2_or_drop(hook, vif, st, VR_DROP_MULTICAST);
	}
	l4_init(&l4, sizeof(struct ethhdr) + sizeof(*ip6), ip6->nexthdr);
	return l3_stage(ctx, hook, vif, st, ifindex, pkt_len, l3_len, &l4, 1, 1);
}

/* l3_input: what the router does with a frame, by its ethertype */
static __always_inline int l3_input(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				    struct vr_vif_stats *st, __u32 ifindex, __u32 pkt_len)
{
	struct ethhdr *eth = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);

	if ((void *)(eth + 1) > data_end)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):
		return handle_ipv4(ctx, hook, vif, st, ifindex, pkt_len);
	case bpf_htons(ETH_P_IPV6):
		return handle_ipv6(ctx, hook, vif, st, ifindex, pkt_len);
	case bpf_htons(ETH_P_ARP):
		if (vif->type == VR_VIF_TYPE_FABRIC || vif->type == VR_VIF_TYPE_HOST) {
			/* the host asking for a pod out of its interface (egress): the
			 * proxy answers, up into the host; any other ARP goes its way */
			if (ctx_at_egress(ctx, hook) && arp_proxied(ctx, hook, vif, ifindex))
				return handle_arp(ctx, hook, vif, st, pkt_len);
			return count_to_host(hook, st);
		}
		if (arp_is_request(ctx, hook)) {
			struct vr_config *cfg = vr_cfg();

			if (cfg && (cfg->trap_mask & VR_TRAP_ARP))
				return trap_packet(ctx, hook, vif, st, ifindex, VR_TRAP_R_ARP, pkt_len);
		}
		return handle_arp(ctx, hook, vif, st, pkt_len);
	default:
		return l2_or_drop(hook, vif, st, VR_DROP_INVALID_PROTOCOL);
	}
}

/* vif_run: the whole datapath for a frame that came in from `vif` (the
 * entry of `ifindex` in vr_vifs) */
static __always_inline int vif_run(void *ctx, const enum vr_hook hook, __u32 ifindex, const struct vr_vif *vif)
{
	__u32 pkt_len = ctx_len(ctx, hook);
	struct vr_vif_stats *st;
	struct ethhdr *eth;
	void *data_end;

	trace_in(vif->vif_idx);
	st = vif_stats(vif->vif_idx);
	if (!st)
		return count_drop(hook, 0, VR_DROP_INVALID_INTERFACE);
	st->rx_packets++;
	st->rx_bytes += pkt_len;
	if (!(vif->flags & VR_VIF_F_ENABLED))
		return count_drop(hook, st, VR_DROP_INTERFACE_DOWN);
	ctx_pull(ctx, hook, VR_PULL_LEN);
	eth = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	if ((void *)(eth + 1) > data_end)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);

#if VR_LAYOUT_VERSION >= 5
	/* a pod's frame that is not for the router: bridged in an L2 VRF (lib/bridge.h) */
	if (vif->type == VR_VIF_TYPE_VIRTUAL && !(eth->h_dest[0] & 1) && !mac_eq(eth->h_dest, vif->mac)) {
		int r = bridge_frame(ctx, hook, vif, st);

		if (r != VR_BRIDGE_NONE)
			return r;
	}
#endif
	{
		int r = l3_input(ctx, hook, vif, st, ifindex, pkt_len);

#if VR_LAYOUT_VERSION >= 5
		/* what L3 declined (multicast, broadcast, an ARP / NS not proxied) */
		if (r & VR_L2_TRY) {
			__u32 reason = r & 0xff;

			r = bridge_frame(ctx, hook, vif, st);
			if (r == VR_BRIDGE_NONE)
				return count_drop(hook, st, reason);
		}
#endif
		return r;
	}
}

/* vif_input: the whole datapath for a frame that arrived on a vif */
static __always_inline int vif_input(void *ctx, const enum vr_hook hook)
{
	__u32 ifindex = ctx_ingress_ifindex(ctx, hook);
	struct vr_vif *vif;

#ifdef VR_PROGRAM_VARIANT
	/* other instructions, same behaviour: build/vr_xdp_alt.o, a second build
	 * of the same layout with another tag for the upgrade tests */
	asm volatile("%0 = %0" : "+r"(ifindex));
#endif
	vif = bpf_map_lookup_elem(&vr_vifs, &ifindex);
	if (!vif)
		return count_drop(hook, 0, VR_DROP_INVALID_INTERFACE);
	return vif_run(ctx, hook, ifindex, vif);
}

/* A packet the XDP entry passes to the kernel also meets the device's TC
 * entry (every vif has one): the XDP entry marks it in the frame's metadata
 * so that TC lets it through untouched (not counted, looked up or rewritten
 * twice). A packet handed to TC for forwarding (VR_XDP_TO_TC) is not
 * marked: TC forwards it. */
#define VR_META_PASSED 0x76725031 /* "vrP1" */

static __always_inline int xdp_verdict(struct xdp_md *ctx, int verdict)
{
	if (verdict == VR_XDP_TO_TC)
		return XDP_PASS;
	if (verdict == XDP_PASS && !bpf_xdp_adjust_meta(ctx, -(int)sizeof(__u32))) {
		__u32 *meta = (void *)(long)ctx->data_meta;

		if ((void *)(meta + 1) <= (void *)(long)ctx->data)
			*meta = VR_META_PASSED;
	}
	return verdict;
}

static __always_inline int tc_passed_by_xdp(struct __sk_buff *skb)
{
	__u32 *meta = (void *)(long)skb->data_meta;

	return (void *)(meta + 1) <= (void *)(long)skb->data && *meta == VR_META_PASSED;
}

#endif /* VR_DATAPATH_H */
