/* vr_xdp.c: the datapath object: one forwarding code (lib/datapath.h) on
 * two hooks, chosen per vif by the daemon, sharing every map:
 *   vr_xdp_vif  XDP, multi-buffer aware (xdp.frags: no cap on the peer's MTU)
 *   vr_tc_vif   tcx ingress (keeps GSO and partial checksums)
 *   vr_tc_egress  tcx egress of the host vif's interface (vhost0): what the
 *               host's own stack sends toward pods and the overlay
 * and vr_rt_probe, the daemon's bulk route lookup (never attached). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "shared/vr_kern_user.h"
#include "lib/datapath.h"
#include "lib/host_egress.h"

/* the map layout this object was built for: the daemon reads it from the
 * object's .rodata before it loads or swaps a program (src/bpf/object.ts
 * objectLayoutVersion), so a build of another layout is refused, not run on
 * maps it does not match. The only .rodata variable: it sits at offset 0. */
const volatile __u32 vr_layout_version = VR_LAYOUT_VERSION;

SEC("xdp.frags")
int vr_xdp_vif(struct xdp_md *ctx)
{
	return xdp_verdict(ctx, vif_input(ctx, VR_HOOK_XDP));
}

/* tcx ingress. SEC("tc") and not "tcx/ingress": the libbpf of this system
 * (1.1.2) predates the tcx section names and refuses the object. "tc" makes
 * a SCHED_CLS program without an expected attach type, which a tcx link
 * (BPF_TCX_INGRESS) accepts: the kernel checks the link's attach type. */
SEC("tc")
int vr_tc_vif(struct __sk_buff *skb)
{
	if (tc_passed_by_xdp(skb))
		return TC_ACT_OK;
	ctx_set_dir(skb, 0);
	return vif_input(skb, VR_HOOK_TC);
}

#if VR_LAYOUT_VERSION >= 5
/* tcx egress, attached to host vifs only (lib/host_egress.h); "tc" for the
 * same reason as vr_tc_vif: the link's attach type is BPF_TCX_EGRESS */
SEC("tc")
int vr_tc_egress(struct __sk_buff *skb)
{
	return host_egress(skb);
}
#endif

/* not attached: the daemon's bulk route lookup, run with BPF_PROG_TEST_RUN
 * (layout v2 and later: it reads the route's own plen) */
#if VR_LAYOUT_VERSION >= 2
#include "lib/route_probe.h"
#endif
char _license[] SEC("license") = "GPL";
