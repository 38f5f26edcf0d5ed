/**
 * Parsing and printing of MACs, IP addresses and CIDR prefixes, with the
 * request field named in every error.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { invalid, quote } from './errors.ts';
import { maskAddr } from '../maps/tables/route-table.ts';

export const ZERO_MAC = Buffer.alloc(6);

export function parseMac(s: string, field: string): Buffer {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s.trim());
  if (!m) throw invalid(field, `not a MAC address: ${quote(s)} (want aa:bb:cc:dd:ee:ff)`);
  const mac = Buffer.from(m.slice(1).map((h) => parseInt(h, 16)));
  if (mac[0]! & 1) throw invalid(field, `${s} is a multicast MAC address`);
  if (mac.equals(ZERO_MAC)) throw invalid(field, 'the all-zero MAC address is not allowed');
  return mac;
}

export function formatMac(b: Buffer): string {
  return [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export type Family = 4 | 6;

function ipv6Bytes(s: string): Buffer {
  const b = Buffer.alloc(16);
  let head = s;
  let tail = '';
  const dbl = s.indexOf('::');
  if (dbl >= 0) {
    head = s.slice(0, dbl);
    tail = s.slice(dbl + 2);
  }
  const groups = (part: string): number[] => {
    if (!part) return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const v4 = g.split('.').map(Number);
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  h.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  t.forEach((g, i) => b.writeUInt16BE(g, 16 - (t.length - i) * 2));
  return b;
}

/** ipv4Bytes: dotted-quad to bytes, or undefined (a fast path: batches parse many). */
function ipv4Bytes(s: string): Buffer | undefined {
  const b = Buffer.allocUnsafe(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46; // a final '.'
    if (c >= 48 && c <= 57) {
      // no leading zeros ("010" is ambiguous), at most 3 digits
      if ((digits === 1 && value === 0) || digits === 3) return undefined;
      value = value * 10 + (c - 48);
      digits++;
    } else if (c === 46) {
      if (!digits || value > 255 || part > 3) return undefined;
      b[part++] = value;
      value = 0;
      digits = 0;
    } else return undefined;
  }
  return part === 4 ? b : undefined;
}

/** parseIp: an IPv4 or IPv6 address as bytes (4 or 16). */
export function parseIp(s: string, field: string): { family: Family; bytes: Buffer } {
  const v4 = ipv4Bytes(s);
  if (v4) return { family: 4, bytes: v4 };
  const t = s.trim();
  if (isIPv4(t)) return { family: 4, bytes: Buffer.from(t.split('.').map(Number)) };
  if (isIPv6(t) && !t.includes('%')) return { family: 6, bytes: ipv6Bytes(t) };
  throw invalid(field, `not an IP address: ${quote(s)}`);
}

export function formatIp(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // the longest run of zero groups (length ≥ 2) becomes "::" (RFC 5952)
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export interface Prefix {
  family: Family;
  addr: Buffer;
  plen: number;
}

/** parsePrefix: "10.1.0.0/16" or "fd00::/64"; host bits must be zero. */
export function parsePrefix(s: string, field: string): Prefix {
  const slash = s.indexOf('/');
  if (slash < 0) throw invalid(field, `not a prefix: ${quote(s)} (want address/length, e.g. 10.1.0.0/16)`);
  const { family, bytes } = parseIp(s.slice(0, slash), field);
  const lenText = s.slice(slash + 1).trim();
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max)
    throw invalid(field, `bad prefix length ${quote(lenText)} (0..${max} for IPv${family})`);
  const plen = Number(lenText);
  if (hostBitsSet(bytes, plen))
    throw invalid(field, `host bits set in ${quote(s)} (did you mean ${formatIp(maskBytes(bytes, plen))}/${plen}?)`);
  return { family, addr: bytes, plen };
}

function hostBitsSet(b: Buffer, plen: number): boolean {
  for (let i = plen >> 3; i < b.length; i++) {
    const keep = i === plen >> 3 ? (0xff << (8 - (plen & 7))) & 0xff : 0;
    if (b[i]! & ~keep & 0xff) return true;
  }
  return false;
}

export const maskBytes = maskAddr;

export function formatPrefix(p: { addr: Buffer; plen: number }): string {
  return `${formatIp(p.addr)}/${p.plen}`;
}
