/* nat.h: the NAT rewrite of a flow (source and/or destination address and
 * port) with its L3 and L4 checksums, on both hooks.
 *
 * TC goes through bpf_l3/l4_csum_replace, which keep the skb right whatever
 * its checksum state (a CHECKSUM_PARTIAL field holds only the pseudo-header
 * sum: an address change moves it, a port change does not); XDP frames are
 * complete, so the fields are updated in place (RFC 1624). A UDP checksum of
 * 0 (IPv4: none) stays 0, and a computed 0 is sent as 0xffff. */
#ifndef VR_NAT_H
#define VR_NAT_H

#include "ctx.h"
#include "hdr.h"
#include "l4.h"

#ifndef BPF_F_PSEUDO_HDR
#define BPF_F_PSEUDO_HDR (1ULL << 4)
#endif
#ifndef BPF_F_MARK_MANGLED_0
#define BPF_F_MARK_MANGLED_0 (1ULL << 5)
#endif

/* the offset of the L4 checksum in its header, or -1 when the packet has none we rewrite */
static __always_inline int l4_csum_off(const struct vr_l4 *l4)
{
	if (!l4->ports && l4->proto != IPPROTO_ICMP && l4->proto != IPPROTO_ICMPV6)
		return -1;
	switch (l4->proto) {
	case IPPROTO_TCP:
		return 16;
	case IPPROTO_UDP:
		return 6;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 2;
	}
	return -1;
}

/* csum_replace16: one 16-bit word of a summed region changed (RFC 1624) */
static __always_inline void csum_replace16(__sum16 *check, __u16 from, __u16 to)
{
	__u32 s = (__u16)~*check + (__u16)~from + (__u32)to;

	*check = csum_fold(s);
}

/* xdp_csum_fix: an XDP frame's L4 checksum for `n` bytes changing from old to new (n even) */
static __always_inline void xdp_csum_fix(void *data_end, __u8 *l4h, int csum_off, int is_udp,
					 const __u8 *old, const __u8 *new, int n)
{
	__sum16 *check;
	int i;

	if (csum_off < 0)
		return;
	check = (void *)(l4h + (csum_off & 0x1f));
	if ((void *)(check + 1) > data_end)
		return;
	if (is_udp && *check == 0)
		return;
#pragma unroll
	for (i = 0; i < 16; i += 2) {
		if (i < n)
			csum_replace16(check, *(__u16 *)(old + i), *(__u16 *)(new + i));
	}
	if (is_udp && *check == 0)
		*check = 0xffff;
}

/* rewrite: `n` bytes at frame offset `off` from old to new; pseudo: the field is in the L4 pseudo header */
static __always_inline int nat_field(void *ctx, const enum vr_hook hook, const struct vr_l4 *l4,
				     __u32 off, const __u8 *old, const __u8 *new, int n, int pseudo, int l3_check)
{
	int csum_off = l4_csum_off(l4);
	int is_udp = l4->proto == IPPROTO_UDP;
	int icmp4 = l4->proto == IPPROTO_ICMP;

	if (pseudo && icmp4)
		csum_off = -1; /* ICMPv4 has no pseudo header */
	if (hook == VR_HOOK_TC) {
		__u64 mangled = is_udp ? BPF_F_MARK_MANGLED_0 : 0;

		if (csum_off >= 0) {
			if (n == 16) {
				__s64 diff = bpf_csum_diff((void *)old, 16, (void *)new, 16, 0);

				if (bpf_l4_csum_replace(ctx, l4->off + csum_off, 0, diff, BPF_F_PSEUDO_HDR | mangled))
					return -1;
			} else if (bpf_l4_csum_replace(ctx, l4->off + csum_off,
						       n == 4 ? *(__u32 *)old : *(__u16 *)old,
						       n == 4 ? *(__u32 *)new : *(__u16 *)new,
						       (pseudo ? BPF_F_PSEUDO_HDR : 0) | mangled | n)) {
				return -1;
			}
		}
		if (l3_check && bpf_l3_csum_replace(ctx, ETH_HLEN + offsetof(struct iphdr, check),
						    *(__u32 *)old, *(__u32 *)new, 4))
			return -1;
		/* a CHECKSUM_COMPLETE sum: the L4 field moved it by the pseudo-header
		 * change, which an IPv4 address balances with its header checksum;
		 * an IPv6 address has none, so the store adds its change itself */
		return bpf_skb_store_bytes(ctx, off, new, n, n == 16 ? BPF_F_RECOMPUTE_CSUM : 0) ? -1 : 0;
	}
	{
		void *data = ctx_data(ctx, hook);
		void *data_end = ctx_data_end(ctx, hook);
		__u8 *l4h = data + (l4->off & 0xff);
		__u8 *field = data + (off & 0xff);
		int i;

		if ((void *)(field + n) > data_end)
			return -1;
		xdp_csum_fix(data_end, l4h, csum_off, is_udp, old, new, n);
		if (l3_check) {
			struct iphdr *iph = data + ETH_HLEN;

			if ((void *)(iph + 1) > data_end)
				return -1;
			csum_replace16(&iph->check, *(__u16 *)old, *(__u16 *)new);
			csum_replace16(&iph->check, *(__u16 *)(old + 2), *(__u16 *)(new + 2));
		}
#pragma unroll
		for (i = 0; i < 16; i++) {
			if (i < n)
				field[i] = new[i];
		}
		return 0;
	}
}

/* nat_ports: the port (ICMP echo: id) rewrites of a flow */
static __always_inline int nat_ports(void *ctx, const enum vr_hook hook, const struct vr_flow *f,
				     const struct vr_l4 *l4)
{
	int icmp = l4->proto == IPPROTO_ICMP || l4->proto == IPPROTO_ICMPV6;
	__be16 new;

	if (!l4->ports)
		return 0;
	if ((f->flags & VR_FLOW_F_SNAT) && f->nat_sport && f->nat_sport != l4->sport) {
		new = f->nat_sport;
		if (nat_field(ctx, hook, l4, l4->off + (icmp ? 4 : 0), (const __u8 *)&l4->sport, (const __u8 *)&new, 2, 0, 0))
			return -1;
	}
	if (!icmp && (f->flags & VR_FLOW_F_DNAT) && f->nat_dport && f->nat_dport != l4->dport) {
		new = f->nat_dport;
		if (nat_field(ctx, hook, l4, l4->off + 2, (const __u8 *)&l4->dport, (const __u8 *)&new, 2, 0, 0))
			return -1;
	}
	return 0;
}

static __always_inline int nat4(void *ctx, const enum vr_hook hook, const struct vr_flow *f, const struct vr_l4 *l4)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct iphdr *iph = data + ETH_HLEN;
	__be32 saddr, daddr, nsrc, ndst;

	if ((void *)(iph + 1) > data_end)
		return -1;
	saddr = iph->saddr;
	daddr = iph->daddr;
	__builtin_memcpy(&nsrc, f->nat_src, 4);
	__builtin_memcpy(&ndst, f->nat_dst, 4);
	if ((f->flags & VR_FLOW_F_SNAT) && nsrc &&
	    nat_field(ctx, hook, l4, ETH_HLEN + offsetof(struct iphdr, saddr), (const __u8 *)&saddr, (const __u8 *)&nsrc, 4, 1, 1))
		return -1;
	if ((f->flags & VR_FLOW_F_DNAT) && ndst &&
	    nat_field(ctx, hook, l4, ETH_HLEN + offsetof(struct iphdr, daddr), (const __u8 *)&daddr, (const __u8 *)&ndst, 4, 1, 1))
		return -1;
	return nat_ports(ctx, hook, f, l4);
}

static __always_inline int nat6(void *ctx, const enum vr_hook hook, const struct vr_flow *f, const struct vr_l4 *l4)
{
	void *data = ctx_data(ctx, hook);
	void *data_end = ctx_data_end(ctx, hook);
	struct ipv6hdr *ip6 = data + ETH_HLEN;
	__u8 saddr[16], daddr[16];

	if ((void *)(ip6 + 1) > data_end)
		return -1;
	__builtin_memcpy(saddr, &ip6->saddr, 16);
	__builtin_memcpy(daddr, &ip6->daddr, 16);
	if ((f->flags & VR_FLOW_F_SNAT) &&
	    nat_field(ctx, hook, l4, ETH_HLEN + offsetof(struct ipv6hdr, saddr), saddr, f->nat_src, 16, 1, 0))
		return -1;
	if ((f->flags & VR_FLOW_F_DNAT) &&
	    nat_field(ctx, hook, l4, ETH_HLEN + offsetof(struct ipv6hdr, daddr), daddr, f->nat_dst, 16, 1, 0))
		return -1;
	return nat_ports(ctx, hook, f, l4);
}

/* vr_nat_xdp / vr_nat_tc: the rewrite as global functions, so the verifier
 * checks it once per program instead of once in every path a flow leaves
 * by (a local next hop, a tunnel, after a decap): most of the datapath's
 * verification was this code, explored again and again. A NAT flow pays a
 * call. */
__attribute__((noinline)) int vr_nat_xdp(struct xdp_md *ctx, const struct vr_flow *f, const struct vr_l4 *l4, __u32 is_v6)
{
	if (!f || !l4)
		return -1;
	return is_v6 ? nat6(ctx, VR_HOOK_XDP, f, l4) : nat4(ctx, VR_HOOK_XDP, f, l4);
}

__attribute__((noinline)) int vr_nat_tc(struct __sk_buff *ctx, const struct vr_flow *f, const struct vr_l4 *l4, __u32 is_v6)
{
	if (!f || !l4)
		return -1;
	return is_v6 ? nat6(ctx, VR_HOOK_TC, f, l4) : nat4(ctx, VR_HOOK_TC, f, l4);
}

#endif /* VR_NAT_H */
