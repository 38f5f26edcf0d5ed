/* composite.h: the COMPOSITE next hop (layout v5), on both hooks.
 *
 * ECMP: one member per flow. The flow hash (lib/tunnel.h flow_hash: the
 * same 5-tuple hash as a tunnel's UDP source port) picks one of the
 * composite's VR_COMP_BUCKETS buckets, which names the member; the member
 * (ENCAP or TUNNEL; a route's label still applies to a tunnel member) is
 * then run as if the route had named it. The daemon keeps a bucket on its
 * member while that member stays, so a flow stays on its path; removing a
 * member moves only that member's flows. XDP and TC hash alike, so a
 * packet XDP hands to TC takes the same member there.
 *
 * FLOOD: a copy to every member, the frame as it is (no TTL change: a
 * flood is a bridge's replication):
 *   ENCAP    the destination and source MACs of the next hop are written,
 *            unless it is an L2 encap (VR_NH_F_L2: the frame's MACs kept);
 *   TUNNEL   VXLAN carries the whole frame as its inner frame (its own
 *            MACs and ethertype); MPLSoUDP / MPLSoGRE carry the IP packet
 *            (a non-IP frame is not copied to them).
 * Only TC can copy a packet (bpf_clone_redirect), so XDP hands a flooded
 * packet to its device's TC entry (VR_XDP_TO_TC). Every member but the last
 * gets a clone: the frame is rewritten for the member (MACs, or the outer
 * headers pushed), cloned out, and put back as it was; the last member
 * takes the packet itself (bpf_redirect). A member whose copy fails is
 * counted under its reason and skipped; the packet is dropped only when no
 * copy went out. A flood copy does not wait for an unresolved underlay
 * neighbour (flood_no_neigh) nor answer "too big" (mtu_exceeded), and GSO
 * packets are not copied to tunnels (flood_copy_failed).
 *
 * Each copy is made by a global function (vr_flood_copy): the verifier
 * checks it once, not once per member of the bounded loop. */
#ifndef VR_COMPOSITE_H
#define VR_COMPOSITE_H

#include "ctx.h"
#include "counters.h"
#include "tunnel.h"

/* a copy's result when the packet could not be put back: the flood stops */
#define VR_FLOOD_BROKEN 0xffff

/* ecmp_member: the member of ECMP composite nh for a flow's hash; 0 or a drop reason */
static __always_inline __u32 ecmp_member(const struct vr_nh *nh, __u32 hash, __u32 *member)
{
	__u32 slot;
	__u32 *id;

	if (!nh->comp_count)
		return VR_DROP_COMPOSITE_EMPTY;
	slot = nh->comp_first + VR_COMP_MEMBERS + hash % VR_COMP_BUCKETS;
	id = bpf_map_lookup_elem(&vr_comp, &slot);
	if (!id)
		return VR_DROP_INVALID_NEXTHOP;
	*member = *id;
	return 0;
}

/* flood_send: the copy out of ifindex (a clone), or, for the last member,
 * the packet itself (the caller returns TC_ACT_REDIRECT). A trace run sends
 * nothing. */
static __always_inline int flood_send(struct __sk_buff *skb, __u32 ifindex, int peer, __u32 last)
{
#ifdef VR_TRACE
	(void)skb;
	(void)ifindex;
	(void)peer;
	(void)last;
	return 0;
#else
	if (last)
		return (peer ? bpf_redirect_peer(ifindex, 0) : bpf_redirect(ifindex, 0)) == TC_ACT_REDIRECT ? 0 : -1;
	return bpf_clone_redirect(skb, ifindex, 0) ? -1 : 0;
#endif
}

/* flood_encap: an ENCAP member's copy: the next hop's MACs (not for an L2
 * encap), out of its vif; the MACs are put back for the next member. Writes
 * go through helpers: after a clone the skb's data is shared with it, and
 * only the helpers unshare it first. */
static __always_inline __u32 flood_encap(struct __sk_buff *skb, const struct vr_nh *nh, __u32 last)
{
	__u8 old[2 * ETH_ALEN];
	int l2 = nh->flags & VR_NH_F_L2;

	if (!(nh->oif_state & VR_VIF_F_ENABLED))
		return VR_DROP_INTERFACE_TX_DOWN;
	if (nh->oif_mtu && !skb->gso_size && skb->len > (__u32)nh->oif_mtu + ETH_HLEN)
		return VR_DROP_MTU_EXCEEDED;
	if (!l2) {
		if (bpf_skb_load_bytes(skb, 0, old, sizeof(old)))
			return VR_DROP_INVALID_PACKET;
		/* dmac and smac sit side by side in the next hop */
		if (bpf_skb_store_bytes(skb, 0, nh->dmac, 2 * ETH_ALEN, 0))
			return VR_DROP_FLOOD_COPY_FAILED;
	}
	count_tx(nh->oif_vif, skb->len);
	trace_out(nh->oif_vif, nh->oif_ifindex, last && (nh->oif_state & VR_VIF_F_PEER));
	/* a clone goes out of the host end of a pod's veth (its peer receives it) */
	if (flood_send(skb, nh->oif_ifindex, nh->oif_state & VR_VIF_F_PEER, last))
		return VR_DROP_FLOOD_COPY_FAILED;
	if (!l2 && !last && bpf_skb_store_bytes(skb, 0, old, sizeof(old), 0))
		return VR_FLOOD_BROKEN;
	return 0;
}

/* flood_tunnel: a TUNNEL member's copy: the outer headers pushed after the
 * Ethernet header, which becomes the outer one (the FIB's MACs); the
 * inner frame of VXLAN is the original Ethernet header. Stripped again
 * for the next member. */
static __always_inline __u32 flood_tunnel(struct __sk_buff *skb, const struct vr_nh *nh, __u32 label, __u32 hash,
					  __u32 last)
{
	struct vr_twork *w = twork();
	struct bpf_fib_lookup *fib;
	struct vr_tun_hdr *hp;
	struct ethhdr eth, outer;
	__u32 n = tun_overhead(nh->tun_type);
	__u32 l3_len = skb->len - ETH_HLEN;
	__u8 ttl = 64;
	int rc;

	if (!n || nh->tun_family != 4)
		return VR_DROP_INVALID_NEXTHOP;
	if (!(nh->oif_state & VR_VIF_F_ENABLED))
		return VR_DROP_INTERFACE_TX_DOWN;
	/* adjust_room without the encap flags: a GSO packet would keep a GSO type that is not a tunnel's */
	if (!w || skb->gso_size || skb->len < ETH_HLEN || n + l3_len > 0xffff)
		return VR_DROP_FLOOD_COPY_FAILED;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)))
		return VR_DROP_INVALID_PACKET;
	if (nh->tun_type != VR_TUN_VXLAN) {
		/* MPLS carries IP, with the inner TTL in its label entry */
		__u32 off = eth.h_proto == bpf_htons(ETH_P_IP) ? ETH_HLEN + 8 : ETH_HLEN + 7;

		if (eth.h_proto != bpf_htons(ETH_P_IP) && eth.h_proto != bpf_htons(ETH_P_IPV6))
			return VR_DROP_FLOOD_COPY_FAILED;
		if (bpf_skb_load_bytes(skb, off, &ttl, 1))
			return VR_DROP_INVALID_PACKET;
	}
	if (label == VR_LABEL_NONE)
		label = nh->label;
	fib = &w->fib;
	hp = (struct vr_tun_hdr *)w->hdr;
	__builtin_memset(fib, 0, sizeof(*fib));
	__builtin_memset(hp, 0, sizeof(*hp));
	fib->family = AF_INET;
	fib->l4_protocol = nh->tun_type == VR_TUN_MPLSOGRE ? IPPROTO_GRE : IPPROTO_UDP;
	fib->tot_len = n + l3_len;
	fib->ifindex = nh->oif_ifindex;
	__builtin_memcpy(&fib->ipv4_src, nh->tun_sip, 4);
	__builtin_memcpy(&fib->ipv4_dst, nh->tun_dip, 4);
	rc = bpf_fib_lookup(skb, fib, sizeof(*fib), BPF_FIB_LOOKUP_OUTPUT);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return VR_DROP_MTU_EXCEEDED;
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return VR_DROP_FLOOD_NO_NEIGH;
	if (rc == BPF_FIB_LKUP_RET_FWD_DISABLED)
		return VR_DROP_FABRIC_FORWARDING_OFF;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return VR_DROP_TUNNEL_NO_ROUTE;

	tun_hdr_build(hp, nh, n, l3_len, label, ttl, bpf_htons(VR_TUN_SPORT_MIN | (hash & 0x3fff)), eth.h_proto);
	if (nh->tun_type == VR_TUN_VXLAN) {
		mac_copy(hp->udp.vx.dmac, eth.h_dest);
		mac_copy(hp->udp.vx.smac, eth.h_source);
	}
	switch (nh->tun_type) {
	case VR_TUN_MPLSOUDP:
		rc = tun_push(skb, VR_HOOK_TC, hp, VR_TUN_MPLSOUDP_LEN, 0);
		break;
	case VR_TUN_MPLSOGRE:
		rc = tun_push(skb, VR_HOOK_TC, hp, VR_TUN_MPLSOGRE_LEN, 0);
		break;
	default:
		rc = tun_push(skb, VR_HOOK_TC, hp, VR_TUN_VXLAN_LEN, 0);
		break;
	}
	if (rc)
		return VR_DROP_FLOOD_COPY_FAILED;
	mac_copy(outer.h_dest, fib->dmac);
	mac_copy(outer.h_source, fib->smac);
	outer.h_proto = bpf_htons(ETH_P_IP);
	if (bpf_skb_store_bytes(skb, 0, &outer, sizeof(outer), 0))
		return VR_FLOOD_BROKEN;
	count_tx(nh->oif_vif, skb->len);
	tctr_inc(VR_TC_ENCAP);
	trace_out(nh->oif_vif, fib->ifindex, 0);
	rc = flood_send(skb, fib->ifindex, 0, last);
	if (last)
		return rc ? VR_DROP_FLOOD_COPY_FAILED : 0;
	/* back as it was for the next member */
	if (bpf_skb_adjust_room(skb, -(int)n, BPF_ADJ_ROOM_MAC, 0) || bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0))
		return VR_FLOOD_BROKEN;
	return rc ? VR_DROP_FLOOD_COPY_FAILED : 0;
}

/* vr_flood_copy: one member's copy (TC); 0, a drop reason, or
 * VR_FLOOD_BROKEN. A global function: checked once per program. */
__attribute__((noinline)) int vr_flood_copy(struct __sk_buff *skb, __u32 nh_id, __u32 label, __u32 hash, __u32 last)
{
	const struct vr_nh *nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id);

	if (!nh || nh->type == VR_NH_UNSPEC)
		return VR_DROP_INVALID_NEXTHOP;
	switch (nh->type) {
	case VR_NH_ENCAP:
		return flood_encap(skb, nh, last);
	case VR_NH_TUNNEL:
		return flood_tunnel(skb, nh, label, hash, last);
	case VR_NH_COMPOSITE:
		return VR_DROP_COMPOSITE_NESTED;
	}
	return VR_DROP_UNSUPPORTED_NEXTHOP;
}

/* VR_COMP_ERR: a composite global function's answer that is a drop reason (low bits) */
#define VR_COMP_ERR 0x80000000u

/* comp_l4: what a composite global function needs of the packet's L4 facts, in one word */
static __always_inline __u32 comp_l4(const struct vr_l4 *l4, int is_v6)
{
	return (l4->off & 0xffff) | ((__u32)l4->proto << 16) | ((__u32)(l4->first ? 1 : 0) << 24) |
	       ((__u32)(is_v6 ? 1 : 0) << 25);
}

/* comp_hash: the flow hash from comp_l4's word (the L4 header parsed here) */
static __always_inline __u32 comp_hash(void *ctx, const enum vr_hook hook, __u32 l4w)
{
	struct vr_l4 l4;
	int is_v6 = (l4w >> 25) & 1;

	l4_init(&l4, l4w & 0xffff, (l4w >> 16) & 0xff);
	l4_parse(ctx, hook, &l4, (l4w >> 24) & 1, is_v6);
	return flow_hash(ctx, hook, is_v6, &l4);
}

/* ecmp_pick: the member next hop of ECMP composite nh_id for this packet, or VR_COMP_ERR | reason */
static __always_inline __u32 ecmp_pick(void *ctx, const enum vr_hook hook, __u32 nh_id, __u32 l4w)
{
	const struct vr_nh *nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id), *m;
	__u32 member = 0, why;

	if (!nh || nh->comp_kind != VR_COMP_ECMP)
		return VR_COMP_ERR | VR_DROP_UNSUPPORTED_NEXTHOP;
	why = ecmp_member(nh, comp_hash(ctx, hook, l4w), &member);
	if (why)
		return VR_COMP_ERR | why;
	m = bpf_map_lookup_elem(&vr_nexthops, &member);
	if (m && m->type == VR_NH_COMPOSITE)
		return VR_COMP_ERR | VR_DROP_COMPOSITE_NESTED;
	return member;
}

/* vr_ecmp_xdp / vr_ecmp_tc: ecmp_pick as global functions (checked once per program) */
__attribute__((noinline)) int vr_ecmp_xdp(struct xdp_md *ctx, __u32 nh_id, __u32 l4w)
{
	return (int)ecmp_pick(ctx, VR_HOOK_XDP, nh_id, l4w);
}

__attribute__((noinline)) int vr_ecmp_tc(struct __sk_buff *ctx, __u32 nh_id, __u32 l4w)
{
	return (int)ecmp_pick(ctx, VR_HOOK_TC, nh_id, l4w);
}

/* vr_flood_tc: runs FLOOD composite nh_id (TC). label: the route's, for
 * tunnel members. The verdict (TC_ACT_REDIRECT: the last member took the
 * packet; TC_ACT_SHOT: copies went out, not the last), or VR_COMP_ERR |
 * reason when no copy went out. Per-copy failures are counted here. */
__attribute__((noinline)) int vr_flood_tc(struct __sk_buff *skb, __u32 nh_id, __u32 l4w, __u32 label)
{
	const struct vr_nh *nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id);
	__u32 i, n, first, sent = 0, hash;

	if (!nh)
		return VR_COMP_ERR | VR_DROP_INVALID_NEXTHOP;
	n = nh->comp_count;
	first = nh->comp_first;
	if (!n)
		return VR_COMP_ERR | VR_DROP_COMPOSITE_EMPTY;
	if (n > VR_COMP_MEMBERS)
		n = VR_COMP_MEMBERS;
	hash = comp_hash(skb, VR_HOOK_TC, l4w);
	for (i = 0; i < VR_COMP_MEMBERS; i++) {
		__u32 slot = first + i, r;
		__u32 *id;

		if (i >= n)
			break;
		id = bpf_map_lookup_elem(&vr_comp, &slot);
		if (!id)
			break;
		r = vr_flood_copy(skb, *id, label, hash, i + 1 == n);
		if (r == VR_FLOOD_BROKEN)
			return VR_COMP_ERR | VR_DROP_FLOOD_COPY_FAILED;
		if (r) {
			count_drop(VR_HOOK_TC, 0, r);
			continue;
		}
		sent = 1;
		if (i + 1 == n)
			return TC_ACT_REDIRECT;
	}
	/* the last member's copy failed: the packet itself goes no further */
	return sent ? TC_ACT_SHOT : (int)(VR_COMP_ERR | VR_DROP_FLOOD_COPY_FAILED);
}

#endif /* VR_COMPOSITE_H */
