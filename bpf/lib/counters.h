/* counters.h: per-CPU counters; no atomics needed on per-CPU values. */
#ifndef VR_COUNTERS_H
#define VR_COUNTERS_H

#include "maps.h"
#include "ctx.h"
#include "trace.h"

static __always_inline struct vr_vif_stats *vif_stats(__u32 vif_idx)
{
#ifdef VR_TRACE
	(void)vif_idx;
	return trace_scratch();
#else
	return bpf_map_lookup_elem(&vr_vif_stats, &vif_idx);
#endif
}

/* count_drop: counts a drop under its reason (and on the input vif) and
 * returns the hook's drop verdict, so a drop reads
 * `return count_drop(hook, st, REASON);`. */
static __always_inline int count_drop(const enum vr_hook hook, struct vr_vif_stats *st, __u32 reason)
{
#ifdef VR_TRACE
	trace_drop(reason);
#else
	__u64 *c = bpf_map_lookup_elem(&vr_drops, &reason);

	if (c)
		*c += 1;
#endif
	if (st)
		st->drops++;
	return ctx_act_drop(hook);
}

static __always_inline int count_to_host(const enum vr_hook hook, struct vr_vif_stats *st)
{
	trace_flag(VR_TRACE_F_TO_HOST);
	if (st)
		st->to_host++;
	return ctx_act_pass(hook);
}

static __always_inline void count_tx(__u32 vif_idx, __u64 bytes)
{
	struct vr_vif_stats *st = vif_stats(vif_idx);

	if (st) {
		st->tx_packets++;
		st->tx_bytes += bytes;
	}
}

#endif /* VR_COUNTERS_H */
