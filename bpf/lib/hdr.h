/* hdr.h: header structs and checksum helpers (no kernel-internal headers). */
#ifndef VR_HDR_H
#define VR_HDR_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_endian.h>

#define ARPHRD_ETHER_    1
#define ARPOP_REQUEST_   1
#define ARPOP_REPLY_     2
#define NDISC_NS         135
#define NDISC_NA         136
#define ND_OPT_SLLA      1
#define ND_OPT_TLLA      2

/* ARP for IPv4 over Ethernet, the only kind we answer */
struct arp_eth {
	__be16 htype;
	__be16 ptype;
	__u8   hlen;
	__u8   plen;
	__be16 op;
	__u8   sha[ETH_ALEN];
	__be32 spa;
	__u8   tha[ETH_ALEN];
	__be32 tpa;
} __attribute__((packed));

/* Neighbour solicitation / advertisement with one link-layer address option */
struct nd_msg {
	__u8   type;
	__u8   code;
	__sum16 csum;
	__be32 flags;        /* NA: R 0x80000000, S 0x40000000, O 0x20000000 */
	__u8   target[16];
	__u8   opt_type;
	__u8   opt_len;      /* in units of 8 bytes */
	__u8   opt_mac[ETH_ALEN];
} __attribute__((packed));

static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline int mac_is_zero(const __u8 *m)
{
	return !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}

/* ipv4_ttl_dec: TTL - 1 with the header checksum updated (RFC 1624, as the
 * kernel's ip_decrease_ttl), written in place on both hooks; the caller
 * checked TTL > 1 and the header's bounds. On TC this keeps the skb's state:
 * the IP header checksum is never offloaded (CHECKSUM_PARTIAL covers L4),
 * and a CHECKSUM_COMPLETE sum does not move, since TTL and checksum change
 * by opposite amounts. Direct writes cost no helper call (the TC program's
 * prologue made the head writable). */
static __always_inline void ipv4_ttl_dec(struct iphdr *iph)
{
	__u32 check = (__u32)iph->check;

	check += (__u32)bpf_htons(0x0100);
	iph->check = (__sum16)(check + (check >= 0xFFFF));
	iph->ttl--;
}

static __always_inline void mac_copy(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, ETH_ALEN);
}

#endif /* VR_HDR_H */
