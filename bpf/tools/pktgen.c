/* pktgen.c: the traffic generator of the benchmarks, run with
 * BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES out of a pod's eth0
 * (XDP_TX in live mode transmits out of ingress_ifindex).
 *
 * Live-frame pages are recycled without being re-initialised, so the
 * headers the router rewrote (MACs, TTL, checksum) would leak into the next
 * frame: the program rewrites the Ethernet and IPv4 headers of every frame
 * from the template in pktgen_hdr, which user space fills before loading. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define HDR_LEN 34 /* Ethernet + IPv4 without options */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[HDR_LEN]);
} pktgen_hdr SEC(".maps");

SEC("xdp")
int vr_pktgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	__u8 *tmpl = bpf_map_lookup_elem(&pktgen_hdr, &zero);

	if (!tmpl || data + HDR_LEN > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, tmpl, HDR_LEN);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
