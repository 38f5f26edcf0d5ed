/* vr_reinject.c: re-injection of held frames in batches. The daemon loads
 * this object on the pinned maps (never attached), writes up to
 * VR_RJ_SLOTS frames of one arrival vif into vr_rj_frames, and runs
 * vr_reinject once with BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES,
 * repeat = the frame count, ingress_ifindex = the vif: each run takes the
 * next frame, writes it over the (recycled) live-frame page and sends it
 * through the datapath as if it had just arrived, so it now meets the flow
 * the agent set. One syscall for a batch instead of one per frame (a live
 * run's setup, its page pool, is most of its cost).
 *
 * The input frame of the run is VR_RJ_MAX bytes: each run shrinks it to
 * its frame's length (a live run starts every repetition at the input's
 * length; the content is whatever the page held). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "shared/vr_kern_user.h"
#include "lib/datapath.h"

const volatile __u32 vr_layout_version = VR_LAYOUT_VERSION;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VR_RJ_SLOTS);
	__type(key, __u32);
	__type(value, struct vr_rj_frame);
} vr_rj_frames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vr_rj_ctl);
} vr_rj_ctl SEC(".maps");

SEC("xdp")
int vr_reinject(struct xdp_md *ctx)
{
	struct vr_rj_frame *f;
	struct vr_rj_ctl *c;
	__u32 zero = 0, idx;
	__u64 len;

	c = bpf_map_lookup_elem(&vr_rj_ctl, &zero);
	if (!c)
		return XDP_DROP;
	idx = __sync_fetch_and_add(&c->next, 1);
	if (idx >= c->count)
		return XDP_DROP;
	f = bpf_map_lookup_elem(&vr_rj_frames, &idx);
	if (!f)
		return XDP_DROP;
	len = f->len;
	asm volatile("%0 &= %1" : "+r"(len) : "i"(VR_RJ_BUF - 1));
	if (len < ETH_HLEN || len > VR_RJ_MAX)
		return XDP_DROP;
	if (bpf_xdp_adjust_tail(ctx, (int)len - (int)bpf_xdp_get_buff_len(ctx)))
		return XDP_DROP;
	if (bpf_xdp_store_bytes(ctx, 0, f->data, len))
		return XDP_DROP;
	__sync_fetch_and_add(&c->sent, 1);
	return xdp_verdict(ctx, vif_input(ctx, VR_HOOK_XDP));
}

char _license[] SEC("license") = "GPL";
