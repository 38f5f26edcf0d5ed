/* route_probe.h: the daemon's bulk exact-route lookup.
 *
 * A bpf() syscall costs ~0.8 us here whatever it does, so checking 1M routes
 * one lookup at a time costs ~1 s. The daemon instead runs this program with
 * BPF_PROG_TEST_RUN on a "packet" that holds up to VR_PROBE_MAX route keys
 * (xdp.frags: the packet may span pages) and reads the answers back from
 * the output packet: one syscall per few thousand keys. Never attached. */
#ifndef VR_ROUTE_PROBE_H
#define VR_ROUTE_PROBE_H

#include "maps.h"

/* must stay in sync with src/maps/tables/route-probe.ts */
#define VR_PROBE_MAX 1024

struct vr_probe_hdr {
	__u32 family; /* 4 or 6 */
	__u32 count;
};

/* one record per key; the program fills in `value` and `found` */
struct vr_probe_rec {
	__u8  key[24];         /* struct vr_rt4_key (first 12 bytes) or vr_rt6_key (host routes too) */
	struct vr_rt value;    /* out: the longest match's value, host hash included (zero if none) */
	__u32 found;           /* out: 1 when there is a match (exact or covering) */
};

/* the loop's state (the record is scratch space on the program's stack);
 * its types reach the object's BTF through probe_one's signature, where the
 * daemon's layout test checks them */
struct vr_probe_loop {
	struct xdp_md *ctx;
	struct vr_probe_hdr hdr;
	struct vr_probe_rec rec;
	int err;
};

/* probe_lookup: the longest match of an LPM key as the datapath finds it
 * (lib/route.h): a full-length key is looked up in the host hash first,
 * with the key's bytes after its prefixlen (a vr_host4/6_key) */
static __always_inline struct vr_rt *probe_lookup(__u32 family, __u8 *key)
{
#if VR_LAYOUT_VERSION >= 4
	__u32 prefixlen = *(__u32 *)key;
	struct vr_rt *rt = NULL;

	if (family == 4 && prefixlen == 32 + 32)
		rt = bpf_map_lookup_elem(&vr_host4, key + 4);
	else if (family == 6 && prefixlen == 32 + 128)
		rt = bpf_map_lookup_elem(&vr_host6, key + 4);
	if (rt)
		return rt;
#endif
	return family == 4 ? bpf_map_lookup_elem(&vr_rt4, key) : bpf_map_lookup_elem(&vr_rt6, key);
}

/* probe_one: answers record i (bpf_loop callback: verified once, not per key) */
static long probe_one(__u32 i, struct vr_probe_loop *l)
{
	__u32 off = sizeof(struct vr_probe_hdr) + i * sizeof(struct vr_probe_rec);
	struct vr_probe_rec *rec = &l->rec;
	struct vr_rt *rt;

	if (bpf_xdp_load_bytes(l->ctx, off, rec, sizeof(*rec))) {
		l->err = 1;
		return 1;
	}
	rt = probe_lookup(l->hdr.family, rec->key);
	if (rt) {
		rec->value = *rt;
		rec->found = 1;
	} else {
		__builtin_memset(&rec->value, 0, sizeof(rec->value));
		rec->found = 0;
	}
	if (bpf_xdp_store_bytes(l->ctx, off + 24, &rec->value, sizeof(rec->value) + sizeof(rec->found))) {
		l->err = 1;
		return 1;
	}
	return 0;
}

SEC("xdp.frags")
int vr_rt_probe(struct xdp_md *ctx)
{
	struct vr_probe_loop l = { .ctx = ctx };

	if (bpf_xdp_load_bytes(ctx, 0, &l.hdr, sizeof(l.hdr)) || l.hdr.count > VR_PROBE_MAX)
		return XDP_ABORTED;
	bpf_loop(l.hdr.count, probe_one, &l, 0);
	return l.err ? XDP_ABORTED : XDP_PASS;
}

#endif /* VR_ROUTE_PROBE_H */
