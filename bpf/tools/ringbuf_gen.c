/* ringbuf_gen.c: writes records into a ring buffer at full speed, for the
 * ring buffer reader's tests and bench (src/bpf/ringbuf.ts). Run with
 * BPF_PROG_TEST_RUN on a frame that starts with struct rbg_cfg: one run
 * writes cfg.count records with bpf_loop and writes back how many it wrote.
 *
 * Record i carries its sequence number (seq0 + i) in its first 8 bytes, its
 * size in the next 4, and the sequence number again in its last 8, so the
 * reader's tests see a record cut or shifted by a wraparound. Its size runs
 * from min_size (at least 20) to max_size (at most 4096) by seq
 * (size = min + seq % (max - min + 1)).
 * With discard_every = k, a reserved-then-discarded record precedes every
 * k-th record: the reader must skip it; it takes no sequence number.
 * The run stops at the first record the ring has no room for (the reader
 * is behind), so that user space can resume at seq0 + written. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define RBG_MAX_SIZE 4096
#define RBG_DISCARD_SIZE 40

struct rbg_cfg {
	__u64 seq0;
	__u32 count;
	__u32 min_size;
	__u32 max_size;
	__u32 discard_every;
	__u32 written;   /* out */
	__u32 discarded; /* out */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* user space sets its size before load */
} rbg_ring SEC(".maps");

/* the record being written: a per-CPU scratch, since the stack holds 512 bytes */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[RBG_MAX_SIZE]);
} rbg_scratch SEC(".maps");

struct rbg_ctx {
	struct rbg_cfg cfg;
	__u8 *buf;
	__u32 written;
	__u32 discarded;
};

static long rbg_one(__u64 i, void *arg)
{
	struct rbg_ctx *c = arg;
	__u64 seq = c->cfg.seq0 + i;
	__u32 span = c->cfg.max_size - c->cfg.min_size + 1;
	__u32 size = c->cfg.min_size + (span ? (__u32)(seq % span) : 0);
	__u8 *buf = c->buf;

	if (size < 20 || size > RBG_MAX_SIZE)
		return 1;
	if (c->cfg.discard_every && i % c->cfg.discard_every == 0) {
		__u64 *d = bpf_ringbuf_reserve(&rbg_ring, RBG_DISCARD_SIZE, 0);

		if (!d)
			return 1;
		d[0] = ~0ULL; /* a sequence number no kept record has */
		bpf_ringbuf_discard(d, 0);
		c->discarded++;
	}
	*(__u64 *)buf = seq;
	*(__u32 *)(buf + 8) = size;
	__u32 tail = size - 8;

	if (tail > RBG_MAX_SIZE - 8)
		return 1;
	*(__u64 *)(buf + tail) = seq;
	/* the bound checked again on the register passed (the compiler would test a copy) */
	__u64 n = size;

	asm volatile("" : "+r"(n));
	if (n > RBG_MAX_SIZE)
		return 1;
	if (bpf_ringbuf_output(&rbg_ring, buf, n, 0))
		return 1;
	c->written++;
	return 0;
}

SEC("xdp")
int vr_ringbuf_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct rbg_cfg *cfg = data;
	struct rbg_ctx c = {};
	__u32 zero = 0;

	if ((void *)(cfg + 1) > data_end)
		return XDP_ABORTED;
	c.buf = bpf_map_lookup_elem(&rbg_scratch, &zero);
	if (!c.buf)
		return XDP_ABORTED;
	__builtin_memcpy(&c.cfg, cfg, sizeof(c.cfg));
	/* a 32-bit load of its own: the compiler would pass the low half of a
	 * 64-bit load (count and min_size) and bpf_loop sees it whole (E2BIG) */
	__u32 nr = *(volatile __u32 *)&cfg->count;

	bpf_loop(nr, rbg_one, &c, 0);
	cfg->written = c.written;
	cfg->discarded = c.discarded;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
