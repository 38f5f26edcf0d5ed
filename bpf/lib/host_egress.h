/* host_egress.h: TC egress of the host vif's kernel interface (vhost0):
 * what the host's own stack sends out of it (its routes toward pods and
 * remote pods point there) comes into the datapath as if it had arrived on
 * the host vif: the host vif's VRF, the same route / flow / tunnel code
 * (lib/datapath.h), its counters. A pod gets it redirected with its MACs
 * rewritten, a remote pod through its tunnel out of the fabric; what the
 * datapath does not know goes on out of the interface (TC_ACT_OK: the
 * host vif's not_ours), so the host keeps working. The host's ARP and
 * neighbour solicitations for proxied addresses are answered up into the
 * host (lib/ctx.h ctx_redirect), as are ICMP errors (too big for a tunnel).
 *
 * Not taken twice: a packet that came in through a vif (skb_iif names a
 * vif) met the datapath on arrival, on that vif's ingress entry, which
 * passed it to the host (or redirected it here); the host routing it out
 * of this interface hands it on untouched. The XDP entry's "passed" mark
 * lives in the frame's metadata, which does not survive the host's
 * forwarding; the arrival interface does. What the host makes itself
 * (skb_iif 0) is looked up. */
#ifndef VR_HOST_EGRESS_H
#define VR_HOST_EGRESS_H

#include "datapath.h"

static __always_inline int host_egress(struct __sk_buff *skb)
{
	__u32 iif = skb->ingress_ifindex;
	__u32 ifindex = skb->ifindex;
	struct vr_vif *vif;

#ifdef VR_PROGRAM_VARIANT
	/* the alternative build differs here too (lib/datapath.h vif_input) */
	asm volatile("%0 = %0" : "+r"(ifindex));
#endif
	if (iif && bpf_map_lookup_elem(&vr_vifs, &iif))
		return TC_ACT_OK;
	vif = bpf_map_lookup_elem(&vr_vifs, &ifindex);
	/* the link is made for host vifs only; a vif deleted meanwhile: not ours */
	if (!vif || vif->type != VR_VIF_TYPE_HOST)
		return TC_ACT_OK;
	ctx_set_dir(skb, 1);
	return vif_run(skb, VR_HOOK_TC, ifindex, vif);
}

#endif /* VR_HOST_EGRESS_H */
