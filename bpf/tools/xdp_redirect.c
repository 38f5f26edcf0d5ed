/* xdp_redirect.c: the limit of the packet-rate bench (bench/xdp-bare.ts):
 * native XDP on a host veth that sends every frame to one other device
 * with bpf_redirect, nothing else: no parsing, no tables, no rewrite, no
 * counters. Our XDP path is reported as a share of its packets per second
 * (the xdp_redirect row of /work/shared/perf/baseline.sh, on our topology).
 * The output ifindex is in redirect_to[0], written by user space. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32); /* output ifindex; 0 = pass */
} redirect_to SEC(".maps");

SEC("xdp")
int xdp_bare_redirect(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *out = bpf_map_lookup_elem(&redirect_to, &zero);

	if (!out || !*out)
		return XDP_PASS;
	return bpf_redirect(*out, 0);
}

char _license[] SEC("license") = "GPL";
