/* tc_peer_fwd.c: the least a TC router between two pods can do, for the
 * TCP bench (bench/tc-bare.ts): at tcx ingress of a host veth, look the
 * arrival ifindex up in peer_of and bpf_redirect_peer to the other host
 * veth's pod. No tables, no rewrite, no counters: the floor our TC path is
 * measured against (what the hook and the peer redirect cost by themselves). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);   /* arrival ifindex (host veth) */
	__type(value, __u32); /* the host veth whose peer gets the packet */
} peer_of SEC(".maps");

SEC("tc")
int tc_peer_fwd(struct __sk_buff *skb)
{
	__u32 in = skb->ingress_ifindex;
	__u32 *out = bpf_map_lookup_elem(&peer_of, &in);

	if (!out)
		return TC_ACT_OK;
	return bpf_redirect_peer(*out, 0);
}

char _license[] SEC("license") = "GPL";
