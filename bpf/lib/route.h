/* route.h: per-VRF longest-prefix lookups. Since layout v4 a host route
 * (/32, /128) lives only in the exact-match hash of its family, every other
 * prefix in the LPM trie: a hit in the hash is the longest match there can
 * be, a miss falls back to the trie. One hash probe costs the same at 1k and
 * 1M routes; a trie lookup walks deeper as the trie grows. */
#ifndef VR_ROUTE_H
#define VR_ROUTE_H

#include "maps.h"

static __always_inline struct vr_rt *route4_lookup(__u32 vrf, __be32 addr)
{
	struct vr_rt4_key key = { .prefixlen = 64, .vrf = bpf_htonl(vrf) };

#if VR_LAYOUT_VERSION >= 4
	struct vr_host4_key hk = { .vrf = key.vrf };
	struct vr_rt *rt;

	__builtin_memcpy(hk.addr, &addr, 4);
	rt = bpf_map_lookup_elem(&vr_host4, &hk);
	if (rt)
		return rt;
#endif
	__builtin_memcpy(key.addr, &addr, 4);
	return bpf_map_lookup_elem(&vr_rt4, &key);
}

static __always_inline struct vr_rt *route6_lookup(__u32 vrf, const __u8 *addr)
{
	struct vr_rt6_key key = { .prefixlen = 32 + 128, .vrf = bpf_htonl(vrf) };

#if VR_LAYOUT_VERSION >= 4
	struct vr_host6_key hk = { .vrf = key.vrf };
	struct vr_rt *rt;

	__builtin_memcpy(hk.addr, addr, 16);
	rt = bpf_map_lookup_elem(&vr_host6, &hk);
	if (rt)
		return rt;
#endif
	__builtin_memcpy(key.addr, addr, 16);
	return bpf_map_lookup_elem(&vr_rt6, &key);
}

/* proxy_allowed: a route answers ARP/ND for its addresses when it carries the
 * proxy flag, unless the address lives behind the asking vif itself (then the
 * owner answers, as in the vRouter). */
static __always_inline int proxy_allowed(const struct vr_rt *rt, __u32 in_ifindex)
{
	struct vr_nh *nh;
	__u32 id;

	if (!rt || !(rt->flags & VR_RT_F_PROXY_ARP))
		return 0;
	id = rt->nh_id;
	nh = bpf_map_lookup_elem(&vr_nexthops, &id);
	if (nh && nh->type == VR_NH_ENCAP && nh->oif_ifindex == in_ifindex)
		return 0;
	return 1;
}

#endif /* VR_ROUTE_H */
