/* vr_xdp.c: the XDP entry attached to every vif.
 *
 * parse (bounded, every length checked) -> classify by input vif -> ARP/ND
 * proxy -> per-VRF LPM route -> next hop -> TTL/checksum -> redirect / TX /
 * PASS / DROP, every drop counted under a named reason (lib/counters.h). */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "shared/vr_kern_user.h"
#include "lib/maps.h"
#include "lib/hdr.h"
#include "lib/counters.h"
#include "lib/route.h"
#include "lib/proxy.h"
#include "lib/forward.h"

/* the map layout this object was built for: the daemon reads it from the
 * object's .rodata before it loads or swaps a program (src/bpf/object.ts
 * objectLayoutVersion), so a build of another layout is refused, not run on
 * maps it does not match. The only .rodata variable: it sits at offset 0. */
const volatile __u32 vr_layout_version = VR_LAYOUT_VERSION;

/* host-facing vifs hand what the overlay does not know to the kernel; pod
 * vifs drop it (a pod reaches the host only through a RECEIVE route) */
static __always_inline int not_ours(const struct vr_vif *vif, struct vr_vif_stats *st,
				    __u32 reason)
{
	if (vif->type == VR_VIF_TYPE_FABRIC || vif->type == VR_VIF_TYPE_HOST)
		return count_to_host(st);
	return count_drop(st, reason);
}

static __always_inline int handle_ipv4(struct xdp_md *ctx, const struct vr_vif *vif,
				       struct vr_vif_stats *st)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph = data + sizeof(struct ethhdr);
	struct vr_rt *rt;
	__u32 tot_len;
	__be32 daddr;

	if ((void *)(iph + 1) > data_end)
		return count_drop(st, VR_DROP_INVALID_PACKET);
	tot_len = bpf_ntohs(iph->tot_len);
	if (iph->version != 4 || iph->ihl < 5 || tot_len < (__u32)iph->ihl * 4 ||
	    (void *)iph + tot_len > data_end)
		return count_drop(st, VR_DROP_INVALID_PACKET);
	daddr = iph->daddr;
	/* 224.0.0.0/4 and the limited broadcast */
	if ((daddr & bpf_htonl(0xf0000000)) == bpf_htonl(0xe0000000) || daddr == 0xffffffff)
		return not_ours(vif, st, VR_DROP_MULTICAST);
	rt = route4_lookup(vif->vrf, daddr);
	if (!rt)
		return not_ours(vif, st, VR_DROP_NO_ROUTE);
	return run_nexthop(ctx, rt->nh_id, st, tot_len, iph, 0);
}

static __always_inline int handle_ipv6(struct xdp_md *ctx, const struct vr_vif *vif,
				       struct vr_vif_stats *st)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	struct vr_rt *rt;
	__u32 l3_len;
	__u8 daddr[16];

	if ((void *)(ip6 + 1) > data_end)
		return count_drop(st, VR_DROP_INVALID_PACKET);
	l3_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	if (ip6->version != 6 || (void *)ip6 + l3_len > data_end)
		return count_drop(st, VR_DROP_INVALID_PACKET);
	if (ip6->nexthdr == IPPROTO_ICMPV6) {
		struct icmp6hdr *icmp = (void *)(ip6 + 1);

		if ((void *)(icmp + 1) > data_end)
			return count_drop(st, VR_DROP_INVALID_PACKET);
		if (icmp->icmp6_type == NDISC_NS)
			return handle_ns(ctx, vif, st);
	}
	__builtin_memcpy(daddr, &ip6->daddr, 16);
	if (daddr[0] == 0xff)
		return not_ours(vif, st, VR_DROP_MULTICAST);
	rt = route6_lookup(vif->vrf, daddr);
	if (!rt)
		return not_ours(vif, st, VR_DROP_NO_ROUTE);
	return run_nexthop(ctx, rt->nh_id, st, l3_len, ip6, 1);
}

SEC("xdp")
int vr_xdp_vif(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 ifindex = ctx->ingress_ifindex;
	struct vr_vif_stats *st;
	struct vr_vif *vif;

#ifdef VR_PROGRAM_VARIANT
	/* other instructions, same behaviour: build/vr_xdp_alt.o, a second build
	 * of the same layout with another tag for the upgrade tests */
	asm volatile("%0 = %0" : "+r"(ifindex));
#endif
	vif = bpf_map_lookup_elem(&vr_vifs, &ifindex);
	if (!vif)
		return count_drop(0, VR_DROP_INVALID_INTERFACE);
	st = vif_stats(vif->vif_idx);
	if (!st)
		return count_drop(0, VR_DROP_INVALID_INTERFACE);
	st->rx_packets++;
	st->rx_bytes += data_end - data;
	if (!(vif->flags & VR_VIF_F_ENABLED))
		return count_drop(st, VR_DROP_INTERFACE_DOWN);
	if ((void *)(eth + 1) > data_end)
		return count_drop(st, VR_DROP_INVALID_PACKET);

	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):
		return handle_ipv4(ctx, vif, st);
	case bpf_htons(ETH_P_IPV6):
		return handle_ipv6(ctx, vif, st);
	case bpf_htons(ETH_P_ARP):
		if (vif->type == VR_VIF_TYPE_FABRIC || vif->type == VR_VIF_TYPE_HOST)
			return count_to_host(st);
		return handle_arp(ctx, vif, st);
	default:
		return not_ours(vif, st, VR_DROP_INVALID_PROTOCOL);
	}
}



/* not attached: the daemon's bulk route lookup, run with BPF_PROG_TEST_RUN
 * (layout v2 and later: it reads the route's own plen) */
#if VR_LAYOUT_VERSION >= 2
#include "lib/route_probe.h"
#endif
char _license[] SEC("license") = "GPL";
