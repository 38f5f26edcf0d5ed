/** Route messages ⇄ route specs. */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Route as RouteMsg, RouteSchema } from '../../gen/vrouter/ebpf/v1/route_pb.js';
import { invalid } from '../../manager/errors.ts';
import type { Route, RouteKey } from '../../manager/model.ts';
import { formatPrefix, parsePrefix } from '../../manager/net-addr.ts';
import type { Renames } from './locate.ts';
import { MAX_VNI } from '../../maps/layout.ts';

export const ROUTE_RENAMES: Renames = { nhId: 'next_hop_id' };

/** checkLabel: a route's label: an MPLS label (20 bits) or a VNI (24 bits); the next hop's kind says which */
export function checkLabel(label: number, field: string): number {
  if (label > MAX_VNI) throw invalid(field, `${label} is out of range (an MPLS label is at most 1048575, a VNI at most 16777215)`);
  return label;
}

/** routeFromProto: `at` is the message's path in the request ("route.", "routes[3]."). */
export function routeFromProto(r: RouteMsg | undefined, at: string): Route {
  if (!r) throw invalid(at.replace(/\.$/, ''), 'the route is required');
  const p = parsePrefix(r.prefix, `${at}prefix`);
  const route: Route = { vrf: r.vrf, addr: p.addr, plen: p.plen, nhId: r.nextHopId, proxyArp: r.proxyArp };
  if (r.label !== undefined) route.label = checkLabel(r.label, `${at}label`);
  return route;
}

export function routeKeyFromProto(k: { vrf: number; prefix: string }, at: string): RouteKey {
  const p = parsePrefix(k.prefix, `${at}prefix`);
  return { vrf: k.vrf, addr: p.addr, plen: p.plen };
}

export function routeToProto(r: Route): MessageInitShape<typeof RouteSchema> {
  return { vrf: r.vrf, prefix: formatPrefix(r), nextHopId: r.nhId, proxyArp: r.proxyArp, ...(r.label !== undefined ? { label: r.label } : {}) };
}
