/**
 * Packet builders and parsers for tests: frames from fields, never hex.
 * Checksums are computed here independently of the datapath, so a test
 * that compares them checks the datapath's arithmetic.
 */
import { parseIp } from '../../src/manager/net-addr.ts';

export const mac = (s: string) => Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
export const ip = (s: string) => parseIp(s, 'test').bytes;

export function csum16(buf: Buffer, seed = 0): number {
  let sum = seed;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length & 1) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function eth(dst: string, src: string, type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  mac(dst).copy(h, 0);
  mac(src).copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

export function ipv4(src: string, dst: string, proto: number, payload: Buffer, opts: { ttl?: number; tos?: number; id?: number } = {}): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h[1] = opts.tos ?? 0;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(opts.id ?? 0x1234, 4);
  h[8] = opts.ttl ?? 64;
  h[9] = proto;
  ip(src).copy(h, 12);
  ip(dst).copy(h, 16);
  h.writeUInt16BE(csum16(h), 10);
  return Buffer.concat([h, payload]);
}

export function ipv6(src: string, dst: string, nextHeader: number, payload: Buffer, hopLimit = 64): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(payload.length, 4);
  h[6] = nextHeader;
  h[7] = hopLimit;
  ip(src).copy(h, 8);
  ip(dst).copy(h, 24);
  return Buffer.concat([h, payload]);
}

export function udp(sport: number, dport: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]); // checksum 0: none (IPv4)
}

export function icmpEcho(seq: number, payload = Buffer.alloc(32, 0xab)): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 8;
  h.writeUInt16BE(0x77, 4);
  h.writeUInt16BE(seq, 6);
  const b = Buffer.concat([h, payload]);
  b.writeUInt16BE(csum16(b), 2);
  return b;
}

/** icmp6Csum: the ICMPv6 checksum over the pseudo-header and message. */
export function icmp6Csum(src: Buffer, dst: Buffer, msg: Buffer): number {
  const pseudo = Buffer.alloc(40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, 16);
  pseudo.writeUInt32BE(msg.length, 32);
  pseudo[39] = 58;
  const m = Buffer.from(msg);
  m.writeUInt16BE(0, 2);
  return csum16(Buffer.concat([pseudo, m]));
}

/** arp: an ARP packet for IPv4 over Ethernet in its Ethernet frame. */
export function arp(op: 1 | 2, ethDst: string, sha: string, spa: string, tha: string, tpa: string): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(op, 6);
  mac(sha).copy(a, 8);
  ip(spa).copy(a, 14);
  mac(tha).copy(a, 18);
  ip(tpa).copy(a, 24);
  return eth(ethDst, sha, 0x0806, a);
}

export function arpRequest(senderMac: string, senderIp: string, targetIp: string): Buffer {
  return arp(1, 'ff:ff:ff:ff:ff:ff', senderMac, senderIp, '00:00:00:00:00:00', targetIp);
}

export function arpReply(ourMac: string, ourIp: string, toMac: string, toIp: string): Buffer {
  return arp(2, toMac, ourMac, ourIp, toMac, toIp);
}

/** ndMessage: an NS (135) or NA (136) with one link-layer address option. */
function ndMessage(type: 135 | 136, flags: number, target: string, optType: 1 | 2, optMac: string, src: Buffer, dst: Buffer): Buffer {
  const msg = Buffer.alloc(32);
  msg[0] = type;
  msg.writeUInt32BE(flags, 4);
  ip(target).copy(msg, 8);
  msg[24] = optType;
  msg[25] = 1;
  mac(optMac).copy(msg, 26);
  msg.writeUInt16BE(icmp6Csum(src, dst, msg), 2);
  return msg;
}

/** neighborAdvert: the solicited advertisement (R|S|O) a proxy sends. */
export function neighborAdvert(ourMac: string, target: string, toMac: string, to: string): Buffer {
  const msg = ndMessage(136, 0xe0000000, target, 2, ourMac, ip(target), ip(to));
  return eth(toMac, ourMac, 0x86dd, ipv6(target, to, 58, msg, 255));
}

/** neighborSolicitation: an NS for target from src, with a source link-layer option. */
export function neighborSolicitation(srcMac: string, src: string, target: string): Buffer {
  const t = ip(target);
  const snm = Buffer.from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13]!, t[14]!, t[15]!]);
  const msg = ndMessage(135, 0, target, 1, srcMac, ip(src), snm);
  const l3 = ipv6(src, '::', 58, msg, 255);
  snm.copy(l3, 24);
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return eth(`33:33:ff:${hex(t[13]!)}:${hex(t[14]!)}:${hex(t[15]!)}`, srcMac, 0x86dd, l3);
}
