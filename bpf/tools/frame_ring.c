/* frame_ring.c: frames into a ring buffer, for the flow hub's tests
 * (src/flows/). fr_ring is replaced at load by the ring under test (the
 * datapath's pinned vr_miss_rb) or left as its own.
 *   fr_put      XDP, run with BPF_PROG_TEST_RUN: the input becomes one ring
 *               record, byte for byte (a synthetic vr_miss record, written
 *               where the datapath writes its own)
 *   fr_capture  tcx ingress: each frame that arrives becomes one record and
 *               is dropped (what a pod sends, as the TC hook sees it:
 *               partial checksums included) */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define FR_MAX 4096

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} fr_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[FR_MAX]);
} fr_scratch SEC(".maps");

SEC("xdp")
int fr_put(struct xdp_md *ctx)
{
	__u64 len = (__u64)ctx->data_end - (__u64)ctx->data;
	__u32 zero = 0;
	__u8 *buf = bpf_map_lookup_elem(&fr_scratch, &zero);

	/* the lower bound on the 64-bit length, before the clamp (verifier) */
	if (!buf || len < 1 || len > FR_MAX)
		return XDP_ABORTED;
	asm volatile("" : "+r"(len));
	if (len < 1 || len > FR_MAX)
		return XDP_ABORTED;
	if (bpf_xdp_load_bytes(ctx, 0, buf, len))
		return XDP_ABORTED;
	if (bpf_ringbuf_output(&fr_ring, buf, len, 0))
		return XDP_DROP; /* ring full */
	return XDP_PASS;
}

SEC("tc")
int fr_capture(struct __sk_buff *skb)
{
	__u64 len = skb->len;
	__u32 zero = 0;
	__u8 *buf = bpf_map_lookup_elem(&fr_scratch, &zero);

	if (!buf || len < 1)
		return TC_ACT_SHOT;
	if (len > FR_MAX)
		len = FR_MAX;
	asm volatile("" : "+r"(len));
	if (len < 1 || len > FR_MAX)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, 0, buf, len))
		return TC_ACT_SHOT;
	bpf_ringbuf_output(&fr_ring, buf, len, 0);
	return TC_ACT_SHOT;
}

char _license[] SEC("license") = "GPL";
