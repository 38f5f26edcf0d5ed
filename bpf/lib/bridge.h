/* bridge.h: L2 forwarding by the bridge (MAC) table, vr_bridge (layout v5),
 * on both hooks. EVPN style, the vRouter's rule:
 *
 *   - a frame from a pod whose destination MAC is the router's (the vif's
 *     own MAC: what the ARP / ND proxy answers with, what L3 forwarding
 *     rewrites to) is routed, as is one L3 takes (an ARP request or NS the
 *     proxy answers, a trapped packet);
 *   - otherwise, in a VRF with bridge entries, the frame is bridged:
 *     {vrf, dmac} -> next hop; broadcast, multicast and unknown unicast go
 *     by the VRF's flood entry {vrf, ff:ff:ff:ff:ff:ff} (a FLOOD composite);
 *   - a VRF with neither entry is not an L2 VRF: the frame goes on as
 *     before (a unicast frame to L3, the rest dropped under L3's reason).
 *
 * A bridged frame's next hop: ENCAP with VR_NH_F_L2 (a local vif: the frame
 * as it is, no MAC rewrite, no TTL decrement), TUNNEL VXLAN (the frame is
 * the inner frame, unchanged; the entry's label, when it has one, is the
 * VNI), a FLOOD COMPOSITE of those (a copy to each, on TC: XDP hands the
 * frame to TC; the entry's label is the VXLAN members' VNI), DISCARD. What comes from the overlay (a VXLAN packet whose VNI
 * leads to a VRF next hop with VR_NH_F_L2, lib/decap.h) is bridged by its
 * inner destination MAC to local vifs only (split horizon: never back into
 * a tunnel; a flood copies it to its local members only). Bridged frames
 * take no flow lookup.
 *
 * Encapsulation: XDP moves the head for any frame. TC keeps a GSO IP skb
 * GSO with bpf_skb_adjust_room (as lib/tunnel.h); that helper refuses a
 * non-IP skb (ARP), which gets its room with bpf_skb_change_head instead
 * (never GSO). An unresolved underlay neighbour: XDP hands the frame to TC,
 * TC encapsulates and waits with bpf_redirect_neigh, which takes IP skbs
 * only: a non-IP frame is then dropped (l2_no_neigh). */
#ifndef VR_BRIDGE_H
#define VR_BRIDGE_H

#include "ctx.h"
#include "hdr.h"
#include "counters.h"

/* VR_L2_TRY | reason: L3's answer for a frame from a pod it would drop
 * (multicast, an ARP / NS not proxied, not IP): vif_input bridges it in an
 * L2 VRF, or drops it under that reason */
#define VR_L2_TRY 0x40000000
#define VR_BRIDGE_NONE (-1) /* not an L2 VRF: the caller goes on */

static __always_inline int l2_or_drop(const enum vr_hook hook, const struct vr_vif *vif, struct vr_vif_stats *st,
				      __u32 reason)
{
#if VR_LAYOUT_VERSION >= 5
	if (vif->type == VR_VIF_TYPE_VIRTUAL)
		return VR_L2_TRY | reason;
#endif
	if (vif->type == VR_VIF_TYPE_FABRIC || vif->type == VR_VIF_TYPE_HOST)
		return count_to_host(hook, st);
	return count_drop(hook, st, reason);
}

#if VR_LAYOUT_VERSION >= 5
#include "tunnel.h"
#include "composite.h"

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return !((*(const __u32 *)a ^ *(const __u32 *)b) | (*(const __u16 *)(a + 4) ^ *(const __u16 *)(b + 4)));
}

static __always_inline int mac_is_bcast(const __u8 *m)
{
	return (m[0] & m[1] & m[2] & m[3] & m[4] & m[5]) == 0xff;
}

/* bridge_find: the entry of {vrf, mac}, else the VRF's flood entry, else 0 */
static __always_inline struct vr_bridge *bridge_find(__u32 vrf, const __u8 *mac)
{
	struct vr_bridge_key k = {};
	struct vr_bridge *be;

	k.vrf = vrf;
	mac_copy(k.mac, mac);
	be = bpf_map_lookup_elem(&vr_bridge, &k);
	if (be || mac_is_bcast(mac))
		return be;
	__builtin_memset(k.mac, 0xff, ETH_ALEN);
	return bpf_map_lookup_elem(&vr_bridge, &k);
}

/* l2_encap_out: an ENCAP next hop with VR_NH_F_L2: the frame as it is, out of the vif */
static __always_inline int l2_encap_out(void *ctx, const enum vr_hook hook, const struct vr_nh *nh,
					struct vr_vif_stats *st, __u32 pkt_len)
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
	if (nh->oif_mtu && ctx_exceeds_mtu(ctx, hook, pkt_len - ETH_HLEN, nh->oif_mtu))
		return count_drop(hook, st, VR_DROP_MTU_EXCEEDED);
	/* to a vif on the TC hook, from XDP: TC bridges it again and delivers an skb */
	if (hook == VR_HOOK_XDP && (nh->oif_state & VR_VIF_F_SKB))
		return xdp_to_tc(st, pkt_len);
	count_tx(nh->oif_vif, (__u64)pkt_len);
	/* a peer redirect does not look at the frame again: skb->protocol must be
	 * its ethertype already (a frame decapsulated on TC keeps the outer's) */
	if ((nh->oif_state & VR_VIF_F_PEER) &&
	    (hook != VR_HOOK_TC || ((struct __sk_buff *)ctx)->protocol == eth->h_proto)) {
		trace_out(nh->oif_vif, nh->oif_ifindex, hook == VR_HOOK_TC);
		return ctx_redirect_peer(ctx, hook, nh->oif_ifindex);
	}
	trace_out(nh->oif_vif, nh->oif_ifindex, 0);
	return ctx_redirect(ctx, hook, nh->oif_ifindex);
}

static __always_inline int l2_fib(void *ctx, struct bpf_fib_lookup *fibp, const struct vr_nh *nh, __u32 tot_len)
{
	__builtin_memset(fibp, 0, sizeof(*fibp));
	fibp->family = AF_INET;
	fibp->l4_protocol = IPPROTO_UDP;
	fibp->tot_len = tot_len;
	fibp->ifindex = nh->oif_ifindex;
	__builtin_memcpy(&fibp->ipv4_src, nh->tun_sip, 4);
	__builtin_memcpy(&fibp->ipv4_dst, nh->tun_dip, 4);
	return bpf_fib_lookup(ctx, fibp, sizeof(*fibp), BPF_FIB_LOOKUP_OUTPUT);
}

/* l2_tunnel_out: a VXLAN TUNNEL next hop: the whole frame becomes the inner
 * frame. label: the entry's VNI (VR_LABEL_NONE: the next hop's own). */
static __always_inline int l2_tunnel_out(void *ctx, const enum vr_hook hook, const struct vr_nh *nh,
					 struct vr_vif_stats *st, __u32 label, __u32 pkt_len)
{
	struct vr_twork *w = twork();
	struct bpf_fib_lookup *fibp;
	struct vr_tun_hdr *hp;
	__u32 len = pkt_len - ETH_HLEN, seg = pkt_len - ETH_HLEN, gso = 0;
	__u64 flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
		      BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN) | BPF_F_ADJ_ROOM_ENCAP_L2_ETH;
	int neigh = 0, rc, is_ip = 1;
	__be16 sport;
	void *data, *data_end;
	struct ethhdr *eth;

	if (nh->tun_type != VR_TUN_VXLAN || nh->tun_family != 4)
		return count_drop(hook, st, VR_DROP_UNSUPPORTED_NEXTHOP);
	if (!w)
		return count_drop(hook, st, VR_DROP_TUNNEL_ENCAP_FAILED);
	if (!(nh->oif_state & VR_VIF_F_ENABLED))
		return count_drop(hook, st, VR_DROP_INTERFACE_TX_DOWN);
	if (nh->oif_state & VR_VIF_F_LINK_DOWN)
		return count_drop(hook, st, VR_DROP_INTERFACE_LINK_DOWN);
	if (label == VR_LABEL_NONE)
		label = nh->label;
	if (hook == VR_HOOK_TC) {
		struct __sk_buff *skb = ctx;

		is_ip = skb->protocol == bpf_htons(ETH_P_IP) || skb->protocol == bpf_htons(ETH_P_IPV6);
		gso = skb->gso_size;
		if (gso)
			seg = gso + 20 + 8;
	}
	if (VR_TUN_VXLAN_LEN + len > 0xffff)
		return count_drop(hook, st, VR_DROP_TUNNEL_ENCAP_FAILED);
	fibp = &w->fib;
	hp = (struct vr_tun_hdr *)w->hdr;
	rc = l2_fib(ctx, fibp, nh, seg + VR_TUN_VXLAN_LEN);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		/* a bridge does not answer for the path: too big is dropped, but a
		 * GSO skb whose segments fit without the encapsulation has its
		 * gso_size lowered by it (as lib/tunnel.h) */
		if (!gso || seg > fibp->mtu_result)
			return count_drop(hook, st, VR_DROP_MTU_EXCEEDED);
		rc = l2_fib(ctx, fibp, nh, seg);
	} else if (gso) {
		flags |= BPF_F_ADJ_ROOM_FIXED_GSO;
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		if (hook == VR_HOOK_XDP)
			return xdp_to_tc(st, pkt_len);
		if (!is_ip)
			return count_drop(hook, st, VR_DROP_L2_NO_NEIGH);
		neigh = 1;
	} else if (rc == BPF_FIB_LKUP_RET_FWD_DISABLED) {
		return count_drop(hook, st, VR_DROP_FABRIC_FORWARDING_OFF);
	} else if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		return count_drop(hook, st, VR_DROP_TUNNEL_NO_ROUTE);
	}

	sport = l2_sport(ctx, hook);
	data = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	__builtin_memset(hp, 0, sizeof(*hp));
	tun_hdr_build(hp, nh, VR_TUN_VXLAN_LEN, len, label, 0, sport, eth->h_proto);
	/* the inner Ethernet header is the frame's own */
	mac_copy(hp->udp.vx.dmac, eth->h_dest);
	mac_copy(hp->udp.vx.smac, eth->h_source);
	if (is_ip) {
		rc = tun_push(ctx, hook, hp, VR_TUN_VXLAN_LEN, flags);
	} else if (hook == VR_HOOK_TC) {
		/* TC, not IP: room at the front; the frame's header stays as the inner one */
		rc = bpf_skb_change_head(ctx, VR_TUN_VXLAN_LEN, 0) ||
		     bpf_skb_store_bytes(ctx, ETH_HLEN, hp, VR_TUN_VXLAN_LEN - ETH_HLEN, 0);
	}
	if (rc)
		return count_drop(hook, st, VR_DROP_TUNNEL_ENCAP_FAILED);
	data = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return count_drop(hook, st, VR_DROP_TUNNEL_ENCAP_FAILED);
	eth->h_proto = bpf_htons(ETH_P_IP);
	count_tx(nh->oif_vif, (__u64)pkt_len + VR_TUN_VXLAN_LEN);
	tctr_inc(VR_TC_ENCAP);
	trace_out(nh->oif_vif, fibp->ifindex, 0);
	if (neigh) {
		struct bpf_redir_neigh *rn = &w->rn;

		/* bpf_redirect_neigh refuses a multicast destination: the
		 * frame's own (a broadcast) is still there until it writes */
		__builtin_memset(eth->h_dest, 0, ETH_ALEN);
		__builtin_memset(rn, 0, sizeof(*rn));
		rn->nh_family = AF_INET;
		rn->ipv4_nh = fibp->ipv4_dst;
		tctr_inc(VR_TC_NEIGH);
		return bpf_redirect_neigh(fibp->ifindex, rn, sizeof(*rn), 0);
	}
	mac_copy(eth->h_dest, fibp->dmac);
	mac_copy(eth->h_source, fibp->smac);
	return ctx_redirect(ctx, hook, fibp->ifindex);
}

#define VR_BR_FROM_FABRIC (1u << 0) /* the frame came out of a tunnel: local vifs only */

/* bridge_out: runs a bridged frame's next hop */
static __always_inline int bridge_out(void *ctx, const enum vr_hook hook, const struct vr_nh *nh,
				      struct vr_vif_stats *st, __u32 label, __u32 how)
{
	__u32 pkt_len = ctx_len(ctx, hook);

	switch (nh->type) {
	case VR_NH_ENCAP:
		/* an L3 next hop would rewrite the MACs: not a bridge port */
		if (!(nh->flags & VR_NH_F_L2))
			return count_drop(hook, st, VR_DROP_UNSUPPORTED_NEXTHOP);
		return l2_encap_out(ctx, hook, nh, st, pkt_len);
	case VR_NH_TUNNEL:
		if (how & VR_BR_FROM_FABRIC)
			return count_drop(hook, st, VR_DROP_UNSUPPORTED_NEXTHOP);
		return l2_tunnel_out(ctx, hook, nh, st, label, pkt_len);
	case VR_NH_DISCARD:
		return count_drop(hook, st, VR_DROP_DISCARD);
	case VR_NH_UNSPEC:
		return count_drop(hook, st, VR_DROP_INVALID_NEXTHOP);
	}
	return count_drop(hook, st, VR_DROP_UNSUPPORTED_NEXTHOP);
}

/* vr_bridge_xdp / vr_bridge_tc: bridge_out as global functions (checked
 * once per program, not at each place a frame is bridged from) */
__attribute__((noinline)) int vr_bridge_xdp(struct xdp_md *ctx, const struct vr_nh *nh, struct vr_vif_stats *st,
					     __u32 label, __u32 how)
{
	if (!nh)
		return XDP_DROP;
	return bridge_out(ctx, VR_HOOK_XDP, nh, st, label, how);
}

__attribute__((noinline)) int vr_bridge_tc(struct __sk_buff *ctx, const struct vr_nh *nh, struct vr_vif_stats *st,
					    __u32 label, __u32 how)
{
	if (!nh)
		return TC_ACT_SHOT;
	return bridge_out(ctx, VR_HOOK_TC, nh, st, label, how);
}

/* bridge_flood: a FLOOD composite: a copy to every member (lib/composite.h);
 * XDP cannot copy, its device's TC entry floods. A frame out of a tunnel
 * goes to the local members only (split horizon). */
static __always_inline int bridge_flood(void *ctx, const enum vr_hook hook, __u32 nh_id, const struct vr_nh *nh,
					struct vr_vif_stats *st, __u32 label, __u32 how)
{
	__u32 r;

	if (nh->comp_kind != VR_COMP_FLOOD)
		return count_drop(hook, st, VR_DROP_UNSUPPORTED_NEXTHOP);
	if (!nh->comp_count)
		return count_drop(hook, st, VR_DROP_COMPOSITE_EMPTY);
	if (hook == VR_HOOK_XDP)
		return xdp_to_tc(st, ctx_len(ctx, hook));
	/* no flow stage for a bridged frame: no L4 facts (l4w 0) */
	r = vr_flood_tc(ctx, nh_id, 0, label, VR_FLOOD_L2 | ((how & VR_BR_FROM_FABRIC) ? VR_FLOOD_LOCAL_ONLY : 0));
	if (r & VR_COMP_ERR)
		return count_drop(hook, st, r & 0xffff);
	return (int)r;
}

/* bridge_run: the next hop of entry be, on the frame as it is now */
static __always_inline int bridge_run(void *ctx, const enum vr_hook hook, const struct vr_bridge *be,
				      struct vr_vif_stats *st, __u32 how)
{
	__u32 nh_id = be->nh_id;
	__u32 label = (be->flags & VR_BE_F_LABEL) ? be->label : VR_LABEL_NONE;
	struct vr_nh *nh = bpf_map_lookup_elem(&vr_nexthops, &nh_id);

	trace_nexthop(nh_id);
	if (!nh)
		return count_drop(hook, st, VR_DROP_INVALID_NEXTHOP);
	if (nh->type == VR_NH_COMPOSITE)
		return bridge_flood(ctx, hook, nh_id, nh, st, label, how);
	if (hook == VR_HOOK_TC)
		return vr_bridge_tc(ctx, nh, st, label, how);
	return vr_bridge_xdp(ctx, nh, st, label, how);
}

/* bridge_frame: a frame from a pod, in its VRF; VR_BRIDGE_NONE when the VRF is not L2 */
static __always_inline int bridge_frame(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
					struct vr_vif_stats *st)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct ethhdr *eth = data;
	struct vr_bridge *be;

	if ((void *)(eth + 1) > data_end)
		return VR_BRIDGE_NONE;
	be = bridge_find(vif->vrf, eth->h_dest);
	if (!be)
		return VR_BRIDGE_NONE;
	return bridge_run(ctx, hook, be, st, 0);
}

#endif /* VR_LAYOUT_VERSION >= 5 */
#endif /* VR_BRIDGE_H */
