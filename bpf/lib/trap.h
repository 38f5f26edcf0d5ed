/* trap.h: packets of interest (vr_config.trap_mask) go to the agent through
 * the trap ring instead of the datapath: DHCP, DNS, router solicitations,
 * packets to the arrival vif's own address, and (instead of the proxy
 * answer) ARP requests and neighbour solicitations. */
#ifndef VR_TRAP_H
#define VR_TRAP_H

#include "maps.h"
#include "ctx.h"
#include "hdr.h"
#include "l4.h"
#include "counters.h"

#define DHCP4_SERVER_PORT 67
#define DHCP6_SERVER_PORT 547
#define DNS_PORT          53

/* trap_l4: the rules on ports / ICMPv6 types; 0 = not of interest */
static __always_inline __u8 trap_l4(__u32 mask, const struct vr_l4 *l4, int is_v6)
{
	if (!l4->ports && l4->proto != IPPROTO_ICMPV6)
		return 0;
	if (l4->proto == IPPROTO_UDP) {
		if ((mask & VR_TRAP_DHCP) && l4->dport == bpf_htons(is_v6 ? DHCP6_SERVER_PORT : DHCP4_SERVER_PORT))
			return VR_TRAP_R_DHCP;
		if ((mask & VR_TRAP_DNS) && l4->dport == bpf_htons(DNS_PORT))
			return VR_TRAP_R_DNS;
	} else if (l4->proto == IPPROTO_TCP) {
		if ((mask & VR_TRAP_DNS) && l4->dport == bpf_htons(DNS_PORT))
			return VR_TRAP_R_DNS;
	} else if (l4->proto == IPPROTO_ICMPV6 && is_v6) {
		if ((mask & VR_TRAP_RS) && l4->icmp_type == NDISC_RS)
			return VR_TRAP_R_RS;
		if ((mask & VR_TRAP_ND) && l4->icmp_type == NDISC_NS)
			return VR_TRAP_R_ND;
	}
	return 0;
}

#if VR_LAYOUT_VERSION >= 3
#include "capture.h"
#endif

/* trap_packet: the packet to the agent (consumed: counted as trapped, not dropped) */
static __always_inline int trap_packet(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				       struct vr_vif_stats *st, __u32 ifindex, __u8 reason, __u32 pkt_len)
{
#if defined(VR_TRACE) || VR_LAYOUT_VERSION < 3
	trace_trap(reason);
	return ctx_act_drop(hook);
#else
	struct vr_scratch *s = scratch();
	__u32 idx = VR_FC_TRAPPED;
	__u64 *c;

	if (!s || ring_trap(ctx, hook, s, vif, ifindex, reason, pkt_len))
		return count_drop(hook, st, VR_DROP_TRAP_RING_FULL);
	c = bpf_map_lookup_elem(&vr_fctr, &idx);
	if (c)
		*c += 1;
	return ctx_act_drop(hook);
#endif
}

#endif /* VR_TRAP_H */
