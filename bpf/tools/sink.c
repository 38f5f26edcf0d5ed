/* sink.c: XDP_DROP on a pod's eth0, so that a benchmark counts delivered
 * frames with `ethtool -S` (rx_queue_0_xdp_drops) without the stack's cost. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int vr_sink(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
