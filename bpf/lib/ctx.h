/* ctx.h: the thin context layer that lets one forwarding code serve two
 * hooks, the way Cilium's ctx_* helpers serve xdp_md and __sk_buff.
 *
 * Every function of lib/ that touches the packet takes `void *ctx` and a
 * compile-time hook (`const enum vr_hook hook`). All of them are
 * __always_inline, so in each entry (vr_xdp_vif, vr_tc_vif) the hook is a
 * constant and clang keeps only that hook's branch: the verifier never sees
 * an xdp_md access in the TC program or the reverse.
 *
 * Rules for TC (skb) that this layer keeps:
 * - a helper that may change the skb (bpf_skb_change_tail,
 *   bpf_skb_pull_data) invalidates every packet pointer: callers re-derive
 *   them from ctx;
 * - header rewrites keep the skb's checksum and GSO state: MACs are outside
 *   every sum, a TTL change moves the IPv4 checksum by the opposite amount,
 *   and an IPv6 hop-limit change is added to a CHECKSUM_COMPLETE sum
 *   (bpf_csum_update); the packet tests run the TC entry on
 *   CHECKSUM_COMPLETE skbs to hold this;
 * - the packet length is skb->len (the whole packet, not the linear head),
 *   as it is bpf_xdp_get_buff_len() for a multi-buffer XDP frame. */
#ifndef VR_CTX_H
#define VR_CTX_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <stddef.h>

enum vr_hook {
	VR_HOOK_XDP = 0,
	VR_HOOK_TC  = 1,
};

/* verdicts */
static __always_inline int ctx_act_drop(const enum vr_hook hook)
{
	return hook == VR_HOOK_TC ? TC_ACT_SHOT : XDP_DROP;
}

static __always_inline int ctx_act_pass(const enum vr_hook hook)
{
	return hook == VR_HOOK_TC ? TC_ACT_OK : XDP_PASS;
}

/* packet pointers: re-read after any helper that may change the packet.
 * Loaded through asm: clang otherwise keeps the u32 field in a 32-bit
 * register where two loads meet (a branch that moved the packet and one
 * that did not) and widens it again, which the verifier sees as a scalar
 * instead of a packet pointer. */
#define VR_CTX_LOAD(ctx, type, field) ({ \
	void *__p; \
	asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(__p) : "r"(ctx), "i"(offsetof(type, field))); \
	__p; \
})

/* the same for a u32 field read as a number */
#define VR_CTX_U32(ctx, type, field) ({ \
	__u64 __v; \
	asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(__v) : "r"(ctx), "i"(offsetof(type, field))); \
	(__u32)__v; \
})

static __always_inline void *ctx_data(void *ctx, const enum vr_hook hook)
{
	if (hook == VR_HOOK_TC)
		return VR_CTX_LOAD(ctx, struct __sk_buff, data);
	return VR_CTX_LOAD(ctx, struct xdp_md, data);
}

static __always_inline void *ctx_data_end(void *ctx, const enum vr_hook hook)
{
	if (hook == VR_HOOK_TC)
		return VR_CTX_LOAD(ctx, struct __sk_buff, data_end);
	return VR_CTX_LOAD(ctx, struct xdp_md, data_end);
}

/* TC egress of the host vif's interface (vr_tc_egress, lib/host_egress.h)
 * runs the same code as the ingress entries, on the same hook constant: the
 * few places where leaving differs from arriving ask ctx_at_egress. Each TC
 * entry writes the skb's control block word first (cb is scratch for a tc
 * program: whatever an earlier layer left there is overwritten), so the
 * answer is never stale; a test run's cb starts zero (ingress). */
#define VR_CB_DIR      4          /* __sk_buff cb[] word */
#define VR_CB_EGRESS   0x76724531 /* "vrE1" */

static __always_inline void ctx_set_dir(struct __sk_buff *skb, int egress)
{
	skb->cb[VR_CB_DIR] = egress ? VR_CB_EGRESS : 0;
}

static __always_inline int ctx_at_egress(void *ctx, const enum vr_hook hook)
{
	return hook == VR_HOOK_TC && ((struct __sk_buff *)ctx)->cb[VR_CB_DIR] == VR_CB_EGRESS;
}

/* the kernel interface the packet arrived on (the vif's key); at the host
 * interface's egress, that interface: the packet comes in from the host vif */
static __always_inline __u32 ctx_ingress_ifindex(void *ctx, const enum vr_hook hook)
{
	if (hook == VR_HOOK_TC) {
		/* each field loaded by its own instruction: clang would otherwise
		 * pick the offset and load once, which the verifier refuses */
		if (ctx_at_egress(ctx, hook))
			return VR_CTX_U32(ctx, struct __sk_buff, ifindex);
		return VR_CTX_U32(ctx, struct __sk_buff, ingress_ifindex);
	}
	return ((struct xdp_md *)ctx)->ingress_ifindex;
}

/* ctx_len: the whole packet from its Ethernet header, fragments included */
static __always_inline __u32 ctx_len(void *ctx, const enum vr_hook hook)
{
	if (hook == VR_HOOK_TC)
		return ((struct __sk_buff *)ctx)->len;
	return (__u32)bpf_xdp_get_buff_len((struct xdp_md *)ctx);
}

/* VR_PULL_LEN: the headers every packet's parse reads directly: Ethernet +
 * IPv6 (54), which covers Ethernet + IPv4 (34) and an ARP packet (42). Not
 * more: a TCP skb from a socket carries its payload in page fragments after
 * 66 (IPv4) or 86 (IPv6) bytes of headers, and pulling payload into the
 * head costs a copy on every 64 KB GSO packet. An ICMPv6 packet (neighbour
 * solicitation) pulls what it reads itself (VR_ND_PULL_LEN). */
#define VR_PULL_LEN 54
/* Ethernet + IPv6 + a neighbour solicitation with its option */
#define VR_ND_PULL_LEN 86

/* ctx_pull: TC only. An skb may hold part of its headers outside the
 * linear head (GSO, a NIC's header split); pull up to `len` bytes in, only
 * when they are not there already, so the common case calls no helper. A
 * failed pull is not an error: the bounded parse then drops what it cannot
 * read. Packet pointers are stale afterwards. */
static __always_inline void ctx_pull(void *ctx, const enum vr_hook hook, __u32 len)
{
	if (hook == VR_HOOK_TC) {
		struct __sk_buff *skb = ctx;
		__u32 want = skb->len < len ? skb->len : len;

		if ((__u32)(skb->data_end - skb->data) < want)
			bpf_skb_pull_data(skb, want);
	}
}

/* ctx_redirect: out of another interface (XDP: ndo_xdp_xmit; TC: its
 * egress). At the host interface's egress, "out of the arrival interface"
 * (a proxy answer, an ICMP error) is up into the host: that interface's
 * ingress, as if it had received the answer; its own egress would run this
 * program again. */
static __always_inline int ctx_redirect(void *ctx, const enum vr_hook hook, __u32 ifindex)
{
	if (ctx_at_egress(ctx, hook) && ifindex == ((struct __sk_buff *)ctx)->ifindex)
		return bpf_redirect(ifindex, BPF_F_INGRESS);
	return bpf_redirect(ifindex, 0);
}

/* ctx_redirect_peer: TC only, into the peer of a veth (its netns' ingress,
 * no backlog queue, no second pass through the host veth); XDP has no such
 * thing and redirects. The daemon sets VR_VIF_F_PEER only on a veth/netkit
 * whose peer is in another netns: the kernel drops a peer redirect
 * otherwise (and one made at egress). */
static __always_inline int ctx_redirect_peer(void *ctx, const enum vr_hook hook, __u32 ifindex)
{
	/* the kernel drops a peer redirect made at egress: a plain one there */
	if (hook == VR_HOOK_TC && !ctx_at_egress(ctx, hook))
		return bpf_redirect_peer(ifindex, 0);
	return bpf_redirect(ifindex, 0);
}

/* ctx_change_tail: makes the packet exactly `len` bytes long */
static __always_inline int ctx_change_tail(void *ctx, const enum vr_hook hook, __u32 len)
{
	__u32 cur = ctx_len(ctx, hook);

	if (len == cur)
		return 0;
	if (hook == VR_HOOK_TC)
		return bpf_skb_change_tail(ctx, len, 0);
	return bpf_xdp_adjust_tail(ctx, (int)len - (int)cur);
}

/* ctx_exceeds_mtu: l3_len over the output MTU. A GSO skb (TC) is checked by
 * its segments, as Linux's forwarding does (skb_gso_validate_network_len):
 * the segment payload plus the IP header and the smallest L4 header. */
static __always_inline int ctx_exceeds_mtu(void *ctx, const enum vr_hook hook, __u32 l3_len, __u32 mtu)
{
	if (hook == VR_HOOK_TC) {
		__u32 gso_size = ((struct __sk_buff *)ctx)->gso_size;

		if (gso_size)
			return gso_size + 20 + 8 > mtu;
	}
	return l3_len > mtu;
}

/* ctx_ipv6_hop_limit_dec: hop limit - 1 (the caller checked > 1). IPv6 has
 * no header checksum, but on TC an skb whose sum the NIC computed
 * (CHECKSUM_COMPLETE) carries the sum of the packet from its IP header:
 * bpf_csum_update adds the change (and does nothing for other skbs), the
 * way Linux's forwarding keeps the skb consistent. */
static __always_inline void ctx_ipv6_hop_limit_dec(void *ctx, const enum vr_hook hook, struct ipv6hdr *ip6)
{
	if (hook == VR_HOOK_TC) {
		/* the 32-bit word (payload_len, nexthdr, hop_limit): 4-byte aligned */
		__be32 *word = (__be32 *)ip6 + 1;
		__be32 from = *word;
		__be32 to;

		ip6->hop_limit--;
		to = *word;
		bpf_csum_update(ctx, bpf_csum_diff(&from, sizeof(from), &to, sizeof(to), 0));
		return;
	}
	ip6->hop_limit--;
}

#endif /* VR_CTX_H */
