/* pktgen_flows.c: the flow-miss benchmark's traffic (bench/miss-rate.ts):
 * every frame is a flow of its own, and its payload says when it was made.
 *
 *   vr_flowgen   XDP, run like pktgen.c (BPF_PROG_TEST_RUN + live frames
 *                out of pod1's eth0): the Ethernet, IPv4 and UDP headers
 *                from the template in fg_hdr, then n = fg_ctr[0]++ (one per
 *                run) makes the flow: UDP source port 1024 + n % 64512, the
 *                source address's low 16 bits + n / 64512 (IPv4 checksum
 *                updated, RFC 1624), so 2^32 runs are distinct 5-tuples.
 *                The payload carries FG_MAGIC, n and bpf_ktime_get_ns() of
 *                the run (CLOCK_MONOTONIC, the clock of FlowMiss.timestamp_ns
 *                and of process.hrtime).
 *   vr_flowsink  tcx ingress of pod2's eth0: each of our frames that arrives
 *                (a held packet the daemon re-injected) is dropped there
 *                (TC_ACT_SHOT); those of flows n >= fs_cfg's first are
 *                counted, with the first and last arrival, a histogram of
 *                arrival - made, and a bit per n (a second arrival of one
 *                flow counts as a duplicate); earlier flows (a warm-up's)
 *                count as early; anything else goes on.
 *
 * Live-frame pages are recycled without being re-initialised (pktgen.c):
 * every byte the frame's flow depends on is written on every run. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define FG_HDR_LEN 42   /* Ethernet + IPv4 without options + UDP */
#define FG_IP_CSUM 24   /* IPv4 header checksum */
#define FG_SRC_LO 28    /* the source address's low 16 bits */
#define FG_SPORT 34     /* UDP source port */
#define FG_MAGIC_OFF 42 /* payload: magic (4), n (4), made ns (8) */
#define FG_N_OFF 46
#define FG_TS_OFF 50
#define FG_END 58
#define FG_MAGIC 0x47465256 /* "VRFG" read as a little-endian u32 */
#define FG_PORTS 64512      /* source ports 1024..65535 */

/* the sink's histogram: latency in units of 1024 ns; below 32 units one
 * bucket each, then 32 buckets per power of two (3 % wide); must match
 * bench/miss-sink.ts */
#define FS_SUB_BITS 5
#define FS_SUB (1 << FS_SUB_BITS)
#define FS_MAX_EXP 34
#define FS_BUCKETS (FS_SUB + (FS_MAX_EXP - FS_SUB_BITS + 1) * FS_SUB)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[FG_HDR_LEN]);
} fg_hdr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} fg_ctr SEC(".maps");

/* must match bench/miss-sink.ts */
struct fs_stats {
	__u64 count;
	__u64 first_ns;
	__u64 last_ns;
	__u64 lat_sum_ns;
	__u64 lat_max_ns;
	__u64 other;
	__u64 early;
	__u64 dups;
};

/* the flows counted: n >= first (a u32) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fs_cfg SEC(".maps");

/* a bit per flow n (below FS_SEEN_WORDS * 64): seen once already */
#define FS_SEEN_WORDS (1 << 16)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FS_SEEN_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} fs_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fs_stats);
} fs_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FS_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} fs_hist SEC(".maps");

static __always_inline __u16 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

SEC("xdp")
int vr_flowgen(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	__u8 *tmpl = bpf_map_lookup_elem(&fg_hdr, &zero);
	__u64 *ctr = bpf_map_lookup_elem(&fg_ctr, &zero);
	__u16 old_lo, new_lo, csum, sport;
	__u32 magic = FG_MAGIC, n32;
	__u64 n, now;

	if (!tmpl || !ctr || (void *)(data + FG_END) > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, tmpl, FG_HDR_LEN);
	n = __sync_fetch_and_add(ctr, 1);
	sport = bpf_htons(1024 + (__u16)(n % FG_PORTS));
	__builtin_memcpy(data + FG_SPORT, &sport, 2);
	__builtin_memcpy(&old_lo, data + FG_SRC_LO, 2);
	new_lo = bpf_htons(bpf_ntohs(old_lo) + (__u16)(n / FG_PORTS));
	__builtin_memcpy(data + FG_SRC_LO, &new_lo, 2);
	/* HC' = ~(~HC + ~m + m') */
	__builtin_memcpy(&csum, data + FG_IP_CSUM, 2);
	csum = ~csum_fold((__u32)(__u16)~csum + (__u16)~old_lo + new_lo);
	__builtin_memcpy(data + FG_IP_CSUM, &csum, 2);
	n32 = (__u32)n;
	now = bpf_ktime_get_ns();
	__builtin_memcpy(data + FG_MAGIC_OFF, &magic, 4);
	__builtin_memcpy(data + FG_N_OFF, &n32, 4);
	__builtin_memcpy(data + FG_TS_OFF, &now, 8);
	return XDP_TX;
}

/* msb: the index of the highest bit set (v > 0), without a loop */
static __always_inline __u32 msb(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r;
}

static __always_inline __u32 fs_bucket(__u64 lat_ns)
{
	__u64 u = lat_ns >> 10;
	__u32 e;

	if (u < FS_SUB)
		return (__u32)u;
	e = msb(u);
	if (e > FS_MAX_EXP)
		return FS_BUCKETS - 1;
	return FS_SUB + (e - FS_SUB_BITS) * FS_SUB + (__u32)((u >> (e - FS_SUB_BITS)) & (FS_SUB - 1));
}

SEC("tc")
int vr_flowsink(struct __sk_buff *skb)
{
	__u32 zero = 0, magic = 0, idx, n = 0, word;
	struct fs_stats *st = bpf_map_lookup_elem(&fs_stats, &zero);
	__u32 *first = bpf_map_lookup_elem(&fs_cfg, &zero);
	__u64 made, now, lat, *b, *seen, bit;

	if (!st || !first)
		return TC_ACT_UNSPEC;
	if (bpf_skb_load_bytes(skb, FG_MAGIC_OFF, &magic, 4) || magic != FG_MAGIC ||
	    bpf_skb_load_bytes(skb, FG_N_OFF, &n, 4) || bpf_skb_load_bytes(skb, FG_TS_OFF, &made, 8)) {
		__sync_fetch_and_add(&st->other, 1);
		return TC_ACT_UNSPEC;
	}
	if (n < *first) {
		__sync_fetch_and_add(&st->early, 1);
		return TC_ACT_SHOT;
	}
	word = n / 64;
	seen = bpf_map_lookup_elem(&fs_seen, &word);
	if (seen) {
		bit = 1ULL << (n % 64);
		if (__sync_fetch_and_or(seen, bit) & bit) {
			__sync_fetch_and_add(&st->dups, 1);
			return TC_ACT_SHOT;
		}
	}
	now = bpf_ktime_get_ns();
	lat = now > made ? now - made : 0;
	__sync_fetch_and_add(&st->count, 1);
	__sync_fetch_and_add(&st->lat_sum_ns, lat);
	if (!st->first_ns)
		__sync_val_compare_and_swap(&st->first_ns, 0, now);
	if (now > st->last_ns)
		st->last_ns = now;
	if (lat > st->lat_max_ns)
		st->lat_max_ns = lat;
	idx = fs_bucket(lat);
	b = bpf_map_lookup_elem(&fs_hist, &idx);
	if (b)
		__sync_fetch_and_add(b, 1);
	return TC_ACT_SHOT;
}

char _license[] SEC("license") = "GPL";
