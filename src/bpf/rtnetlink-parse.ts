/**
 * rtnetlink event messages (RTM_NEWLINK / DELLINK, NEWADDR / DELADDR,
 * NEWNEIGH / DELNEIGH, NEWROUTE / DELROUTE) parsed into plain, typed
 * events. Pure: no FFI, so the reader's worker posts its results as they
 * are and the unit tests feed it bytes.
 */

export const RTM = {
  NEWLINK: 16, DELLINK: 17, NEWADDR: 20, DELADDR: 21, NEWROUTE: 24, DELROUTE: 25, NEWNEIGH: 28, DELNEIGH: 29,
} as const;
const NLMSG_NOOP = 1;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLMSG_OVERRUN = 4;
const NLMSG_HDRLEN = 16;
const NLA_TYPE_MASK = 0x3fff;

export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;
const IFLA_IFNAME = 3;
const IFLA_OPERSTATE = 16;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_TABLE = 15;
const AF_INET = 2;
const AF_INET6 = 10;

/** the RFC 2863 operational states of IFLA_OPERSTATE */
export const OPER_STATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;
const NUD_STATES: [number, string][] = [
  [0x01, 'incomplete'], [0x02, 'reachable'], [0x04, 'stale'], [0x08, 'delay'],
  [0x10, 'probe'], [0x20, 'failed'], [0x40, 'noarp'], [0x80, 'permanent'],
];

export interface LinkMessage {
  kind: 'link';
  /** RTM_NEWLINK (created or changed) or RTM_DELLINK */
  deleted: boolean;
  ifindex: number;
  name: string;
  flags: number;
  /** administratively up (IFF_UP) */
  adminUp: boolean;
  /** operationally up: IFF_UP and IFF_RUNNING (carrier, RFC 2863 up or unknown) */
  operUp: boolean;
  /** IFLA_OPERSTATE by name; "unknown" when absent */
  operState: string;
}

export interface AddrMessage {
  kind: 'addr';
  deleted: boolean;
  ifindex: number;
  family: 4 | 6;
  address: string;
  prefixLen: number;
}

export interface NeighMessage {
  kind: 'neigh';
  deleted: boolean;
  ifindex: number;
  family: 4 | 6;
  address: string;
  /** the link-layer address (aa:bb:...), empty when unresolved */
  lladdr: string;
  /** the NUD state by name ("reachable", "failed", ...; joined by "|" when several) */
  state: string;
}

export interface RouteMessage {
  kind: 'route';
  deleted: boolean;
  family: 4 | 6;
  /** destination prefix, e.g. 10.0.0.0/24 (0.0.0.0/0 for a default route) */
  prefix: string;
  table: number;
  gateway: string;
  /** the output ifindex, 0 when none (a multipath route names its hops elsewhere) */
  ifindex: number;
}

/** overrun: the socket's receive buffer overflowed (ENOBUFS): events were lost */
export interface OverrunMessage {
  kind: 'overrun';
}

export type RtnetlinkMessage = LinkMessage | AddrMessage | NeighMessage | RouteMessage | OverrunMessage;

/** attrs: the attributes in buf[from, to) by type (the last of a type wins) */
function attrs(buf: Buffer, from: number, to: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let off = from; off + 4 <= to; ) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > to) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

const cstring = (b: Buffer | undefined) => (b ? b.toString('utf8', 0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)) : '');

/** formatIp: an IPv4 (4 bytes) or IPv6 (16 bytes) address as text; '' for anything else */
export function formatIp(b: Buffer | undefined): string {
  if (!b) return '';
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return '';
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // the longest run of two or more zero groups becomes "::" (RFC 5952)
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

const formatMac = (b: Buffer | undefined) => (b ? [...b].map((x) => x.toString(16).padStart(2, '0')).join(':') : '');
const familyOf = (af: number): 4 | 6 | undefined => (af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined);

function nudState(state: number): string {
  if (state === 0) return 'none';
  return NUD_STATES.filter(([bit]) => state & bit).map(([, name]) => name).join('|') || `0x${state.toString(16)}`;
}

/**
 * parseRtnetlink: the events in one datagram from a NETLINK_ROUTE socket
 * (several messages each, NLM_F_MULTI or not). Messages of other types, of
 * other address families or too short for their header are skipped; a
 * truncated datagram yields what it holds whole.
 */
export function parseRtnetlink(buf: Buffer): RtnetlinkMessage[] {
  const out: RtnetlinkMessage[] = [];
  for (let off = 0; off + NLMSG_HDRLEN <= buf.length; ) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 4);
    const body = off + NLMSG_HDRLEN;
    const end = off + len;
    if (type === NLMSG_OVERRUN) out.push({ kind: 'overrun' });
    else if (type !== NLMSG_NOOP && type !== NLMSG_ERROR && type !== NLMSG_DONE) {
      const m = parseOne(buf, type, body, end);
      if (m) out.push(m);
    }
    off += (len + 3) & ~3;
  }
  return out;
}

function parseOne(buf: Buffer, type: number, body: number, end: number): RtnetlinkMessage | undefined {
  switch (type) {
    case RTM.NEWLINK:
    case RTM.DELLINK: {
      if (end - body < 16) return undefined; // struct ifinfomsg
      const ifindex = buf.readInt32LE(body + 4);
      const flags = buf.readUInt32LE(body + 8);
      const a = attrs(buf, body + 16, end);
      const oper = a.get(IFLA_OPERSTATE);
      const adminUp = (flags & IFF_UP) !== 0;
      return {
        kind: 'link', deleted: type === RTM.DELLINK, ifindex, name: cstring(a.get(IFLA_IFNAME)), flags, adminUp,
        operUp: adminUp && (flags & IFF_RUNNING) !== 0,
        operState: oper?.length ? (OPER_STATES[oper[0]!] ?? `${oper[0]}`) : 'unknown',
      };
    }
    case RTM.NEWADDR:
    case RTM.DELADDR: {
      if (end - body < 8) return undefined; // struct ifaddrmsg
      const family = familyOf(buf[body]!);
      if (!family) return undefined;
      const a = attrs(buf, body + 8, end);
      // IFA_LOCAL is the interface's own address (IFA_ADDRESS the peer's on a point-to-point link)
      return {
        kind: 'addr', deleted: type === RTM.DELADDR, family, prefixLen: buf[body + 1]!,
        ifindex: buf.readUInt32LE(body + 4), address: formatIp(a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS)),
      };
    }
    case RTM.NEWNEIGH:
    case RTM.DELNEIGH: {
      if (end - body < 12) return undefined; // struct ndmsg
      const family = familyOf(buf[body]!);
      if (!family) return undefined; // bridge fdb entries (AF_BRIDGE) are not neighbours
      const a = attrs(buf, body + 12, end);
      return {
        kind: 'neigh', deleted: type === RTM.DELNEIGH, family, ifindex: buf.readInt32LE(body + 4),
        address: formatIp(a.get(NDA_DST)), lladdr: formatMac(a.get(NDA_LLADDR)), state: nudState(buf.readUInt16LE(body + 8)),
      };
    }
    case RTM.NEWROUTE:
    case RTM.DELROUTE: {
      if (end - body < 12) return undefined; // struct rtmsg
      const family = familyOf(buf[body]!);
      if (!family) return undefined;
      const a = attrs(buf, body + 12, end);
      const dstLen = buf[body + 1]!;
      const dst = formatIp(a.get(RTA_DST)) || (family === 4 ? '0.0.0.0' : '::');
      const table = a.get(RTA_TABLE);
      const oif = a.get(RTA_OIF);
      return {
        kind: 'route', deleted: type === RTM.DELROUTE, family, prefix: `${dst}/${dstLen}`,
        table: table && table.length >= 4 ? table.readUInt32LE(0) : buf[body + 4]!,
        gateway: formatIp(a.get(RTA_GATEWAY)), ifindex: oif && oif.length >= 4 ? oif.readUInt32LE(0) : 0,
      };
    }
    default:
      return undefined;
  }
}
