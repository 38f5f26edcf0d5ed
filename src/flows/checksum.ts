/**
 * checksum: TCP / UDP / ICMPv6 checksums of a held frame. A frame held on
 * the TC hook may be CHECKSUM_PARTIAL: its L4 checksum field holds only the
 * pseudo-header's sum (what Linux writes, `~csum_tcpudp_magic(...)`, for the
 * device to finish). Re-injected through XDP it becomes an xdp_frame that
 * no longer carries the partial state, so the daemon finishes the sum
 * before re-injection. A field that already verifies is left alone, and so
 * is one that is neither right nor partial (a corrupt packet stays corrupt
 * for its receiver to drop).
 */

export type ChecksumState =
  /** the checksum verifies */
  | 'ok'
  /** it was partial; the full checksum is now written */
  | 'completed'
  /** nothing to check: not TCP/UDP/ICMPv6, a fragment, UDP/IPv4 without a checksum, or a cut packet */
  | 'none'
  /** neither right nor partial: left as it is */
  | 'bad';

const ETH_HLEN = 14;
const IPPROTO = { TCP: 6, UDP: 17, ICMPV6: 58 } as const;
/** where each protocol keeps its checksum, and its smallest header */
const L4: Record<number, { off: number; min: number }> = {
  [IPPROTO.TCP]: { off: 16, min: 20 },
  [IPPROTO.UDP]: { off: 6, min: 8 },
  [IPPROTO.ICMPV6]: { off: 2, min: 4 },
};

/** sum16: the 16-bit big-endian words of b[from, to) added up (not folded; an odd byte is padded). */
export function sum16(b: Uint8Array, from: number, to: number, seed = 0): number {
  let s = seed;
  let i = from;
  // a JS number holds 2^53: no carry folding needed below a few TB
  for (; i + 1 < to; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < to) s += b[i]! << 8;
  return s;
}

/** fold: one's complement fold to 16 bits (0 only for a zero sum). */
export function fold(s: number): number {
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

interface L4Span {
  proto: number;
  /** start of the L4 header and its length (from the IP header, not the frame) */
  start: number;
  len: number;
  /** the pseudo-header's sum (addresses, length, protocol), not folded */
  pseudo: number;
  v4: boolean;
}

/** l4Span: where the transport segment of an Ethernet frame is, or undefined. */
function l4Span(f: Buffer): L4Span | undefined {
  let off = ETH_HLEN;
  if (f.length < off) return undefined;
  let type = f.readUInt16BE(12);
  // up to two VLAN tags
  for (let tags = 0; (type === 0x8100 || type === 0x88a8) && tags < 2; tags++) {
    if (f.length < off + 4) return undefined;
    type = f.readUInt16BE(off + 2);
    off += 4;
  }
  if (type === 0x0800) {
    if (f.length < off + 20 || f[off]! >> 4 !== 4) return undefined;
    const ihl = (f[off]! & 0xf) * 4;
    const total = f.readUInt16BE(off + 2);
    if (ihl < 20 || total < ihl || off + total > f.length) return undefined;
    if (f.readUInt16BE(off + 6) & 0x3fff) return undefined; // a fragment: its L4 sum spans packets
    const proto = f[off + 9]!;
    const len = total - ihl;
    return { proto, start: off + ihl, len, pseudo: sum16(f, off + 12, off + 20, proto + len), v4: true };
  }
  if (type === 0x86dd) {
    if (f.length < off + 40 || f[off]! >> 4 !== 6) return undefined;
    const end = off + 40 + f.readUInt16BE(off + 4);
    if (end > f.length) return undefined;
    let next = f[off + 6]!;
    let at = off + 40;
    // hop-by-hop, destination options; a routing header changes the pseudo-header's
    // destination and a fragment header splits the segment: left alone
    while (next === 0 || next === 60) {
      if (at + 8 > end) return undefined;
      next = f[at]!;
      at += (f[at + 1]! + 1) * 8;
    }
    if (at > end) return undefined;
    const len = end - at;
    return { proto: next, start: at, len, pseudo: sum16(f, off + 8, off + 40, next + len), v4: false };
  }
  return undefined;
}

/**
 * completeChecksum: checks the frame's TCP / UDP / ICMPv6 checksum and,
 * when it holds only the pseudo-header's sum (CHECKSUM_PARTIAL), writes the
 * full one in place. UDP over IPv4 with checksum 0 has none and stays 0.
 */
export function completeChecksum(frame: Buffer): ChecksumState {
  const s = l4Span(frame);
  if (!s) return 'none';
  const l4 = L4[s.proto];
  if (!l4 || (s.proto === IPPROTO.ICMPV6 && s.v4) || s.len < l4.min) return 'none';
  let len = s.len;
  let pseudo = s.pseudo;
  if (s.proto === IPPROTO.UDP) {
    // the UDP length bounds the datagram (bytes after it are not summed)
    const ulen = frame.readUInt16BE(s.start + 4);
    if (ulen >= 8 && ulen < len) {
      pseudo += ulen - len;
      len = ulen;
    }
  }
  const at = s.start + l4.off;
  const field = frame.readUInt16BE(at);
  if (s.v4 && s.proto === IPPROTO.UDP && field === 0) return 'none';
  const total = sum16(frame, s.start, s.start + len, pseudo);
  if (fold(total) === 0xffff) return 'ok';
  if (field !== fold(pseudo)) return 'bad';
  let c = ~fold(total - field) & 0xffff;
  // UDP: a computed 0 is sent as 0xffff (0 means "no checksum")
  if (c === 0 && s.proto === IPPROTO.UDP) c = 0xffff;
  frame.writeUInt16BE(c, at);
  return 'completed';
}
