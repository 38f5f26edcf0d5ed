/**
 * A route as the tables hold it: the row shape of vr_rt4 / vr_rt6 in
 * domain terms. Defined here, below the manager, so that the tables need
 * nothing from above; manager/model.ts re-exports it as the domain type.
 */
export type Family = 4 | 6;

/** RouteKey: a route's identity; addr has host bits zero, its length is the family. */
export interface RouteKey {
  vrf: number;
  addr: Buffer;
  plen: number;
}

export interface Route extends RouteKey {
  nhId: number;
  proxyArp: boolean;
  /** the MPLS label / VNI a tunnel next hop carries for this route (overrides its own); undefined: none */
  label?: number | undefined;
}

export const familyOf = (addr: Buffer): Family => (addr.length === 4 ? 4 : 6);
