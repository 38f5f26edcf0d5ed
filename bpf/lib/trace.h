/* trace.h: what a trace build (VR_TRACE, bpf/vr_trace.c) records instead of
 * counting. The same datapath code runs; its counters go to a scratch copy
 * and its decisions (drop reason, next hop, output) into one vr_trace_rec,
 * which the daemon reads after each BPF_PROG_TEST_RUN. In the attached
 * build every trace_* is empty and compiles away. */
#ifndef VR_TRACE_H
#define VR_TRACE_H

#include "maps.h"

#ifdef VR_TRACE
/* an ARRAY, not per CPU: only the daemon runs the trace programs, one at a time */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vr_trace_rec);
} vr_trace SEC(".maps");

static __always_inline struct vr_trace_rec *trace_rec(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vr_trace, &zero);
}

static __always_inline void trace_flag(__u32 flag)
{
	struct vr_trace_rec *t = trace_rec();

	if (t)
		t->flags |= flag;
}

static __always_inline void trace_drop(__u32 reason)
{
	struct vr_trace_rec *t = trace_rec();

	if (t) {
		t->flags |= VR_TRACE_F_DROP;
		t->reason = reason;
	}
}

static __always_inline void trace_nexthop(__u32 nh_id)
{
	struct vr_trace_rec *t = trace_rec();

	if (t) {
		t->flags |= VR_TRACE_F_NEXTHOP;
		t->nh_id = nh_id;
	}
}

static __always_inline void trace_out(__u32 oif_vif, __u32 oif_ifindex, int peer)
{
	struct vr_trace_rec *t = trace_rec();

	if (t) {
		t->flags |= VR_TRACE_F_OUT | (peer ? VR_TRACE_F_PEER : 0);
		t->oif_vif = oif_vif;
		t->oif_ifindex = oif_ifindex;
	}
}

static __always_inline void trace_in(__u32 vif_idx)
{
	struct vr_trace_rec *t = trace_rec();

	if (t)
		t->in_vif = vif_idx;
}

static __always_inline void trace_flow(__u8 action, __u8 flags)
{
	struct vr_trace_rec *t = trace_rec();

	if (t) {
		t->flags |= VR_TRACE_F_FLOW;
		t->flow_action = action;
		t->flow_flags = flags;
	}
}

static __always_inline void trace_trap(__u8 reason)
{
	struct vr_trace_rec *t = trace_rec();

	if (t) {
		t->flags |= VR_TRACE_F_TRAP;
		t->trap_reason = reason;
	}
}

/* trace_scratch: the counters a trace run writes instead of a vif's */
static __always_inline struct vr_vif_stats *trace_scratch(void)
{
	struct vr_trace_rec *t = trace_rec();

	return t ? &t->scratch : 0;
}
#else
#define trace_flag(flag) do { } while (0)
#define trace_drop(reason) do { } while (0)
#define trace_nexthop(nh_id) do { } while (0)
#define trace_out(oif_vif, oif_ifindex, peer) do { } while (0)
#define trace_in(vif_idx) do { } while (0)
#define trace_flow(action, flags) do { } while (0)
#define trace_trap(reason) do { } while (0)
#endif

#endif /* VR_TRACE_H */
