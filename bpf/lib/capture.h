/* capture.h: copies a frame into a ring buffer record (a flow miss for the
 * hold queue, a packet of interest for the agent). The record is built in
 * this CPU's vr_scratch (a reservation must be of a constant size; the
 * frame's is not) and copied with one bpf_ringbuf_output. */
#ifndef VR_CAPTURE_H
#define VR_CAPTURE_H

#include "maps.h"
#include "ctx.h"

static __always_inline struct vr_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vr_scratch, &zero);
}

/* capture: the frame's first `cap` bytes into `dst` (cap in [ETH_HLEN, VR_CAP_MAX]) */
static __always_inline int capture(void *ctx, const enum vr_hook hook, __u8 *dst, __u64 cap)
{
	if (hook == VR_HOOK_TC)
		return bpf_skb_load_bytes(ctx, 0, dst, cap);
	return bpf_xdp_load_bytes(ctx, 0, dst, cap);
}

/* cap_len: how much of a pkt_len frame a record carries; 0 for a runt. The
 * mask (a no-op after the clamp) gives the verifier an upper bound it keeps
 * through the 32-bit moves clang makes of a min(); vr_scratch has room for
 * it (VR_SCRATCH_CAP). */
static __always_inline __u64 cap_len(__u32 pkt_len)
{
	__u64 len = pkt_len > VR_CAP_MAX ? VR_CAP_MAX : pkt_len;

	asm volatile("%0 &= %1" : "+r"(len) : "i"(VR_SCRATCH_CAP - 1));
	if (len < ETH_HLEN)
		return 0;
	return len;
}

/* ring_miss: a VR_EV_MISS record with the frame; 0 when it is in the ring */
static __always_inline int ring_miss(void *ctx, const enum vr_hook hook, struct vr_scratch *s,
				     const struct vr_vif *vif, __u32 ifindex, const struct vr_flow_key *key,
				     __u64 hold_id, __u8 flags, __u32 pkt_len)
{
	struct vr_miss *m = (void *)s->rec;
	__u64 cap = cap_len(pkt_len);

	if (!cap || capture(ctx, hook, s->rec + sizeof(*m), cap))
		return -1;
	m->type = VR_EV_MISS;
	m->hook = hook;
	m->flags = flags;
	m->ifindex = ifindex;
	m->vif_idx = vif->vif_idx;
	m->pkt_len = pkt_len;
	m->hold_id = hold_id;
	m->ts_ns = bpf_ktime_get_ns();
	__builtin_memcpy(&m->key, key, sizeof(*key));
	m->cap_len = cap;
	m->pad[0] = m->pad[1] = 0;
	return bpf_ringbuf_output(&vr_miss_rb, m, sizeof(*m) + cap, 0);
}

/* ring_trap: a VR_EV_TRAP record with the frame; 0 when it is in the ring */
static __always_inline int ring_trap(void *ctx, const enum vr_hook hook, struct vr_scratch *s,
				     const struct vr_vif *vif, __u32 ifindex, __u8 reason, __u32 pkt_len)
{
	struct vr_trap *t = (void *)s->rec;
	__u64 cap = cap_len(pkt_len);

	if (!cap || capture(ctx, hook, s->rec + sizeof(*t), cap))
		return -1;
	t->type = VR_EV_TRAP;
	t->hook = hook;
	t->reason = reason;
	t->ifindex = ifindex;
	t->vif_idx = vif->vif_idx;
	t->vrf = vif->vrf;
	t->pkt_len = pkt_len;
	t->cap_len = cap;
	t->pad[0] = t->pad[1] = 0;
	t->ts_ns = bpf_ktime_get_ns();
	return bpf_ringbuf_output(&vr_trap_rb, t, sizeof(*t) + cap, 0);
}

#endif /* VR_CAPTURE_H */
