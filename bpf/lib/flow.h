/* flow.h: the flow stage of a packet that arrived on a policy-enabled vif.
 *
 * lookup by VRF + 5-tuple ->
 *   none:    a HOLD entry is made (BPF_NOEXIST: of several CPUs racing, one
 *            reports the miss), the frame goes into the miss ring for the
 *            daemon's hold queue, and the packet is consumed (held, not a drop)
 *   HOLD:    more packets of a miss the agent has not answered yet are held
 *            too, up to vr_config.hold_per_flow; the rest are dropped
 *   DROP:    dropped (VR_DROP_FLOW_DROP)
 *   FORWARD, NAT: the packet goes on to its route; flow_account counts it
 *            (and NAT rewrites it) once the next hop is known, so a packet
 *            the XDP entry hands to TC is counted by TC only.
 * The trace build (VR_TRACE) reads the table and writes nothing. */
#ifndef VR_FLOW_H
#define VR_FLOW_H

#include "maps.h"
#include "ctx.h"
#include "l4.h"
#include "counters.h"
#define VR_FLOW_CONTINUE (-1) /* flow_stage: go on to the route */

static __always_inline struct vr_config *vr_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vr_config, &zero);
}


/* flow_key4 / flow_key6: the caller hands a zeroed key (l3_stage's `= {}`):
 * the pad and an IPv4 address's last 12 bytes are part of the key */
static __always_inline void flow_key4(struct vr_flow_key *k, __u32 vrf, const struct iphdr *iph,
				      const struct vr_l4 *l4)
{
	k->vrf = vrf;
	k->family = 4;
	k->proto = iph->protocol;
	k->sport = l4->sport;
	k->dport = l4->dport;
	__builtin_memcpy(k->src, &iph->saddr, 4);
	__builtin_memcpy(k->dst, &iph->daddr, 4);
}

static __always_inline void flow_key6(struct vr_flow_key *k, __u32 vrf, const struct ipv6hdr *ip6,
				      const struct vr_l4 *l4)
{
	k->vrf = vrf;
	k->family = 6;
	k->proto = ip6->nexthdr;
	k->sport = l4->sport;
	k->dport = l4->dport;
	__builtin_memcpy(k->src, &ip6->saddr, 16);
	__builtin_memcpy(k->dst, &ip6->daddr, 16);
}

#if VR_LAYOUT_VERSION >= 3
#include "capture.h"
#include "nat.h"

/* vif_policy: the vif looks flows up (layout v3; older builds ignore the flag) */
#define vif_policy(vif) ((vif)->flags & VR_VIF_F_POLICY)

static __always_inline void fc_inc(__u32 idx)
{
#ifndef VR_TRACE
	__u64 *c = bpf_map_lookup_elem(&vr_fctr, &idx);

	if (c)
		*c += 1;
#endif
}

#ifndef VR_TRACE
/* flow_hold: one more packet of a HOLD entry into the miss ring */
static __always_inline int flow_hold(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				     struct vr_vif_stats *st, __u32 ifindex, const struct vr_flow_key *key,
				     __u64 hold_id, __u8 flags, __u32 pkt_len)
{
	struct vr_scratch *s = scratch();

	if (!s)
		return count_drop(hook, st, VR_DROP_FLOW_HOLD_RING_FULL);
	if (pkt_len > VR_CAP_MAX) {
		/* reported so that the agent learns of the flow, but not held */
		ring_miss(ctx, hook, s, vif, ifindex, key, hold_id, flags & ~VR_MISS_F_HELD, pkt_len);
		return count_drop(hook, st, VR_DROP_FLOW_HOLD_TOO_BIG);
	}
	if (ring_miss(ctx, hook, s, vif, ifindex, key, hold_id, flags, pkt_len))
		return count_drop(hook, st, VR_DROP_FLOW_HOLD_RING_FULL);
	fc_inc(VR_FC_HELD);
	return ctx_act_drop(hook);
}

/* flow_hold_more: a packet of a flow whose miss is not answered yet */
static __always_inline int flow_hold_more(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
					  struct vr_vif_stats *st, __u32 ifindex, const struct vr_flow_key *key,
					  struct vr_flow *f, __u32 pkt_len)
{
	struct vr_config *cfg = vr_cfg();
	__u32 limit = cfg && cfg->hold_per_flow ? cfg->hold_per_flow : VR_DEF_HOLD_PER_FLOW;

	if (__sync_fetch_and_add(&f->hold_count, 1) >= limit)
		return count_drop(hook, st, VR_DROP_FLOW_HOLD_LIMIT);
	return flow_hold(ctx, hook, vif, st, ifindex, key, f->hold_id, VR_MISS_F_HELD, pkt_len);
}

/* flow_miss: the first packet of a flow: a HOLD entry, reported with the frame */
static __always_inline int flow_miss(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				     struct vr_vif_stats *st, __u32 ifindex, const struct vr_flow_key *key,
				     __u32 pkt_len)
{
	struct vr_scratch *s = scratch();
	struct vr_flow nf = {};
	struct vr_flow *f;
	long err;

	if (!s)
		return count_drop(hook, st, VR_DROP_FLOW_TABLE_FULL);
	nf.action = VR_FLOW_HOLD;
	nf.hold_count = 1;
	nf.hold_id = ((__u64)(bpf_get_smp_processor_id() + 1) << 48) | (++s->seq & 0xffffffffffffull);
	nf.created_ns = bpf_ktime_get_ns();
	nf.last_ns = bpf_ktime_get_coarse_ns();
	err = bpf_map_update_elem(&vr_flows, key, &nf, BPF_NOEXIST);
	if (err == -17 /* EEXIST: another CPU made it first */) {
		f = bpf_map_lookup_elem(&vr_flows, key);
		if (!f)
			return count_drop(hook, st, VR_DROP_FLOW_TABLE_FULL);
		return flow_hold_more(ctx, hook, vif, st, ifindex, key, f, pkt_len);
	}
	if (err)
		return count_drop(hook, st, VR_DROP_FLOW_TABLE_FULL);
	fc_inc(VR_FC_MISSES);
	return flow_hold(ctx, hook, vif, st, ifindex, key, nf.hold_id, VR_MISS_F_NEW | VR_MISS_F_HELD, pkt_len);
}
#endif

/* flow_stage: VR_FLOW_CONTINUE with *fp set (FORWARD / NAT), or the verdict */
static __always_inline int flow_stage(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				      struct vr_vif_stats *st, __u32 ifindex, const struct vr_flow_key *key,
				      __u32 pkt_len, struct vr_flow **fp)
{
	struct vr_flow *f = bpf_map_lookup_elem(&vr_flows, key);

	if (!f) {
#ifdef VR_TRACE
		trace_flag(VR_TRACE_F_MISS);
		return ctx_act_drop(hook);
#else
		return flow_miss(ctx, hook, vif, st, ifindex, key, pkt_len);
#endif
	}
	trace_flow(f->action, f->flags);
	switch (f->action) {
	case VR_FLOW_FORWARD:
	case VR_FLOW_NAT:
		*fp = f;
		return VR_FLOW_CONTINUE;
	case VR_FLOW_DROP:
		return count_drop(hook, st, VR_DROP_FLOW_DROP);
	default:
#ifdef VR_TRACE
		return ctx_act_drop(hook);
#else
		return flow_hold_more(ctx, hook, vif, st, ifindex, key, f, pkt_len);
#endif
	}
}

/* flow_account: a packet of flow f leaves by its route: counters, TCP
 * flags, last use, and the NAT rewrite. 0, or a NAT failure (< 0). */
static __always_inline int flow_account(void *ctx, const enum vr_hook hook, struct vr_flow *f,
					const struct vr_l4 *l4, __u32 pkt_len, int is_v6)
{
#ifndef VR_TRACE
	__u64 now = bpf_ktime_get_coarse_ns();

	__sync_fetch_and_add(&f->packets, 1);
	__sync_fetch_and_add(&f->bytes, pkt_len);
	if (f->last_ns != now)
		f->last_ns = now;
	if (l4->tcp_flags & ~f->tcp_flags)
		__sync_fetch_and_or(&f->tcp_flags, (__u32)l4->tcp_flags);
	fc_inc(VR_FC_HITS);
#endif
	if (f->action != VR_FLOW_NAT)
		return 0;
	if (hook == VR_HOOK_TC)
		return vr_nat_tc(ctx, f, l4, is_v6);
	return vr_nat_xdp(ctx, f, l4, is_v6);
}

#else /* layouts before v3 (upgrade-test builds): no flows, no config */
#define vif_policy(vif) ((vif)->flags & VR_VIF_F_POLICY)

static __always_inline int flow_stage(void *ctx, const enum vr_hook hook, const struct vr_vif *vif,
				      struct vr_vif_stats *st, __u32 ifindex, const struct vr_flow_key *key,
				      __u32 pkt_len, struct vr_flow **fp)
{
	return VR_FLOW_CONTINUE;
}

static __always_inline int flow_account(void *ctx, const enum vr_hook hook, struct vr_flow *f,
					const struct vr_l4 *l4, __u32 pkt_len, int is_v6)
{
	return 0;
}
#endif

#endif /* VR_FLOW_H */
