/* maps.h: every map of the datapath, declared once with BTF types.
 * Names are what the daemon pins under <bpffs>/<instance>/maps/. */
#ifndef VR_MAPS_H
#define VR_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "../shared/vr_kern_user.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vr_meta);
} vr_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VR_DEF_MAX_VIFS);
	__type(key, __u32);
	__type(value, struct vr_vif);
} vr_vifs SEC(".maps");

/* an array: next-hop ids are small and dense, and an array lookup is
 * inlined by the verifier (no hashing); an empty slot has type VR_NH_UNSPEC */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VR_DEF_MAX_NEXTHOPS);
	__type(key, __u32);
	__type(value, struct vr_nh);
} vr_nexthops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VR_DEF_MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vr_rt4_key);
	__type(value, struct vr_rt);
} vr_rt4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VR_DEF_MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vr_rt6_key);
	__type(value, struct vr_rt);
} vr_rt6 SEC(".maps");

#if VR_LAYOUT_VERSION >= 4
/* host routes (/32, /128): looked up before the tries (lib/route.h), one
 * hash probe whatever the table's size. Sized like the tries (max-routes).
 * Not preallocated: measured at max-routes 1M (bench lookup phase,
 * 2026-11-28), preallocation changed no lookup cost (hot or spread, 1k and
 * 1M routes) but pins ~85 MiB per family from the first start; without it
 * a family costs its 16 MiB of buckets plus ~80 B per route. */
#ifndef VR_HOST_MAP_FLAGS
#define VR_HOST_MAP_FLAGS BPF_F_NO_PREALLOC /* -DVR_HOST_MAP_FLAGS=0: the preallocated build, to measure again */
#endif
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VR_DEF_MAX_ROUTES);
	__uint(map_flags, VR_HOST_MAP_FLAGS);
	__type(key, struct vr_host4_key);
	__type(value, struct vr_rt);
} vr_host4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VR_DEF_MAX_ROUTES);
	__uint(map_flags, VR_HOST_MAP_FLAGS);
	__type(key, struct vr_host6_key);
	__type(value, struct vr_rt);
} vr_host6 SEC(".maps");
#endif

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VR_DEF_MAX_VIFS);
	__type(key, __u32);
	__type(value, struct vr_vif_stats);
} vr_vif_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VR_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vr_drops SEC(".maps");

/* declared in the older upgrade-test builds too (not pinned there): the
 * same code then compiles the same way around it */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vr_config);
} vr_config SEC(".maps");

#if VR_LAYOUT_VERSION >= 3
/* flows: allocated as used (512k entries preallocated would be ~90 MB) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VR_DEF_MAX_FLOWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vr_flow_key);
	__type(value, struct vr_flow);
} vr_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VR_FC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vr_fctr SEC(".maps");
#endif

#if VR_LAYOUT_VERSION >= 5
/* tunnels: decap tables (preallocated hashes: a lookup per tunnelled packet) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VR_DEF_MAX_LABELS);
	__type(key, __u32);   /* MPLS label */
	__type(value, __u32); /* next-hop id */
} vr_mpls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VR_DEF_MAX_VNIS);
	__type(key, __u32);   /* VNI */
	__type(value, __u32); /* next-hop id */
} vr_vxlan SEC(".maps");

/* composite members and ECMP buckets: one block of VR_COMP_BLOCK slots per
 * composite (lib/composite.h); an array: the lookups are inlined */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VR_DEF_MAX_COMP);
	__type(key, __u32);   /* slot */
	__type(value, __u32); /* next-hop id */
} vr_comp SEC(".maps");

/* the bridge (MAC) table: one lookup per bridged frame (preallocated) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VR_DEF_MAX_BRIDGE);
	__type(key, struct vr_bridge_key);
	__type(value, struct vr_bridge);
} vr_bridge SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VR_TC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vr_tctr SEC(".maps");
#endif

#if VR_LAYOUT_VERSION >= 3

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vr_scratch);
} vr_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, VR_MISS_RING_SIZE);
} vr_miss_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, VR_TRAP_RING_SIZE);
} vr_trap_rb SEC(".maps");
#endif

#endif /* VR_MAPS_H */
