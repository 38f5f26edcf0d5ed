/* proxy.h: ARP and IPv6 neighbour-discovery answers for routes that carry
 * the proxy flag, sent back out of the arrival vif.
 *
 * The answer leaves by redirecting to the arrival ifindex, not by XDP_TX:
 * on veth (kernel 6.18), XDP_TX queues the frame on the peer but kicks the
 * peer's NAPI only when the peer has an XDP program of its own, so a pod
 * whose eth0 has just GRO on sees the answer late or never. A redirect goes
 * through ndo_xdp_xmit with a flush and is delivered at once. The TC entry
 * makes the same choice: bpf_redirect to the arrival interface's egress. */
#ifndef VR_PROXY_H
#define VR_PROXY_H

#include "ctx.h"
#include "hdr.h"
#include "route.h"
#include "counters.h"
#include "bridge.h"

static __always_inline int reply_out(void *ctx, const enum vr_hook hook)
{
	trace_flag(VR_TRACE_F_PROXIED);
	return ctx_redirect(ctx, hook, ctx_ingress_ifindex(ctx, hook));
}

static __always_inline int handle_arp(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				      struct vr_vif_stats *st, __u32 pkt_len)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct ethhdr *eth = data;
	struct arp_eth *arp = (void *)(eth + 1);
	__be32 tpa;

	if ((void *)(arp + 1) > data_end)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	if (arp->htype != bpf_htons(ARPHRD_ETHER_) || arp->ptype != bpf_htons(ETH_P_IP) ||
	    arp->hlen != ETH_ALEN || arp->plen != 4)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	/* replies and gratuitous announcements ask nothing of us */
	if (arp->op != bpf_htons(ARPOP_REQUEST_) || arp->spa == arp->tpa)
		return l2_or_drop(hook, vif, st, VR_DROP_ARP_NOT_PROXIED);
	tpa = arp->tpa;
	if (!proxy_allowed(route4_lookup(vif->vrf, tpa), ctx_ingress_ifindex(ctx, hook)))
		return l2_or_drop(hook, vif, st, VR_DROP_ARP_NOT_PROXIED);

	mac_copy(eth->h_dest, arp->sha);
	mac_copy(eth->h_source, vif->mac);
	arp->op = bpf_htons(ARPOP_REPLY_);
	mac_copy(arp->tha, arp->sha);
	arp->tpa = arp->spa;
	mac_copy(arp->sha, vif->mac);
	arp->spa = tpa;
	if (st)
		st->proxied++;
	count_tx(vif->vif_idx, (__u64)pkt_len);
	return reply_out(ctx, hook);
}

/* nd_csum: ICMPv6 checksum of a 32-byte NA (pseudo-header + message) */
static __always_inline __u16 nd_csum(struct ipv6hdr *ip6, struct nd_msg *nd)
{
	__u64 sum = (__u64)bpf_htonl(sizeof(*nd)) + bpf_htonl(IPPROTO_ICMPV6);

	sum += (__u32)bpf_csum_diff(0, 0, (__be32 *)&ip6->saddr, 32, 0);
	sum += (__u32)bpf_csum_diff(0, 0, (__be32 *)nd, sizeof(*nd), 0);
	return csum_fold(sum);
}

/* handle_ns: answers a neighbour solicitation with a solicited advertisement
 * carrying our MAC; the frame is trimmed or grown to exactly one NA. */
static __always_inline int handle_ns(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				     struct vr_vif_stats *st)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	struct nd_msg *nd = (void *)(ip6 + 1);
	__u8 target[16], src[16];
	__u32 want;

	/* the fixed part of an NS is 24 bytes; the option may be absent */
	if ((void *)nd + 24 > data_end)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	if (ip6->hop_limit != 255 || nd->code != 0)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	__builtin_memcpy(target, nd->target, 16);
	__builtin_memcpy(src, &ip6->saddr, 16);
	/* duplicate-address detection (source ::) is not answered */
	if (!(((__u64 *)src)[0] | ((__u64 *)src)[1]))
		return l2_or_drop(hook, vif, st, VR_DROP_ND_NOT_PROXIED);
	if (!proxy_allowed(route6_lookup(vif->vrf, target), ctx_ingress_ifindex(ctx, hook)))
		return l2_or_drop(hook, vif, st, VR_DROP_ND_NOT_PROXIED);

	want = sizeof(*eth) + sizeof(*ip6) + sizeof(*nd);
	if (ctx_change_tail(ctx, hook, want))
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	data = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	eth = data;
	ip6 = (void *)(eth + 1);
	nd = (void *)(ip6 + 1);
	if ((void *)(nd + 1) > data_end)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);

	mac_copy(eth->h_dest, eth->h_source);
	mac_copy(eth->h_source, vif->mac);
	ip6->payload_len = bpf_htons(sizeof(*nd));
	ip6->nexthdr = IPPROTO_ICMPV6;
	ip6->hop_limit = 255;
	__builtin_memcpy(&ip6->daddr, src, 16);
	__builtin_memcpy(&ip6->saddr, target, 16);
	nd->type = NDISC_NA;
	nd->code = 0;
	nd->csum = 0;
	nd->flags = bpf_htonl(0xe0000000); /* router, solicited, override */
	__builtin_memcpy(nd->target, target, 16);
	nd->opt_type = ND_OPT_TLLA;
	nd->opt_len = 1;
	mac_copy(nd->opt_mac, vif->mac);
	nd->csum = nd_csum(ip6, nd);
	if (st)
		st->proxied++;
	count_tx(vif->vif_idx, (__u64)want);
	return reply_out(ctx, hook);
}

#endif /* VR_PROXY_H */
