/* l4.h: the transport header facts that flows, NAT and trap rules read,
 * parsed once per packet. */
#ifndef VR_L4_H
#define VR_L4_H

#include <linux/in.h>
#include "ctx.h"

#define ICMP_ECHOREPLY_   0
#define ICMP_ECHO_        8
#define ICMPV6_ECHO_REQ_  128
#define ICMPV6_ECHO_REP_  129
#define NDISC_RS          133

struct vr_l4 {
	__u32 off;          /* the L4 header's offset from the frame's start */
	__u8  proto;        /* IPPROTO_* (IPv6: the first next header) */
	__u8  tcp_flags;    /* TCP: the flags byte */
	__u8  icmp_type;
	__u8  ports;        /* sport/dport were read (TCP, UDP, ICMP echo id) */
	__be16 sport;       /* ICMP echo: the id */
	__be16 dport;       /* ICMP echo: 0 */
	__u8  first;        /* the packet is the first (or only) fragment: it has an L4 header */
	__u8  parsed;       /* l4_parse ran (a tunnel next hop parses on demand for its hash) */
	__u8  pad[2];
};

static __always_inline void l4_init(struct vr_l4 *l4, __u32 off, __u8 proto)
{
	__builtin_memset(l4, 0, sizeof(*l4));
	l4->off = off;
	l4->proto = proto;
	l4->first = 1;
}

/* l4_parse: reads ports / flags / ICMP type at `off` when the packet is the
 * first (or only) fragment; pulls just those bytes into the head (TC). The
 * caller re-derives its packet pointers afterwards. */
static __always_inline void l4_parse(void *ctx, const enum vr_hook hook, struct vr_l4 *l4, int first_frag, int is_v6)
{
	void *data, *data_end;
	__u8 *p;

	l4->ports = 0;
	l4->tcp_flags = 0;
	l4->icmp_type = 0;
	l4->sport = 0;
	l4->dport = 0;
	l4->first = first_frag;
	l4->parsed = 1;
	if (!first_frag || l4->off > 128)
		return;
	/* TCP's flags byte is at 13; UDP and ICMP need 8 */
	ctx_pull(ctx, hook, l4->off + (l4->proto == IPPROTO_TCP ? 14 : 8));
	data = ctx_data(ctx, hook);
	data_end = ctx_data_end(ctx, hook);
	p = data + (l4->off & 0xff);
	if ((void *)(p + 8) > data_end)
		return;
	switch (l4->proto) {
	case IPPROTO_TCP:
		if ((void *)(p + 14) > data_end)
			return;
		l4->tcp_flags = p[13];
		/* fall through */
	case IPPROTO_UDP:
		l4->sport = *(__be16 *)p;
		l4->dport = *(__be16 *)(p + 2);
		l4->ports = 1;
		return;
	case IPPROTO_ICMP:
		l4->icmp_type = p[0];
		if (!is_v6 && (p[0] == ICMP_ECHO_ || p[0] == ICMP_ECHOREPLY_)) {
			l4->sport = *(__be16 *)(p + 4);
			l4->ports = 1;
		}
		return;
	case IPPROTO_ICMPV6:
		l4->icmp_type = p[0];
		if (is_v6 && (p[0] == ICMPV6_ECHO_REQ_ || p[0] == ICMPV6_ECHO_REP_)) {
			l4->sport = *(__be16 *)(p + 4);
			l4->ports = 1;
		}
		return;
	}
}

#endif /* VR_L4_H */
