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
 * flood is a bridge's replication), but none back out of the vif the
 * packet came in by, and none into a tunnel for a frame that came out of
 * one (VR_FLOOD_LOCAL_ONLY, a bridge's split horizon):
 *   ENCAP    the destination and source MACs of the next hop are written,
 *            unless it is an L2 encap (VR_NH_F_L2: the frame's MACs kept);
 *   TUNNEL   VXLAN carries the whole frame as its inner frame (its own
 *            MACs and ethertype); MPLSoUDP / MPLSoGRE carry the IP packet
 *            (a non-IP frame is not copied to them). A non-IP frame (ARP)
 *            cannot be pushed and popped (bpf_skb_adjust_room refuses it):
 *            it goes to the local members first, then into room made once
 *            in front of it where each VXLAN member writes its headers.
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
	struct vr_twork *w = twork();
	__u8 *old;
	int l2 = nh->flags & VR_NH_F_L2, peer = nh->oif_state & VR_VIF_F_PEER;
	__be16 *proto;

	if (!(nh->oif_state & VR_VIF_F_ENABLED))
		return VR_DROP_INTERFACE_TX_DOWN;
	if (nh->oif_state & VR_VIF_F_LINK_DOWN)
		return VR_DROP_INTERFACE_LINK_DOWN;
	if (nh->oif_mtu && !skb->gso_size && skb->len > (__u32)nh->oif_mtu + ETH_HLEN)
		return VR_DROP_MTU_EXCEEDED;
	if (!w)
		return VR_DROP_FLOOD_COPY_FAILED;
	old = w->flood;
	proto = (__be16 *)(w->flood + ETH_HLEN);
	if (!l2) {
		if (bpf_skb_load_bytes(skb, 0, old, 2 * ETH_ALEN))
			return VR_DROP_INVALID_PACKET;
		/* dmac and smac sit side by side in the next hop */
		if (bpf_skb_store_bytes(skb, 0, nh->dmac, 2 * ETH_ALEN, 0))
			return VR_DROP_FLOOD_COPY_FAILED;
	}
	/* a peer redirect does not look at the frame again: skb->protocol must
	 * be its ethertype already (a frame decapsulated on TC keeps the outer's) */
	if (last && (nh->oif_state & VR_VIF_F_PEER) &&
	    (bpf_skb_load_bytes(skb, 2 * ETH_ALEN, proto, sizeof(*proto)) || *proto != skb->protocol))
		peer = 0;
	count_tx(nh->oif_vif, skb->len);
	trace_out(nh->oif_vif, nh->oif_ifindex, last && peer);
	/* a clone goes out of the host end of a pod's veth (its peer receives it) */
	if (flood_send(skb, nh->oif_ifindex, peer, last))
		return VR_DROP_FLOOD_COPY_FAILED;
	if (!l2 && !last && bpf_skb_store_bytes(skb, 0, old, 2 * ETH_ALEN, 0))
		return VR_FLOOD_BROKEN;
	return 0;
}

/* flood_fib: the underlay route and neighbour of a tunnel member's copy; 0 or a drop reason */
static __always_inline __u32 flood_fib(struct __sk_buff *skb, struct bpf_fib_lookup *fib, const struct vr_nh *nh,
				       __u32 tot_len)
{
	int rc;

	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET;
	fib->l4_protocol = nh->tun_type == VR_TUN_MPLSOGRE ? IPPROTO_GRE : IPPROTO_UDP;
	fib->tot_len = tot_len;
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
	return 0;
}

/* flood_outer_eth: the outer Ethernet header from the FIB's answer, written
 * from where it is (no copy on the stack: a flood's call chain is deep) */
static __always_inline int flood_outer_eth(struct __sk_buff *skb, struct vr_twork *w, const struct bpf_fib_lookup *fib)
{
	__be16 *proto = (__be16 *)(w->flood + ETH_HLEN);

	*proto = bpf_htons(ETH_P_IP);
	return bpf_skb_store_bytes(skb, 0, fib->dmac, ETH_ALEN, 0) ||
	       bpf_skb_store_bytes(skb, ETH_ALEN, fib->smac, ETH_ALEN, 0) ||
	       bpf_skb_store_bytes(skb, 2 * ETH_ALEN, proto, sizeof(*proto), 0);
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
	struct ethhdr *eth;
	__u32 n = tun_overhead(nh->tun_type);
	__u32 l3_len = skb->len - ETH_HLEN;
	__u8 ttl = 64;
	int rc;

	if (!n || nh->tun_family != 4)
		return VR_DROP_INVALID_NEXTHOP;
	if (!(nh->oif_state & VR_VIF_F_ENABLED))
		return VR_DROP_INTERFACE_TX_DOWN;
	if (nh->oif_state & VR_VIF_F_LINK_DOWN)
		return VR_DROP_INTERFACE_LINK_DOWN;
	/* adjust_room without the encap flags: a GSO packet would keep a GSO type that is not a tunnel's */
	if (!w || skb->gso_size || skb->len < ETH_HLEN || n + l3_len > 0xffff)
		return VR_DROP_FLOOD_COPY_FAILED;
	eth = (struct ethhdr *)w->flood;
	if (bpf_skb_load_bytes(skb, 0, eth, sizeof(*eth)))
		return VR_DROP_INVALID_PACKET;
	if (nh->tun_type != VR_TUN_VXLAN) {
		/* MPLS carries IP, with the inner TTL in its label entry */
		__u32 off = eth->h_proto == bpf_htons(ETH_P_IP) ? ETH_HLEN + 8 : ETH_HLEN + 7;

		if (eth->h_proto != bpf_htons(ETH_P_IP) && eth->h_proto != bpf_htons(ETH_P_IPV6))
			return VR_DROP_FLOOD_COPY_FAILED;
		if (bpf_skb_load_bytes(skb, off, &ttl, 1))
			return VR_DROP_INVALID_PACKET;
	}
	if (label == VR_LABEL_NONE)
		label = nh->label;
	fib = &w->fib;
	hp = (struct vr_tun_hdr *)w->hdr;
	__builtin_memset(hp, 0, sizeof(*hp));
	rc = flood_fib(skb, fib, nh, n + l3_len);
	if (rc)
		return rc;

	tun_hdr_build(hp, nh, n, l3_len, label, ttl, bpf_htons(VR_TUN_SPORT_MIN | (hash & 0x3fff)), eth->h_proto);
	if (nh->tun_type == VR_TUN_VXLAN) {
		mac_copy(hp->udp.vx.dmac, eth->h_dest);
		mac_copy(hp->udp.vx.smac, eth->h_source);
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
	if (flood_outer_eth(skb, w, fib))
		return VR_FLOOD_BROKEN;
	count_tx(nh->oif_vif, skb->len);
	tctr_inc(VR_TC_ENCAP);
	trace_out(nh->oif_vif, fib->ifindex, 0);
	rc = flood_send(skb, fib->ifindex, 0, last);
	if (last)
		return rc ? VR_DROP_FLOOD_COPY_FAILED : 0;
	/* back as it was for the next member */
	if (bpf_skb_adjust_room(skb, -(int)n, BPF_ADJ_ROOM_MAC, 0) || bpf_skb_store_bytes(skb, 0, eth, sizeof(*eth), 0))
		return VR_FLOOD_BROKEN;
	return rc ? VR_DROP_FLOOD_COPY_FAILED : 0;
}

/* a copy's word (vr_flood_copy, vr_flood_vxlan): the member's slot and the
 * slot of the member that takes the packet itself; the callee compares them,
 * so the caller's loop keeps no range of the last slot (the verifier's
 * states would not prune) */
#define VR_FLOOD_W(slot, last) ((slot) | ((last) << 8))
#define VR_FLOOD_IS_LAST(w)    (((w) & 0xff) == (((w) >> 8) & 0xff))
/* a copy's result when the packet itself went (the last member) */
#define VR_FLOOD_TOOK 0x10000

/* vr_flood_copy: one member's copy (TC); 0, VR_FLOOD_TOOK, a drop reason,
 * or VR_FLOOD_BROKEN. A global function: checked once per program. */
__attribute__((noinline)) int vr_flood_copy(struct __sk_buff *skb, __u32 nh_id, __u32 w)
{
	const struct vr_nh *nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id);
	struct vr_twork *tw = twork();
	__u32 last = VR_FLOOD_IS_LAST(w), r;

	if (!nh || nh->type == VR_NH_UNSPEC)
		return VR_DROP_INVALID_NEXTHOP;
	if (!tw)
		return VR_DROP_FLOOD_COPY_FAILED;
	switch (nh->type) {
	case VR_NH_ENCAP:
		r = flood_encap(skb, nh, last);
		break;
	case VR_NH_TUNNEL:
		r = flood_tunnel(skb, nh, tw->flood_label, tw->flood_hash, last);
		break;
	case VR_NH_COMPOSITE:
		return VR_DROP_COMPOSITE_NESTED;
	default:
		return VR_DROP_UNSUPPORTED_NEXTHOP;
	}
	return (int)(!r && last ? VR_FLOOD_TOOK : r);
}

/* flood_vxlan_room: a VXLAN member's copy of a non-IP frame (an ARP
 * broadcast), which bpf_skb_adjust_room refuses: the caller made the room
 * for the outer headers once, in front of the frame (bpf_skb_change_head),
 * and each member writes its whole outer headers there (its FIB's MACs, its
 * addresses, VNI), over the last member's: nothing to put back. MPLS carries
 * no such frame. */
static __always_inline __u32 flood_vxlan_room(struct __sk_buff *skb, const struct vr_nh *nh, __u32 label,
					      __u32 hash, __u32 last)
{
	struct vr_twork *w = twork();
	struct bpf_fib_lookup *fib;
	struct vr_tun_hdr *hp;
	__u32 l3_len;
	__u32 rc;

	if (nh->type != VR_NH_TUNNEL)
		return VR_DROP_UNSUPPORTED_NEXTHOP;
	if (nh->tun_type != VR_TUN_VXLAN || nh->tun_family != 4 || !w || skb->len < VR_TUN_VXLAN_LEN + ETH_HLEN)
		return VR_DROP_FLOOD_COPY_FAILED;
	if (!(nh->oif_state & VR_VIF_F_ENABLED))
		return VR_DROP_INTERFACE_TX_DOWN;
	if (nh->oif_state & VR_VIF_F_LINK_DOWN)
		return VR_DROP_INTERFACE_LINK_DOWN;
	l3_len = skb->len - VR_TUN_VXLAN_LEN - ETH_HLEN;
	if (VR_TUN_VXLAN_LEN + l3_len > 0xffff)
		return VR_DROP_FLOOD_COPY_FAILED;
	if (label == VR_LABEL_NONE)
		label = nh->label;
	fib = &w->fib;
	hp = (struct vr_tun_hdr *)w->hdr;
	/* the headers first: fewer values live across the FIB lookup (a small stack frame) */
	__builtin_memset(hp, 0, sizeof(*hp));
	tun_hdr_build(hp, nh, VR_TUN_VXLAN_LEN, l3_len, label, 0, bpf_htons(VR_TUN_SPORT_MIN | (hash & 0x3fff)), 0);
	rc = flood_fib(skb, fib, nh, VR_TUN_VXLAN_LEN + l3_len);
	if (rc)
		return rc;
	/* IP, UDP and VXLAN: the inner Ethernet header is the frame's own, after them */
	if (flood_outer_eth(skb, w, fib) || bpf_skb_store_bytes(skb, ETH_HLEN, hp, VR_TUN_VXLAN_LEN - ETH_HLEN, 0))
		return VR_FLOOD_BROKEN;
	count_tx(nh->oif_vif, skb->len);
	tctr_inc(VR_TC_ENCAP);
	trace_out(nh->oif_vif, fib->ifindex, 0);
	return flood_send(skb, fib->ifindex, 0, last) ? VR_DROP_FLOOD_COPY_FAILED : 0;
}

/* vr_flood_vxlan: flood_vxlan_room as a global function (answers as vr_flood_copy) */
__attribute__((noinline)) int vr_flood_vxlan(struct __sk_buff *skb, __u32 nh_id, __u32 w)
{
	const struct vr_nh *nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id);
	struct vr_twork *tw = twork();
	__u32 last = VR_FLOOD_IS_LAST(w), r;

	if (!nh)
		return VR_DROP_INVALID_NEXTHOP;
	if (!tw)
		return VR_DROP_FLOOD_COPY_FAILED;
	r = flood_vxlan_room(skb, nh, tw->flood_label, tw->flood_hash, last);
	return (int)(!r && last ? VR_FLOOD_TOOK : r);
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

#define VR_FLOOD_LOCAL_ONLY (1u << 0) /* split horizon: a frame out of a tunnel goes to no tunnel member */
#define VR_FLOOD_L2         (1u << 1) /* a bridged frame: a VXLAN copy's source port from its MACs (l2_sport) */

/* a flood pass's members (flood_pass): every one in slot order (an IP
 * frame; tunnels left out with VR_FLOOD_LOCAL_ONLY), the local ones, or
 * the tunnels into the room made for them */
#define VR_FPASS_ALL      (0u << 8)
#define VR_FPASS_ALL_LOCAL (1u << 8)
#define VR_FPASS_LOCAL    (2u << 8)
#define VR_FPASS_TUNNELS  (3u << 8)
#define VR_FPASS_NOLAST   0xffu /* no member takes the packet itself in this pass */
/* a pass's answer */
#define VR_FPASS_SENT     1
#define VR_FPASS_REDIRECT 2
#define VR_FPASS_BROKEN   4

/* flood_member: the member next hop in slot i of the block at first; its id in *idp */
static __always_inline const struct vr_nh *flood_member(__u32 first, __u32 i, __u32 *idp)
{
	__u32 slot = first + i;
	__u32 *id = bpf_map_lookup_elem(&vr_comp, &slot);

	if (!id)
		return 0;
	*idp = *id;
	return bpf_map_lookup_elem(&vr_nexthops, id);
}

/* flood_back: whether member m is the vif the frame came in by (a bridge
 * does not flood a frame back out of its port) */
static __always_inline int flood_back(const struct vr_nh *m, __u32 in_ifindex)
{
	return m && m->type == VR_NH_ENCAP && m->oif_ifindex == in_ifindex;
}

/* vr_flood_scan: where FLOOD composite nh_id's copies end: the slot of its
 * last local member (bits 0-7; not the vif of in_ifindex), of its last
 * tunnel (8-15), its tunnels' count (16-23); 0xff: none. A global
 * function: checked once. */
__attribute__((noinline)) int vr_flood_scan(__u32 nh_id, __u32 in_ifindex)
{
	const struct vr_nh *nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id), *m;
	__u32 i, id = 0, loc = VR_FPASS_NOLAST, tun = VR_FPASS_NOLAST, ntun = 0;

	if (!nh)
		return 0xffff;
	for (i = 0; i < VR_COMP_MEMBERS; i++) {
		if (i >= nh->comp_count)
			break;
		m = flood_member(nh->comp_first, i, &id);
		if (m && m->type == VR_NH_TUNNEL) {
			tun = i;
			ntun++;
		} else if (!flood_back(m, in_ifindex)) {
			loc = i;
		}
	}
	return (int)(loc | (tun << 8) | (ntun << 16));
}

/* flood_pass: one pass over FLOOD composite nh's members (w: the pass,
 * VR_FPASS_*, and the slot of the member that takes the packet itself);
 * VR_FPASS_* bits. Per-copy failures are counted here. Inlined: one more
 * call level would pass the stack's 512 bytes. */
static __always_inline __u32 flood_pass(struct __sk_buff *skb, const struct vr_nh *nh, __u32 w)
{
	const struct vr_nh *m;
	__u32 i, id = 0, r, sent = 0, pass = w & 0xf00, last = w & 0xff;
	int tun;

	for (i = 0; i < VR_COMP_MEMBERS; i++) {
		if (i >= nh->comp_count)
			break;
		id = 0xffffffff; /* an empty slot: invalid_nexthop */
		m = flood_member(nh->comp_first, i, &id);
		tun = m && m->type == VR_NH_TUNNEL;
		if (tun ? pass == VR_FPASS_LOCAL || pass == VR_FPASS_ALL_LOCAL : pass == VR_FPASS_TUNNELS)
			continue;
		if (flood_back(m, skb->ingress_ifindex))
			continue;
		if (pass == VR_FPASS_TUNNELS)
			r = vr_flood_vxlan(skb, id, VR_FLOOD_W(i, last));
		else
			r = vr_flood_copy(skb, id, VR_FLOOD_W(i, last));
		if (r == VR_FLOOD_BROKEN)
			return VR_FPASS_BROKEN | sent;
		if (r == VR_FLOOD_TOOK)
			return VR_FPASS_REDIRECT | VR_FPASS_SENT;
		if (r) {
			count_drop(VR_HOOK_TC, 0, r);
			continue;
		}
		sent = VR_FPASS_SENT;
	}
	return sent;
}

/* vr_flood_tc: runs FLOOD composite nh_id (TC). label: the route's (or the
 * bridge entry's VNI), for tunnel members; flags: VR_FLOOD_*. The verdict
 * (TC_ACT_REDIRECT: the last member took the packet; TC_ACT_SHOT: copies
 * went out, not the last), or VR_COMP_ERR | reason when no copy went out.
 *
 * An IP frame is copied in slot order, each tunnel copy pushed and popped
 * (bpf_skb_adjust_room). A non-IP frame (ARP), which that helper refuses,
 * goes to the local members first, as it is, then to the tunnel members:
 * room for the VXLAN headers made once (bpf_skb_change_head), each member
 * writing its own (vr_flood_vxlan). With VR_FLOOD_LOCAL_ONLY tunnel members
 * are left out, and an encap member out of the vif the packet came in by
 * always is (not counted: no copy was due). */
__attribute__((noinline)) int vr_flood_tc(struct __sk_buff *skb, __u32 nh_id, __u32 l4w, __u32 label, __u32 flags)
{
	const struct vr_nh *nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id);
	__u32 hash, scan, loc, tun, ntun, r;
	struct vr_twork *tw;
	struct ethhdr *eth;
	__be16 proto;
	int is_ip;

	if (!nh)
		return VR_COMP_ERR | VR_DROP_INVALID_NEXTHOP;
	if (!nh->comp_count)
		return VR_COMP_ERR | VR_DROP_COMPOSITE_EMPTY;
	eth = (void *)(long)skb->data;
	if ((void *)(eth + 1) > (void *)(long)skb->data_end)
		return VR_COMP_ERR | VR_DROP_INVALID_PACKET;
	proto = eth->h_proto;
	/* adjust_room looks at skb->protocol (a frame decapsulated on TC keeps the outer's) */
	is_ip = (proto == bpf_htons(ETH_P_IP) || proto == bpf_htons(ETH_P_IPV6)) &&
		(skb->protocol == bpf_htons(ETH_P_IP) || skb->protocol == bpf_htons(ETH_P_IPV6));
	hash = (flags & VR_FLOOD_L2) ? bpf_ntohs(l2_sport(skb, VR_HOOK_TC)) : comp_hash(skb, VR_HOOK_TC, l4w);
	tw = twork();
	if (!tw)
		return VR_COMP_ERR | VR_DROP_FLOOD_COPY_FAILED;
	/* the copies read them there: fewer values for this frame to keep */
	tw->flood_label = label;
	tw->flood_hash = hash;
	scan = vr_flood_scan(nh_id, skb->ingress_ifindex);
	loc = scan & 0xff;
	tun = (scan >> 8) & 0xff;
	ntun = (scan >> 16) & 0xff;
	if (flags & VR_FLOOD_LOCAL_ONLY) {
		tun = VR_FPASS_NOLAST;
		ntun = 0;
	}
	/* the last member that gets a copy takes the packet itself */
	if (is_ip)
		r = flood_pass(skb, nh,
				  ((flags & VR_FLOOD_LOCAL_ONLY) ? VR_FPASS_ALL_LOCAL : VR_FPASS_ALL) |
					  (tun != VR_FPASS_NOLAST && (loc == VR_FPASS_NOLAST || tun > loc) ? tun : loc));
	else
		r = flood_pass(skb, nh, VR_FPASS_LOCAL | (ntun ? VR_FPASS_NOLAST : loc));
	if (r & VR_FPASS_BROKEN)
		return VR_COMP_ERR | VR_DROP_FLOOD_COPY_FAILED;
	if (r & VR_FPASS_REDIRECT)
		return TC_ACT_REDIRECT;
	if (!is_ip && ntun) {
		/* not IP, to the tunnels: the room for their headers, once */
		if (bpf_skb_change_head(skb, VR_TUN_VXLAN_LEN, 0)) {
			count_drop(VR_HOOK_TC, 0, VR_DROP_FLOOD_COPY_FAILED);
		} else {
			r |= flood_pass(skb, nh, VR_FPASS_TUNNELS | tun);
			if (r & VR_FPASS_REDIRECT)
				return TC_ACT_REDIRECT;
		}
	}
	/* the last member's copy failed: the packet itself goes no further */
	return (r & VR_FPASS_SENT) ? TC_ACT_SHOT : (int)(VR_COMP_ERR | VR_DROP_FLOOD_COPY_FAILED);
}

#endif /* VR_COMPOSITE_H */
