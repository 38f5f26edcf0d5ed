/**
 * The generator's frame: Ethernet + IPv4 + UDP, 60 bytes (64 on a wire
 * with the FCS, the usual small-packet figure). UDP checksum 0 (none), so
 * that only the IPv4 header checksum has to be right for the router.
 */
import { isIPv4 } from 'node:net';

export const FRAME_LEN = 60;
/** what pktgen.o rewrites on every frame (Ethernet + IPv4 without options) */
export const HDR_LEN = 34;

export interface FrameSpec {
  dstMac: Buffer;
  srcMac: Buffer;
  srcIp: string;
  dstIp: string;
  /** IPv4 TTL (default 64) */
  ttl?: number;
  /** UDP ports (default 9, discard, both ways) */
  sport?: number;
  dport?: number;
}

function ipv4Bytes(s: string): Buffer {
  if (!isIPv4(s)) throw new Error(`not an IPv4 address: ${s}`);
  return Buffer.from(s.split('.').map(Number));
}

export function parseMac(s: string): Buffer {
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(s)) throw new Error(`not a MAC address: ${s}`);
  return Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
}

function csum16(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += b.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function udp4Frame(f: FrameSpec): Buffer {
  const b = Buffer.alloc(FRAME_LEN);
  f.dstMac.copy(b, 0);
  f.srcMac.copy(b, 6);
  b.writeUInt16BE(0x0800, 12);
  const ip = b.subarray(14, 34);
  ip[0] = 0x45;
  ip.writeUInt16BE(FRAME_LEN - 14, 2);
  ip[8] = f.ttl ?? 64;
  ip[9] = 17; // UDP
  ipv4Bytes(f.srcIp).copy(ip, 12);
  ipv4Bytes(f.dstIp).copy(ip, 16);
  ip.writeUInt16BE(csum16(ip), 10);
  b.writeUInt16BE(f.sport ?? 9, 34);
  b.writeUInt16BE(f.dport ?? 9, 36);
  b.writeUInt16BE(FRAME_LEN - 34, 38);
  return b;
}
