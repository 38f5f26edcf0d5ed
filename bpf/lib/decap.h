/* decap.h: tunnelled packets that arrive on a fabric vif (layout v5), on
 * both hooks. A packet to the fabric vif's own IPv4 address (vr_vif.ip4;
 * no IP options, not a fragment) is ours when it is
 *
 *   UDP to 6635   MPLSoUDP: one MPLS label -> vr_mpls -> next hop; inner IP
 *   UDP to 4789   VXLAN (I flag): the VNI -> vr_vxlan -> next hop; the inner
 *                 Ethernet frame (IPv4 / IPv6 only), or any inner frame
 *                 when the next hop is an L2 VNI (a VRF next hop with
 *                 VR_NH_F_L2: bridged by its inner MAC, l2_decap)
 *   GRE 0x8847    MPLSoGRE (no GRE flags): as MPLSoUDP
 *
 * The next hop is run on the inner packet: ENCAP (a local pod: MAC rewrite
 * and redirect, TTL decremented as a router does), RECEIVE (to the host
 * stack), DISCARD, or VRF (route the inner packet in that VRF, then run
 * what the route says; a tunnel there is not followed: a packet from the
 * overlay is not sent back into it). A label that is not in vr_mpls, or a
 * stack of labels, is dropped (invalid_label: the kernel has no MPLS); a VNI
 * that is not in vr_vxlan goes to the kernel, whose vxlan device may own it;
 * anything else that is not ours goes on as any packet of the fabric does
 * (to the kernel when the overlay does not know it).
 *
 * Flows: when the next hop delivers to a vif with policy, the inner packet
 * goes through the flow stage under the VRF of the next hop the label / VNI
 * named, *before* the outer headers go: a miss holds the whole tunnelled
 * frame, which re-injection (as if it arrived on the fabric again) decaps
 * again.
 *
 * Stripping: XDP moves the frame's head (bpf_xdp_adjust_head); TC removes
 * the bytes after the Ethernet header with bpf_skb_adjust_room (which keeps
 * a CHECKSUM_COMPLETE sum right and sets skb->protocol for an IPv6 inner
 * packet). The frame keeps the outer Ethernet addresses with the inner
 * ethertype on both hooks. A GRO-merged tunnel skb keeps its tunnel GSO
 * bits after the strip (this kernel's bpf_skb_adjust_room cannot clear them:
 * BPF_F_ADJ_ROOM_DECAP_L4_UDP is newer); local delivery does not mind. */
#ifndef VR_DECAP_H
#define VR_DECAP_H

#include <linux/in.h>
#include "ctx.h"
#include "hdr.h"
#include "l4.h"
#include "counters.h"
#include "flow.h"
#include "forward.h"
#include "bridge.h"

#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV6
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#endif

#define VR_DECAP_NONE (-1) /* not a tunnelled packet of ours: the caller goes on */

/* the offsets of a tunnelled frame: the inner IP header, and what goes after the Ethernet header */
#define VR_MPLSOUDP_INNER (ETH_HLEN + 20 + 8 + 4)
#define VR_MPLSOGRE_INNER (ETH_HLEN + 20 + 4 + 4)
#define VR_VXLAN_INNER    (ETH_HLEN + 20 + 8 + 8 + ETH_HLEN)

/* tun_strip: removes `strip` bytes after the Ethernet header (a constant at
 * each call site); the frame keeps its outer MACs and gets `proto` */
static __always_inline int tun_strip(void *ctx, const enum vr_hook hook, const __u32 strip, __be16 proto, int is_v6)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct ethhdr *eth = data;
	__u8 macs[2 * ETH_ALEN];

	if (hook == VR_HOOK_TC) {
		/* FIXED_GSO: a GSO skb's gso_size is the inner segments' payload,
		 * which the outer headers' removal does not change (without it the
		 * kernel grows gso_size by the bytes removed, and the pod's MTU
		 * check then refuses every TSO segment) */
		if (bpf_skb_adjust_room(ctx, -(int)strip, BPF_ADJ_ROOM_MAC,
					BPF_F_ADJ_ROOM_FIXED_GSO | (is_v6 ? BPF_F_ADJ_ROOM_DECAP_L3_IPV6 : 0)))
			return -1;
	} else {
		if ((void *)(eth + 1) > data_end)
			return -1;
		__builtin_memcpy(macs, eth, sizeof(macs));
		if (bpf_xdp_adjust_head(ctx, (int)strip))
			return -1;
	}
	data = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	if (hook == VR_HOOK_XDP)
		__builtin_memcpy(eth, macs, sizeof(macs));
	eth->h_proto = proto;
	return 0;
}

/* inner_l3: the inner IP packet at `off`: its family (4 / 6, 0 = neither), length and destination */
static __always_inline int inner_l3(void *ctx, const enum vr_hook hook, __u32 off, int family, __u32 pkt_len,
				    __u32 *l3_len, __u8 *dst, __u8 *proto, int *first_frag)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);

	if (family == 6) {
		struct ipv6hdr *ip6 = data + (off & 0x7f);

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return -1;
		*l3_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		__builtin_memcpy(dst, &ip6->daddr, 16);
		*proto = ip6->nexthdr;
		*first_frag = 1;
	} else {
		struct iphdr *iph = data + (off & 0x7f);

		if ((void *)(iph + 1) > data_end || iph->version != 4 || iph->ihl < 5)
			return -1;
		*l3_len = bpf_ntohs(iph->tot_len);
		if (*l3_len < (__u32)iph->ihl * 4)
			return -1;
		__builtin_memcpy(dst, &iph->daddr, 4);
		*proto = iph->protocol;
		*first_frag = !(iph->frag_off & bpf_htons(0x1fff));
	}
	return *l3_len > pkt_len - off ? -1 : 0;
}

/* l2_decap: a VXLAN packet whose VNI leads to an L2 VRF (a VRF next hop
 * with VR_NH_F_L2): the inner frame, outer headers stripped, is bridged by
 * its destination MAC in that VRF, to local vifs only */
static __always_inline int l2_decap(void *ctx, const enum vr_hook hook, __u32 vrf, struct vr_vif_stats *st,
				    __u32 pkt_len)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct ethhdr *in = data + (VR_VXLAN_INNER - ETH_HLEN);
	struct vr_bridge *be;
	struct vr_nh *nh;
	__u8 hdr[ETH_HLEN];
	__u32 nh_id;

	if ((void *)(in + 1) > data_end)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	be = bridge_find(vrf, in->h_dest);
	if (!be)
		return count_drop(hook, st, VR_DROP_NO_ROUTE);
	nh_id = be->nh_id;
	nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id);
	/* to a vif on the TC hook, or to a flood (only TC copies), from XDP: TC decaps it */
	if (hook == VR_HOOK_XDP && nh &&
	    ((nh->type == VR_NH_ENCAP && (nh->oif_state & VR_VIF_F_SKB)) || nh->type == VR_NH_COMPOSITE))
		return xdp_to_tc(st, pkt_len);
	__builtin_memcpy(hdr, in, ETH_HLEN);
	if (hook == VR_HOOK_TC) {
		if (bpf_skb_adjust_room(ctx, -(int)(VR_VXLAN_INNER - ETH_HLEN), BPF_ADJ_ROOM_MAC,
					hdr[12] == 0x86 && hdr[13] == 0xdd ? BPF_F_ADJ_ROOM_DECAP_L3_IPV6 : 0) ||
		    bpf_skb_store_bytes(ctx, 0, hdr, ETH_HLEN, 0))
			return count_drop(hook, st, VR_DROP_TUNNEL_DECAP_FAILED);
	} else if (bpf_xdp_adjust_head(ctx, VR_VXLAN_INNER - ETH_HLEN)) {
		return count_drop(hook, st, VR_DROP_TUNNEL_DECAP_FAILED);
	}
	tctr_inc(VR_TC_DECAP);
	return bridge_run(ctx, hook, be, st, VR_BR_FROM_FABRIC);
}

/* fabric_decap: the verdict for a tunnelled packet of ours, or VR_DECAP_NONE */
static __always_inline int fabric_decap(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
					struct vr_vif_stats *st, __u32 ifindex, __u32 pkt_len)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct iphdr *iph = data + ETH_HLEN;
	struct vr_flow_key key = {};
	struct vr_flow *f = 0;
	struct vr_l4 l4;
	struct vr_nh *nh;
	__u32 *id, nh_id, label = VR_LABEL_NONE, l3_len = 0, flow_vrf, why, word;
	__u8 type, proto = 0, *p;
	int family, first_frag = 1, off, iphl;
	__be16 eproto;

	if ((void *)(iph + 1) > data_end || !vif->ip4 || iph->daddr != vif->ip4 || iph->ihl != 5 ||
	    (iph->frag_off & bpf_htons(0x3fff)))
		return VR_DECAP_NONE;
	/* the tunnel headers and the largest inner IP header (TC: pulled into the head) */
	if (iph->protocol == IPPROTO_UDP)
		ctx_pull(ctx, hook, VR_VXLAN_INNER + 40);
	else if (iph->protocol == IPPROTO_GRE)
		ctx_pull(ctx, hook, VR_MPLSOGRE_INNER + 40);
	else
		return VR_DECAP_NONE;
	data = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	iph = data + ETH_HLEN;
	p = data + ETH_HLEN + 20;
	if ((void *)(iph + 1) > data_end || (void *)(p + 8) > data_end)
		return VR_DECAP_NONE;
	if (iph->protocol == IPPROTO_UDP) {
		__be16 dport = *(__be16 *)(p + 2);

		if (dport == bpf_htons(VR_UDP_PORT_MPLS)) {
			type = VR_TUN_MPLSOUDP;
		} else if (dport == bpf_htons(VR_UDP_PORT_VXLAN)) {
			type = VR_TUN_VXLAN;
		} else {
			return VR_DECAP_NONE;
		}
	} else {
		/* GRE without checksum, key or sequence, version 0, carrying MPLS */
		if (*(__be16 *)(p + 2) != bpf_htons(VR_ETH_P_MPLS_UC))
			return VR_DECAP_NONE;
		if (*(__be16 *)p != 0)
			return count_drop(hook, st, VR_DROP_INVALID_TUNNEL);
		type = VR_TUN_MPLSOGRE;
	}

	if (type == VR_TUN_VXLAN) {
		__u8 *vx = p + 8;

		if ((void *)(vx + 8 + ETH_HLEN) > data_end)
			return count_drop(hook, st, VR_DROP_INVALID_PACKET);
		if (!(*(__be32 *)vx & bpf_htonl(0x08000000)))
			return count_drop(hook, st, VR_DROP_INVALID_TUNNEL);
		word = bpf_ntohl(*(__be32 *)(vx + 4)) >> 8;
		id = bpf_map_lookup_elem(&vr_vxlan, &word);
		if (!id)
			return count_to_host(hook, st); /* a Linux vxlan device of the host may own it */
		nh_id = *id;
		nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id);
		if (nh && nh->type == VR_NH_VRF && (nh->flags & VR_NH_F_L2))
			return l2_decap(ctx, hook, nh->vrf, st, pkt_len);
		eproto = *(__be16 *)(vx + 8 + 12);
		if (eproto == bpf_htons(ETH_P_IP))
			family = 4;
		else if (eproto == bpf_htons(ETH_P_IPV6))
			family = 6;
		else
			return count_drop(hook, st, VR_DROP_INVALID_PROTOCOL);
		off = VR_VXLAN_INNER;
	} else {
		__u8 *m = type == VR_TUN_MPLSOGRE ? p + 4 : p + 8;

		if ((void *)(m + 5) > data_end)
			return count_drop(hook, st, VR_DROP_INVALID_PACKET);
		word = bpf_ntohl(*(__be32 *)m);
		/* one label, bottom of stack */
		if (!(word & 0x100))
			return count_drop(hook, st, VR_DROP_INVALID_LABEL);
		word >>= 12;
		id = bpf_map_lookup_elem(&vr_mpls, &word);
		if (!id)
			return count_drop(hook, st, VR_DROP_INVALID_LABEL);
		/* MPLS does not say what it carries: the IP version does */
		family = (m[4] >> 4) == 6 ? 6 : (m[4] >> 4) == 4 ? 4 : 0;
		if (!family)
			return count_drop(hook, st, VR_DROP_INVALID_PROTOCOL);
		eproto = bpf_htons(family == 6 ? ETH_P_IPV6 : ETH_P_IP);
		off = type == VR_TUN_MPLSOGRE ? VR_MPLSOGRE_INNER : VR_MPLSOUDP_INNER;
	}
	if (inner_l3(ctx, hook, off, family, pkt_len, &l3_len, key.dst, &proto, &first_frag))
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);

	nh_id = *id;
	nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id);
	if (!nh || nh->type == VR_NH_UNSPEC)
		return count_drop(hook, st, VR_DROP_INVALID_NEXTHOP);
	flow_vrf = nh->vrf;
	why = follow_vrf(&nh, &nh_id, &label, key.dst, family == 6);
	if (why)
		return count_drop(hook, st, why);
	if (!nh || nh->type == VR_NH_UNSPEC)
		return count_drop(hook, st, VR_DROP_INVALID_NEXTHOP);
	if (nh->type == VR_NH_TUNNEL || nh->type == VR_NH_COMPOSITE)
		return count_drop(hook, st, VR_DROP_UNSUPPORTED_NEXTHOP);

	iphl = family == 6 ? 40 : 20;
	if (family == 4) {
		struct iphdr *in = data + (off & 0x7f);

		data = ctx_data(ctx, hook);
		data_end = ctx_data_end(ctx, hook);
		in = data + (off & 0x7f);
		if ((void *)(in + 1) > data_end)
			return count_drop(hook, st, VR_DROP_INVALID_PACKET);
		iphl = in->ihl * 4;
	}
	l4_init(&l4, off + iphl, proto);
	l4.first = first_frag;
	if (nh->type == VR_NH_ENCAP) {
		const struct vr_vif *out = bpf_map_lookup_elem(&vr_vifs, &nh->oif_ifindex);

		if (out && vif_policy(out)) {
			int r;

			l4_parse(ctx, hook, &l4, first_frag, family == 6);
			data = ctx_data(ctx, hook);
			data_end = ctx_data_end(ctx, hook);
			if (family == 6) {
				struct ipv6hdr *in6 = data + (off & 0x7f);

				if ((void *)(in6 + 1) > data_end)
					return count_drop(hook, st, VR_DROP_INVALID_PACKET);
				flow_key6(&key, flow_vrf, in6, &l4);
			} else {
				struct iphdr *in4 = data + (off & 0x7f);

				if ((void *)(in4 + 1) > data_end)
					return count_drop(hook, st, VR_DROP_INVALID_PACKET);
				flow_key4(&key, flow_vrf, in4, &l4);
			}
			r = flow_stage(ctx, hook, vif, st, ifindex, &key, pkt_len, &f);
			if (r != VR_FLOW_CONTINUE)
				return r;
		}
	}
	/* to a vif on the TC hook, from XDP: TC decaps it (see run_nexthop) */
	if (hook == VR_HOOK_XDP && nh->type == VR_NH_ENCAP && (nh->oif_state & VR_VIF_F_SKB))
		return xdp_to_tc(st, pkt_len);

	switch (type) {
	case VR_TUN_MPLSOUDP:
		why = tun_strip(ctx, hook, VR_MPLSOUDP_INNER - ETH_HLEN, eproto, family == 6);
		break;
	case VR_TUN_MPLSOGRE:
		why = tun_strip(ctx, hook, VR_MPLSOGRE_INNER - ETH_HLEN, eproto, family == 6);
		break;
	default:
		why = tun_strip(ctx, hook, VR_VXLAN_INNER - ETH_HLEN, eproto, family == 6);
		break;
	}
	if (why)
		return count_drop(hook, st, VR_DROP_TUNNEL_DECAP_FAILED);
	tctr_inc(VR_TC_DECAP);
	l4.off -= off - ETH_HLEN;
	/* a tunnel is not followed here (checked above): only what ends on this host */
	return local_nexthop(ctx, hook, nh_id, nh, st, l3_len, pkt_len - (off - ETH_HLEN), family == 6, f, &l4);
}

#endif /* VR_DECAP_H */
