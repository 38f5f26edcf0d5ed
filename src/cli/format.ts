/**
 * Frames for people: a hex dump and a one-line decode of the headers the
 * datapath reads (Ethernet, ARP, IPv4, IPv6, ICMP/ICMPv6, UDP, TCP).
 */
// no import from the manager: the CLI loads neither koffi nor libbpf

const formatMac = (b: Buffer) => [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** formatIp: 4 or 16 bytes as text; IPv6 in its short form (RFC 5952, by the URL parser). */
function formatIp(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

/** hexdump: 16 bytes a line, offset, hex and printable ASCII. */
export function hexdump(b: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < b.length; off += 16) {
    const row = b.subarray(off, off + 16);
    const hex = [...row].map((x) => x.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = [...row].map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
    lines.push(`${off.toString(16).padStart(4, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii}|`);
  }
  return lines.join('\n');
}

const IP_PROTO: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };

function l4(proto: number, p: Buffer): string {
  const name = IP_PROTO[proto] ?? `proto ${proto}`;
  if ((proto === 6 || proto === 17) && p.length >= 4) return `${name} ${p.readUInt16BE(0)} > ${p.readUInt16BE(2)}`;
  if ((proto === 1 || proto === 58) && p.length >= 2) return `${name} type ${p[0]} code ${p[1]}`;
  return name;
}

/** decodeFrame: "eth SRC > DST, ipv4 A > B ttl 63, udp 1000 > 2000" (as far as the frame goes). */
export function decodeFrame(frame: Uint8Array): string {
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (b.length < 14) return `${b.length} bytes: too short for Ethernet`;
  const parts = [`eth ${formatMac(b.subarray(6, 12))} > ${formatMac(b.subarray(0, 6))}`];
  let type = b.readUInt16BE(12);
  let off = 14;
  if (type === 0x8100 && b.length >= 18) {
    parts.push(`vlan ${b.readUInt16BE(14) & 0xfff}`);
    type = b.readUInt16BE(16);
    off = 18;
  }
  const p = b.subarray(off);
  if (type === 0x0800 && p.length >= 20) {
    const ihl = (p[0]! & 0x0f) * 4;
    parts.push(`ipv4 ${formatIp(p.subarray(12, 16))} > ${formatIp(p.subarray(16, 20))} ttl ${p[8]} len ${p.readUInt16BE(2)}`);
    parts.push(l4(p[9]!, p.subarray(ihl)));
  } else if (type === 0x86dd && p.length >= 40) {
    parts.push(`ipv6 ${formatIp(p.subarray(8, 24))} > ${formatIp(p.subarray(24, 40))} hlim ${p[7]} plen ${p.readUInt16BE(4)}`);
    parts.push(l4(p[6]!, p.subarray(40)));
  } else if (type === 0x0806 && p.length >= 28) {
    const op = p.readUInt16BE(6);
    const what = op === 1 ? 'request' : op === 2 ? 'reply' : `op ${op}`;
    parts.push(`arp ${what} ${formatIp(p.subarray(14, 18))} (${formatMac(p.subarray(8, 14))}) > ${formatIp(p.subarray(24, 28))} (${formatMac(p.subarray(18, 24))})`);
  } else {
    parts.push(`ethertype 0x${type.toString(16).padStart(4, '0')}`);
  }
  return parts.join(', ');
}

/**
 * addressKey: a sort key for an IPv4 or IPv6 address or prefix (IPv4 first,
 * then by address, then by length), for tables sorted the way people read them.
 */
export function addressKey(s: string): string {
  const [addr = '', len = '0'] = s.split('/');
  const plen = len.padStart(3, '0');
  if (!addr.includes(':')) return `4 ${addr.split('.').map((o) => o.padStart(3, '0')).join('.')} ${plen}`;
  const [head = '', tail] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `6 ${groups.map((g) => g.padStart(4, '0')).join(':')} ${plen}`;
}
