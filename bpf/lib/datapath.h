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
#include "ctx.h"
#include "maps.h"
#include "hdr.h"
#include "counters.h"
#include "route.h"
#include "proxy.h"
#include "forward.h"

/* host-facing vifs hand what the overlay does not know to the kernel; pod
 * vifs drop it (a pod reaches the host only through a RECEIVE route) */
static __always_inline int not_ours(const enum vr_hook hook, const struct vr_vif *vif,
				    struct vr_vif_stats *st, __u32 reason)
{
	if (vif->type == VR_VIF_TYPE_FABRIC || vif->type == VR_VIF_TYPE_HOST)
		return count_to_host(hook, st);
	return count_drop(hook, st, reason);
}

static __always_inline int handle_ipv4(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				       struct vr_vif_stats *st, __u32 pkt_len)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct iphdr *iph = data + sizeof(struct ethhdr);
	struct vr_rt *rt;
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
		return not_ours(hook, vif, st, VR_DROP_MULTICAST);
	rt = route4_lookup(vif->vrf, daddr);
	if (!rt)
		return not_ours(hook, vif, st, VR_DROP_NO_ROUTE);
	return run_nexthop(ctx, hook, rt->nh_id, st, tot_len, pkt_len, 0);
}

static __always_inline int handle_ipv6(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				       struct vr_vif_stats *st, __u32 pkt_len)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	struct vr_rt *rt;
	__u32 l3_len;
	__u8 daddr[16];

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
		if (icmp->icmp6_type == NDISC_NS)
			return handle_ns(ctx, hook, vif, st);
	}
	__builtin_memcpy(daddr, &ip6->daddr, 16);
	if (daddr[0] == 0xff)
		return not_ours(hook, vif, st, VR_DROP_MULTICAST);
	rt = route6_lookup(vif->vrf, daddr);
	if (!rt)
		return not_ours(hook, vif, st, VR_DROP_NO_ROUTE);
	return run_nexthop(ctx, hook, rt->nh_id, st, l3_len, pkt_len, 1);
}

/* vif_input: the whole datapath for a frame that arrived on a vif */
static __always_inline int vif_input(void *ctx, const enum vr_hook hook)
{
	__u32 ifindex = ctx_ingress_ifindex(ctx, hook);
	__u32 pkt_len = ctx_len(ctx, hook);
	struct vr_vif_stats *st;
	struct vr_vif *vif;
	struct ethhdr *eth;
	void *data_end;

#ifdef VR_PROGRAM_VARIANT
	/* other instructions, same behaviour: build/vr_xdp_alt.o, a second build
	 * of the same layout with another tag for the upgrade tests */
	asm volatile("%0 = %0" : "+r"(ifindex));
#endif
	vif = bpf_map_lookup_elem(&vr_vifs, &ifindex);
	if (!vif)
		return count_drop(hook, 0, VR_DROP_INVALID_INTERFACE);
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

	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):
		return handle_ipv4(ctx, hook, vif, st, pkt_len);
	case bpf_htons(ETH_P_IPV6):
		return handle_ipv6(ctx, hook, vif, st, pkt_len);
	case bpf_htons(ETH_P_ARP):
		if (vif->type == VR_VIF_TYPE_FABRIC || vif->type == VR_VIF_TYPE_HOST)
			return count_to_host(hook, st);
		return handle_arp(ctx, hook, vif, st, pkt_len);
	default:
		return not_ours(hook, vif, st, VR_DROP_INVALID_PROTOCOL);
	}
}

#endif /* VR_DATAPATH_H */
