/* vr_trace.c: the datapath of vr_xdp.c built with VR_TRACE, for the
 * TracePacket RPC: the daemon loads it on the pinned maps and runs a frame
 * through it with BPF_PROG_TEST_RUN (never attached, never live). The same
 * forwarding code decides; instead of counting, it records what it decided
 * in vr_trace (lib/trace.h), so a trace moves no counter and sends nothing. */
#define VR_TRACE 1
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "shared/vr_kern_user.h"
#include "lib/datapath.h"

/* the layout of the maps it runs on (see vr_xdp.c) */
const volatile __u32 vr_layout_version = VR_LAYOUT_VERSION;

static __always_inline void trace_begin(void)
{
	struct vr_trace_rec *t = trace_rec();

	if (t) {
		__builtin_memset(t, 0, sizeof(*t));
		t->flags = VR_TRACE_F_RAN;
	}
}

SEC("xdp.frags")
int vr_trace_xdp(struct xdp_md *ctx)
{
	int verdict;

	trace_begin();
	verdict = vif_input(ctx, VR_HOOK_XDP);
	return verdict == VR_XDP_TO_TC ? XDP_PASS : verdict;
}

SEC("tc")
int vr_trace_tc(struct __sk_buff *skb)
{
	trace_begin();
	return vif_input(skb, VR_HOOK_TC);
}

char _license[] SEC("license") = "GPL";
