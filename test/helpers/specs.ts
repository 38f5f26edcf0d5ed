/**
 * Specs for tests, written as strings and parsed the way the API edge
 * parses requests.
 */
import type { NextHopSpec, Route, RouteKey, VifSpec } from '../../src/manager/model.ts';
import { vifSpec } from '../../src/manager/model.ts';
import { parseIp, parseMac, parsePrefix } from '../../src/manager/net-addr.ts';

export const mac = (s: string) => parseMac(s, 'mac');

export function route(vrf: number, prefix: string, nhId: number, proxyArp = false): Route {
  const p = parsePrefix(prefix, 'prefix');
  return { vrf, addr: p.addr, plen: p.plen, nhId, proxyArp };
}

export function routeKey(vrf: number, prefix: string): RouteKey {
  const p = parsePrefix(prefix, 'prefix');
  return { vrf, addr: p.addr, plen: p.plen };
}

export function encapNh(id: number, vrf: number, vifIndex: number, dstMac: string, srcMac = ''): NextHopSpec {
  return { id, vrf, kind: 'encap', encap: { vifIndex, dmac: mac(dstMac), smac: srcMac ? mac(srcMac) : undefined } };
}

/** vif: a VifSpec from strings ("" = not given). */
export function vif(
  p: Pick<VifSpec, 'index' | 'name' | 'type'> & Partial<Omit<VifSpec, 'mac' | 'ip4' | 'ip6'>> & { mac?: string; ip4?: string; ip6?: string },
): VifSpec {
  const { mac: m, ip4, ip6, ...rest } = p;
  return vifSpec({
    ...rest,
    mac: m ? mac(m) : undefined,
    ip4: ip4 ? parseIp(ip4, 'ip4').bytes : undefined,
    ip6: ip6 ? parseIp(ip6, 'ip6').bytes : undefined,
  });
}

/** tunnelNh: a tunnel next hop from strings (inner MACs: VXLAN only, "" = not given). */
export function tunnelNh(
  id: number,
  vrf: number,
  t: { type: 'mplsoudp' | 'mplsogre' | 'vxlan'; src: string; dst: string; label: number; vifIndex: number; innerDmac?: string; innerSmac?: string },
): NextHopSpec {
  return {
    id,
    vrf,
    kind: 'tunnel',
    tunnel: {
      type: t.type,
      src: parseIp(t.src, 'src').bytes,
      dst: parseIp(t.dst, 'dst').bytes,
      label: t.label,
      vifIndex: t.vifIndex,
      innerDmac: t.innerDmac ? mac(t.innerDmac) : undefined,
      innerSmac: t.innerSmac ? mac(t.innerSmac) : undefined,
    },
  };
}
