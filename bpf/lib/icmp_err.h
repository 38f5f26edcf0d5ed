/* icmp_err.h: ICMP "fragmentation needed" (IPv4, type 3 code 4) and ICMPv6
 * "packet too big" (type 2) sent back to the sender of a packet that is too
 * big for a tunnel's path, on both hooks. The packet itself is turned into
 * the answer (a datapath cannot make a new one) and leaves through the vif
 * it arrived on, as the proxy answers do (lib/proxy.h).
 *
 * The answer: Ethernet (to the sender's MAC, from the vif's) + IP from the
 * vif's own address of that family (else the packet's destination) to the
 * packet's source + ICMP with the MTU + a quote of the packet's IP header
 * (IPv4 without options, or the fixed IPv6 header) and 20 bytes after it
 * (the TCP header with its sequence number, which a TCP sender checks, or
 * a UDP header and more).
 *
 * TC: the packet is cut to its quote (bpf_skb_change_tail: a GSO skb is
 * no longer GSO), then the new headers are inserted after the Ethernet
 * header (bpf_skb_adjust_room), so the quote keeps its place in the skb. A
 * pod's skb may be CHECKSUM_PARTIAL: whoever finishes it later writes the
 * L4 checksum of the *quote* (csum_start still points at it). The quote's
 * L4 checksum field is therefore set to the value v for which the quote's
 * L4 bytes sum to the same whether that happens or not (R + v = ~v, so v =
 * rotr1(~R), R the sum without the field): the ICMP checksum holds in both
 * cases. A CHECKSUM_COMPLETE skb is CHECKSUM_NONE once cut
 * (__skb_trim_rcsum); the new bytes are stored with BPF_F_RECOMPUTE_CSUM
 * all the same. XDP: the frame is trimmed and its head grown
 * (bpf_xdp_adjust_tail / _head). */
#ifndef VR_ICMP_ERR_H
#define VR_ICMP_ERR_H

#include <linux/in.h>
#include "ctx.h"
#include "hdr.h"
#include "counters.h"

#define VR_QUOTE_L4 20 /* bytes quoted after the IP header */

struct vr_icmp4_err {
	struct iphdr ip;
	__u8   type;
	__u8   code;
	__sum16 csum;
	__be16 unused;
	__be16 mtu;
	__u8   quote[20 + VR_QUOTE_L4];
};

struct vr_icmp6_err {
	struct ipv6hdr ip6;
	__u8   type;
	__u8   code;
	__sum16 csum;
	__be32 mtu;
	__u8   quote[40 + VR_QUOTE_L4];
};

/* vr_twork: the per-CPU room the tunnel paths build their headers in (the
 * program's 512-byte stack holds the rest of the datapath). Not pinned: a
 * scratch area of each load, like .rodata. */
struct vr_twork {
	struct bpf_fib_lookup fib;
	struct bpf_redir_neigh rn;
	__u8 hdr[56];                /* struct vr_tun_hdr (lib/tunnel.h; its size asserted there) */
	/* a flood's (lib/composite.h): off the stack of its deep call chain */
	__u8 flood[16];              /* a copy's saved Ethernet header */
	__u32 flood_label;           /* the route's label / the bridge entry's VNI */
	__u32 flood_hash;            /* the flow hash: a tunnel copy's UDP source port */
	union {
		struct vr_icmp4_err e4;
		struct vr_icmp6_err e6;
	};
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vr_twork);
} vr_twork SEC(".maps");

static __always_inline struct vr_twork *twork(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vr_twork, &zero);
}

static __always_inline void tctr_inc(__u32 idx)
{
#ifndef VR_TRACE
	__u64 *c = bpf_map_lookup_elem(&vr_tctr, &idx);

	if (c)
		*c += 1;
#endif
}

static __always_inline int ctx_load(void *ctx, const enum vr_hook hook, __u32 off, void *to, __u32 len)
{
	if (hook == VR_HOOK_TC)
		return bpf_skb_load_bytes(ctx, off, to, len);
	return bpf_xdp_load_bytes(ctx, off, to, len);
}

/* quote_l4_fix: TC only, see above. q: the quoted L4 bytes of a TCP / UDP packet */
static __always_inline void quote_l4_fix(__u8 *q, __u8 proto)
{
	__u16 *w = (__u16 *)q;
	int fi = proto == IPPROTO_TCP ? 8 : proto == IPPROTO_UDP ? 3 : -1;
	__u32 r, x;

	if (fi < 0)
		return;
	w[fi & 15] = 0;
	r = (__u16)~csum_fold((__u32)bpf_csum_diff(0, 0, (__be32 *)q, VR_QUOTE_L4, 0));
	x = ~r & 0xffff;
	w[fi & 15] = (__u16)((x >> 1) | (x << 15));
}

/* reshape: the packet cut to 14 + `keep` bytes with `grow` bytes inserted after its
 * Ethernet header; 0 or < 0 */
static __always_inline int reshape(void *ctx, const enum vr_hook hook, __u32 keep, __u32 grow)
{
	if (hook == VR_HOOK_TC) {
		if (bpf_skb_change_tail(ctx, ETH_HLEN + keep, 0))
			return -1;
		return bpf_skb_adjust_room(ctx, grow, BPF_ADJ_ROOM_MAC, 0) ? -1 : 0;
	}
	if (ctx_change_tail(ctx, hook, ETH_HLEN + keep))
		return -1;
	return bpf_xdp_adjust_head(ctx, -(int)grow) ? -1 : 0;
}

/* put: the answer's bytes after the Ethernet header, and the Ethernet header */
static __always_inline int put_answer(void *ctx, const enum vr_hook hook, const void *ans, __u32 len,
				      const __u8 *dmac, const __u8 *smac, __be16 proto)
{
	void *data, *data_end;
	struct ethhdr *eth;

	if (hook == VR_HOOK_TC) {
		if (bpf_skb_store_bytes(ctx, ETH_HLEN, ans, len, BPF_F_RECOMPUTE_CSUM))
			return -1;
	}
	data = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	eth = data;
	if (data + ETH_HLEN + len > data_end)
		return -1;
	if (hook == VR_HOOK_XDP)
		__builtin_memcpy(data + ETH_HLEN, ans, len);
	mac_copy(eth->h_dest, dmac);
	mac_copy(eth->h_source, smac);
	eth->h_proto = proto;
	return 0;
}

static __always_inline int answer_out(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				      struct vr_vif_stats *st, __u32 len)
{
	/* the packet is dropped (counted so: it did not go where it was sent) and answered */
	count_drop(hook, st, VR_DROP_FRAG_NEEDED);
	tctr_inc(VR_TC_ICMP_TOO_BIG);
	count_tx(vif->vif_idx, len);
	trace_out(vif->vif_idx, ctx_ingress_ifindex(ctx, hook), 0);
	return ctx_redirect(ctx, hook, ctx_ingress_ifindex(ctx, hook));
}

/* icmp4_too_big: ICMP fragmentation needed with `mtu`, for the IPv4 packet at 14 */
static __always_inline int icmp4_too_big(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
					 struct vr_vif_stats *st, __u32 l3_len, __u32 mtu)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct ethhdr *eth = data;
	struct iphdr *iph = data + ETH_HLEN;
	struct vr_twork *w = twork();
	struct vr_icmp4_err *ep;
	__u8 to[ETH_ALEN];
	__be32 saddr, daddr;

	/* IP options are not quoted: such a packet is dropped unanswered */
	if ((void *)(iph + 1) > data_end || iph->ihl != 5 || l3_len < sizeof(ep->quote) || !w)
		return count_drop(hook, st, VR_DROP_MTU_EXCEEDED);
	ep = &w->e4;
	__builtin_memset(ep, 0, sizeof(*ep));
	mac_copy(to, eth->h_source);
	saddr = iph->saddr;
	daddr = iph->daddr;
	if (ctx_load(ctx, hook, ETH_HLEN, ep->quote, sizeof(ep->quote)))
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	if (hook == VR_HOOK_TC)
		quote_l4_fix(ep->quote + 20, ep->quote[9]);
	ep->ip.version = 4;
	ep->ip.ihl = 5;
	ep->ip.tot_len = bpf_htons(sizeof(*ep));
	ep->ip.ttl = 64;
	ep->ip.protocol = IPPROTO_ICMP;
	/* from the vif's address, unless that is the sender's own (a pod's vif
	 * carries the pod's address): the pod's kernel drops an error from
	 * itself as a martian, so it then comes from the destination it was for.
	 * A host vif's addresses are all the host's own (whichever it sent from). */
	ep->ip.saddr = vif->ip4 && vif->ip4 != saddr && vif->type != VR_VIF_TYPE_HOST ? vif->ip4 : daddr;
	ep->ip.daddr = saddr;
	ep->ip.check = csum_fold((__u32)bpf_csum_diff(0, 0, (__be32 *)&ep->ip, sizeof(ep->ip), 0));
	ep->type = 3;
	ep->code = 4;
	ep->mtu = bpf_htons(mtu > 0xffff ? 0xffff : mtu);
	ep->csum = csum_fold((__u32)bpf_csum_diff(0, 0, (__be32 *)&ep->type, sizeof(*ep) - sizeof(ep->ip), 0));
	if (reshape(ctx, hook, sizeof(ep->quote), sizeof(*ep) - sizeof(ep->quote)) ||
	    put_answer(ctx, hook, ep, sizeof(*ep), to, vif->mac, bpf_htons(ETH_P_IP)))
		return count_drop(hook, st, VR_DROP_TUNNEL_ENCAP_FAILED);
	return answer_out(ctx, hook, vif, st, ETH_HLEN + sizeof(*ep));
}

/* icmp6_too_big: ICMPv6 packet too big with `mtu`, for the IPv6 packet at 14 */
static __always_inline int icmp6_too_big(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
					 struct vr_vif_stats *st, __u32 l3_len, __u32 mtu)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + ETH_HLEN;
	struct vr_twork *w = twork();
	struct vr_icmp6_err *ep;
	__u8 to[ETH_ALEN];
	__u64 sum;
	const __u32 *v6 = (const __u32 *)vif->ip6;

	if ((void *)(ip6 + 1) > data_end || l3_len < sizeof(ep->quote) || !w)
		return count_drop(hook, st, VR_DROP_MTU_EXCEEDED);
	ep = &w->e6;
	__builtin_memset(ep, 0, sizeof(*ep));
	mac_copy(to, eth->h_source);
	/* as for IPv4: not the sender's own address */
	const __u32 *from = (const __u32 *)&ip6->saddr;

	if ((v6[0] | v6[1] | v6[2] | v6[3]) && vif->type != VR_VIF_TYPE_HOST &&
	    ((v6[0] ^ from[0]) | (v6[1] ^ from[1]) | (v6[2] ^ from[2]) | (v6[3] ^ from[3])))
		__builtin_memcpy(&ep->ip6.saddr, vif->ip6, 16);
	else
		__builtin_memcpy(&ep->ip6.saddr, &ip6->daddr, 16);
	__builtin_memcpy(&ep->ip6.daddr, &ip6->saddr, 16);
	if (ctx_load(ctx, hook, ETH_HLEN, ep->quote, sizeof(ep->quote)))
		return count_drop(hook, st, VR_DROP_INVALID_PACKET);
	if (hook == VR_HOOK_TC)
		quote_l4_fix(ep->quote + 40, ep->quote[6]);
	ep->ip6.version = 6;
	ep->ip6.payload_len = bpf_htons(sizeof(*ep) - sizeof(ep->ip6));
	ep->ip6.nexthdr = IPPROTO_ICMPV6;
	ep->ip6.hop_limit = 64;
	ep->type = 2;
	ep->code = 0;
	ep->mtu = bpf_htonl(mtu);
	/* pseudo header: addresses, upper-layer length, next header */
	sum = (__u32)bpf_csum_diff(0, 0, (__be32 *)&ep->ip6.saddr, 32, 0);
	sum += (__u32)bpf_csum_diff(0, 0, (__be32 *)&ep->type, sizeof(*ep) - sizeof(ep->ip6), 0);
	sum += bpf_htonl(sizeof(*ep) - sizeof(ep->ip6));
	sum += bpf_htonl(IPPROTO_ICMPV6);
	ep->csum = csum_fold(sum);
	if (reshape(ctx, hook, sizeof(ep->quote), sizeof(*ep) - sizeof(ep->quote)) ||
	    put_answer(ctx, hook, ep, sizeof(*ep), to, vif->mac, bpf_htons(ETH_P_IPV6)))
		return count_drop(hook, st, VR_DROP_TUNNEL_ENCAP_FAILED);
	return answer_out(ctx, hook, vif, st, ETH_HLEN + sizeof(*ep));
}

/* too_big: the answer for the packet on ctx, with the arrival vif looked up
 * here (a global function takes only its context and numbers) */
static __always_inline int too_big(void *ctx, const enum vr_hook hook, __u32 l3_len, __u32 mtu, __u32 is_v6)
{
	__u32 ifindex = ctx_ingress_ifindex(ctx, hook);
	const struct vr_vif *vif = bpf_map_lookup_elem(&vr_vifs, &ifindex);
	struct vr_vif_stats *st;

	if (!vif)
		return count_drop(hook, 0, VR_DROP_INVALID_INTERFACE);
	st = vif_stats(vif->vif_idx);
	return is_v6 ? icmp6_too_big(ctx, hook, vif, st, l3_len, mtu) : icmp4_too_big(ctx, hook, vif, st, l3_len, mtu);
}

/* vr_too_big_xdp / vr_too_big_tc: global functions, so the verifier checks
 * the answer once per program instead of once per path that reaches it
 * (every tunnel on both families); the slow path costs a call. */
__attribute__((noinline)) int vr_too_big_xdp(struct xdp_md *ctx, __u32 l3_len, __u32 mtu, __u32 is_v6)
{
	return too_big(ctx, VR_HOOK_XDP, l3_len, mtu, is_v6);
}

__attribute__((noinline)) int vr_too_big_tc(struct __sk_buff *ctx, __u32 l3_len, __u32 mtu, __u32 is_v6)
{
	return too_big(ctx, VR_HOOK_TC, l3_len, mtu, is_v6);
}

#endif /* VR_ICMP_ERR_H */
