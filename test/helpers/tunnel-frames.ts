/**
 * Tunnel frames for tests, built from fields independently of the datapath
 * (RFC 7510 MPLSoUDP, RFC 4023 MPLSoGRE, RFC 7348 VXLAN, RFC 792 / 4443
 * ICMP errors): what our encapsulation must send, what a peer sends us,
 * and what a too-big packet is answered with.
 */
import { csum16, eth, icmp6Csum, ip, ipv4, ipv6, mac } from './packets.ts';

export const MPLS_PORT = 6635;
export const VXLAN_PORT = 4789;

/** outer: what the underlay header carries */
export interface Outer {
  dmac: string;
  smac: string;
  src: string;
  dst: string;
}

/** mplsLabel: one label with bottom-of-stack set (stack: false leaves S clear) */
export function mplsLabel(label: number, ttl: number, opts: { bottom?: boolean } = {}): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(((label & 0xfffff) << 12) | ((opts.bottom ?? true) ? 0x100 : 0) | (ttl & 0xff));
  return b;
}

/** outerIpv4: the outer IPv4 header: DF, TTL 64, id 0, no options, checksum computed here */
function outerIpv4(o: Outer, proto: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(0x4000, 6); // DF
  h[8] = 64;
  h[9] = proto;
  ip(o.src).copy(h, 12);
  ip(o.dst).copy(h, 16);
  h.writeUInt16BE(csum16(h), 10);
  return Buffer.concat([h, payload]);
}

function udpNoCsum(sport: number, dport: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]); // checksum 0 (RFC 7510 / 7348 over IPv4)
}

/** mplsOverUdp: an Ethernet frame carrying `inner` (an IP packet) under one label */
export function mplsOverUdp(o: Outer, sport: number, label: number, ttl: number, inner: Buffer, opts: { bottom?: boolean } = {}): Buffer {
  return eth(o.dmac, o.smac, 0x0800, outerIpv4(o, 17, udpNoCsum(sport, MPLS_PORT, Buffer.concat([mplsLabel(label, ttl, opts), inner]))));
}

/** mplsOverGre: GRE without options, protocol 0x8847 (flags: the first 16 bits, 0 normally) */
export function mplsOverGre(o: Outer, label: number, ttl: number, inner: Buffer, opts: { greFlags?: number } = {}): Buffer {
  const gre = Buffer.alloc(4);
  gre.writeUInt16BE(opts.greFlags ?? 0, 0);
  gre.writeUInt16BE(0x8847, 2);
  return eth(o.dmac, o.smac, 0x0800, outerIpv4(o, 47, Buffer.concat([gre, mplsLabel(label, ttl), inner])));
}

/** vxlan: `innerFrame` (an Ethernet frame) under a VNI; flags 0x08 (I) unless given */
export function vxlan(o: Outer, sport: number, vni: number, innerFrame: Buffer, opts: { flags?: number } = {}): Buffer {
  const h = Buffer.alloc(8);
  h[0] = opts.flags ?? 0x08;
  h.writeUInt32BE((vni & 0xffffff) << 8, 4);
  return eth(o.dmac, o.smac, 0x0800, outerIpv4(o, 17, udpNoCsum(sport, VXLAN_PORT, Buffer.concat([h, innerFrame]))));
}

/**
 * tunSport: the UDP source port for an inner packet (an IP packet): FNV-1a
 * over 32-bit little-endian words of the source and destination addresses,
 * the port pair as it sits in the header, and the protocol; folded, into
 * 49152..65535 (the datapath's bpf/lib/tunnel.h computes the same).
 */
export function tunSport(innerIp: Buffer): number {
  return 49152 | (flowHash(innerIp) & 0x3fff);
}

/** flowHash: the datapath's flow hash of an IP packet (bpf/lib/tunnel.h flow_hash): tunSport's and an ECMP bucket's (hash % 64) */
export function flowHash(innerIp: Buffer): number {
  const v6 = innerIp[0]! >> 4 === 6;
  const words: number[] = [];
  const addrs = v6 ? innerIp.subarray(8, 40) : innerIp.subarray(12, 20);
  for (let i = 0; i < addrs.length; i += 4) words.push(addrs.readUInt32LE(i));
  const proto = v6 ? innerIp[6]! : innerIp[9]!;
  const l4 = v6 ? 40 : (innerIp[0]! & 0xf) * 4;
  const ports = proto === 6 || proto === 17 ? innerIp.readUInt32LE(l4) : 0;
  words.push(ports, proto);
  let h = 0x811c9dc5;
  for (const w of words) h = Math.imul((h ^ w) >>> 0, 0x01000193) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * partialFix: the value a TC answer writes in the quote's L4 checksum field
 * (see bpf/lib/icmp_err.h): v with R + v = ~v in one's complement, R the
 * quoted L4 bytes' sum without the field, so the ICMP checksum holds
 * whether or not a CHECKSUM_PARTIAL skb's checksum is finished later.
 */
export function partialFix(l4: Buffer, proto: number): Buffer {
  const out = Buffer.from(l4);
  const off = proto === 6 ? 16 : proto === 17 ? 6 : -1;
  if (off < 0) return out;
  out.writeUInt16BE(0, off);
  const r = ~csum16(out) & 0xffff;
  const x = ~r & 0xffff;
  out.writeUInt16BE(((x >>> 1) | (x << 15)) & 0xffff, off);
  return out;
}

/** fragNeeded: the ICMP answer to an oversize IPv4 packet (`orig`: its IP packet), quoting its header and 20 bytes */
export function fragNeeded(toMac: string, fromMac: string, from: string, orig: Buffer, mtu: number, opts: { tc?: boolean } = {}): Buffer {
  let quote = Buffer.from(orig.subarray(0, 40));
  if (opts.tc) quote = Buffer.concat([quote.subarray(0, 20), partialFix(quote.subarray(20), orig[9]!)]);
  const icmp = Buffer.alloc(8);
  icmp[0] = 3;
  icmp[1] = 4;
  icmp.writeUInt16BE(mtu, 6);
  const msg = Buffer.concat([icmp, quote]);
  msg.writeUInt16BE(csum16(msg), 2);
  const src = [...orig.subarray(12, 16)].join('.');
  return eth(toMac, fromMac, 0x0800, ipv4(from, src, 1, msg, { ttl: 64, id: 0 }));
}

/** packetTooBig: the ICMPv6 answer to an oversize IPv6 packet, quoting its header and 20 bytes */
export function packetTooBig(toMac: string, fromMac: string, from: string, orig: Buffer, mtu: number, opts: { tc?: boolean } = {}): Buffer {
  let quote = Buffer.from(orig.subarray(0, 60));
  if (opts.tc) quote = Buffer.concat([quote.subarray(0, 40), partialFix(quote.subarray(40), orig[6]!)]);
  const icmp = Buffer.alloc(8);
  icmp[0] = 2;
  icmp.writeUInt32BE(mtu, 4);
  const msg = Buffer.concat([icmp, quote]);
  const src = orig.subarray(8, 24);
  msg.writeUInt16BE(icmp6Csum(ip(from), src, msg), 2);
  const l3 = ipv6(from, '::', 58, msg, 64);
  src.copy(l3, 24);
  return eth(toMac, fromMac, 0x86dd, l3);
}

export { mac };
