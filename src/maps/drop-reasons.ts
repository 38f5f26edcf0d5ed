/**
 * DROP_REASONS: enum vr_drop_reason in order; the index is the reason code.
 * The names are the metric label values and the proto's DropReason suffixes.
 */
export const DROP_REASONS = [
  'unspecified',
  'invalid_packet',
  'invalid_interface',
  'interface_down',
  'interface_tx_down',
  'no_route',
  'invalid_nexthop',
  'discard',
  'ttl_exceeded',
  'mtu_exceeded',
  'invalid_protocol',
  'arp_not_proxied',
  'nd_not_proxied',
  'multicast',
  'unsupported_nexthop',
  // layout v3: flows
  'flow_drop',
  'flow_table_full',
  'flow_hold_limit',
  'flow_hold_ring_full',
  'flow_hold_too_big',
  'flow_hold_expired',
  'flow_hold_queue_full',
  'trap_ring_full',
  'nat_failed',
  // layout v5: tunnels
  'tunnel_no_route',
  'tunnel_encap_failed',
  'frag_needed',
  'invalid_label',
  'tunnel_decap_failed',
  'invalid_tunnel',
  'fabric_forwarding_off',
  // layout v5: bridging
  'l2_no_neigh',
  // layout v5: composites
  'composite_empty',
  'composite_nested',
  'flood_no_neigh',
  'flood_copy_failed',
  // kernel events: the output vif's link is operationally down
  'interface_link_down',
] as const;

export type DropReasonName = (typeof DROP_REASONS)[number];

/** VR_DROP_MAX: the number of reasons (the size of vr_drops). */
export const VR_DROP_MAX = DROP_REASONS.length;
