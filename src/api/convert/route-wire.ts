/**
 * Route batches straight from the wire. An AddRoutes / DeleteRoutes request
 * of 1M routes decoded by protobuf-es is 1M message objects and 1M strings:
 * ~0.4 s of one blocking decode, and most of the daemon's memory churn.
 * This reader walks the request's bytes once, in chunks that breathe, and
 * packs each route into a RouteBatch (IPv4 prefixes parsed from the bytes,
 * no object per route). It reads exactly what the generated code would:
 * unknown fields skipped, the last value of a repeated scalar wins, a
 * message that is not valid protobuf is INVALID_ARGUMENT.
 */
import { RouteBatch } from '../../maps/tables/route-pack.ts';
import { RT_F_LABEL, RT_F_PROXY_ARP } from '../../maps/layout.ts';
import { checkLabel } from './route.ts';
import { CHUNK, breathe } from '../../manager/command-queue.ts';
import { DatapathError, invalid } from '../../manager/errors.ts';
import { formatIp, parsePrefix } from '../../manager/net-addr.ts';
import { RT_VALUE_SIZE } from '../../maps/codecs.ts';

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

class Cursor {
  readonly buf: Buffer;
  pos: number;
  end: number;

  constructor(buf: Buffer, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  /** varint: the low 32 bits, unsigned (as protobuf-es reads a uint32) */
  varint(): number {
    let v = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.end) throw malformed('truncated varint');
      const b = this.buf[this.pos++]!;
      if (shift < 32) v |= (b & 0x7f) << shift;
      if (!(b & 0x80)) return v >>> 0;
    }
    throw malformed('varint longer than 10 bytes');
  }

  /** len: a length-delimited field's [start, end) */
  len(): number {
    const n = this.varint();
    if (n > this.end - this.pos) throw malformed('length beyond the message');
    return n;
  }

  skip(wt: number): void {
    if (wt === VARINT) this.varint();
    else if (wt === I64) this.advance(8);
    else if (wt === LEN) this.advance(this.len());
    else if (wt === I32) this.advance(4);
    else throw malformed(`wire type ${wt}`);
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw malformed('truncated field');
    this.pos += n;
  }
}

const malformed = (why: string) => new DatapathError('invalid_argument', `the request is not valid protobuf (${why})`);

/** fast IPv4 "a.b.c.d/len" from bytes; undefined when it is anything else (the string parser decides) */
function ipv4Prefix(b: Buffer, s: number, e: number): { addr: number; plen: number } | undefined {
  let addr = 0;
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c >= 48 && c <= 57) {
      if ((digits === 1 && value === 0) || digits === 3) return undefined;
      value = value * 10 + (c - 48);
      digits++;
    } else if (c === 46 || c === 47) {
      if (!digits || value > 255) return undefined;
      addr = ((addr << 8) | value) >>> 0;
      part++;
      value = 0;
      digits = 0;
      if (c === 47) {
        if (part !== 4) return undefined;
        // the length: 1 or 2 digits, 0..32, no leading zero
        const n = e - i - 1;
        if (n < 1 || n > 2) return undefined;
        const d0 = b[i + 1]! - 48;
        const d1 = n === 2 ? b[i + 2]! - 48 : 0;
        if (d0 < 0 || d0 > 9 || d1 < 0 || d1 > 9 || (n === 2 && d0 === 0)) return undefined;
        const plen = n === 2 ? d0 * 10 + d1 : d0;
        if (plen > 32) return undefined;
        const mask = plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
        if ((addr & ~mask) >>> 0) return undefined; // host bits: the string parser says so, with a hint
        return { addr, plen };
      }
      if (part > 3) return undefined;
    } else return undefined;
  }
  return undefined;
}

/**
 * decodeRouteBatch: the routes of field 1 of an AddRoutesRequest (`Route`)
 * or a DeleteRoutesRequest (`RouteKey`: vrf, prefix; next hop 0) into a
 * batch; `path` names the repeated field ("routes", "keys") in errors.
 */
export async function decodeRouteBatch(bytes: Buffer, path: string): Promise<RouteBatch> {
  const top = new Cursor(bytes);
  const b = new RouteBatch(Math.min(1 << 20, bytes.length >> 4));
  while (top.pos < top.end) {
    const tag = top.varint();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field !== 1 || wt !== LEN) {
      top.skip(wt);
      continue;
    }
    const n = top.len();
    const m = new Cursor(bytes, top.pos, top.pos + n);
    top.pos += n;
    let vrf = 0;
    let nhId = 0;
    let proxy = false;
    let label: number | undefined;
    let ps = 0;
    let pe = 0;
    while (m.pos < m.end) {
      const t = m.varint();
      const f = t >>> 3;
      const w = t & 7;
      if (f === 1 && w === VARINT) vrf = m.varint();
      else if (f === 2 && w === LEN) {
        const l = m.len();
        ps = m.pos;
        pe = m.pos + l;
        m.pos = pe;
      } else if (f === 3 && w === VARINT) nhId = m.varint();
      else if (f === 4 && w === VARINT) proxy = m.varint() !== 0;
      else if (f === 5 && w === VARINT) label = m.varint();
      else if (f >= 1 && f <= 5) throw malformed(`${path}[${b.size}]: field ${f} has wire type ${w}`);
      else m.skip(w);
    }
    if (label !== undefined) checkLabel(label, `${path}[${b.size}].label`);
    const fast = ipv4Prefix(bytes, ps, pe);
    if (fast) b.pushV4(vrf, fast.addr, fast.plen, nhId, (proxy ? RT_F_PROXY_ARP : 0) | (label !== undefined ? RT_F_LABEL : 0), label ?? 0);
    else {
      const p = parsePrefix(bytes.toString('utf8', ps, pe), `${path}[${b.size}].prefix`);
      b.push({ vrf, addr: p.addr, plen: p.plen, nhId, proxyArp: proxy, label });
    }
    if (b.size % CHUNK === 0) await breathe();
  }
  if (!b.size) throw invalid(path, 'at least one route is required');
  return b;
}

/**
 * encodeRouteChunk: a ListRoutesResponse carrying `count` routes of one
 * family straight from the trie's packed keys and values (field 2, `routes`;
 * proto3: default values left out), skipping routes of other VRFs when `vrf`
 * is set. Returns the message and how many routes it holds.
 */
export function encodeRouteChunk(
  keys: Buffer,
  values: Buffer,
  count: number,
  keySize: number,
  vrf: number | undefined,
): { bytes: Buffer; routes: number } {
  const out = Buffer.allocUnsafe(count * 72);
  let pos = 0;
  let routes = 0;
  const varint = (n: number) => {
    n >>>= 0;
    while (n > 0x7f) {
      out[pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[pos++] = n;
  };
  for (let i = 0; i < count; i++) {
    const k = i * keySize;
    const rvrf = keys.readUInt32BE(k + 4);
    if (vrf !== undefined && rvrf !== vrf) continue;
    const plen = keys.readUInt32LE(k) - 32;
    const v = i * RT_VALUE_SIZE;
    const nh = values.readUInt32LE(v);
    const flags = values.readUInt16LE(v + 4);
    const proxy = (flags & RT_F_PROXY_ARP) !== 0;
    const prefix =
      keySize === 12
        ? `${keys[k + 8]}.${keys[k + 9]}.${keys[k + 10]}.${keys[k + 11]}/${plen}`
        : `${formatIp(keys.subarray(k + 8, k + 24))}/${plen}`;
    // the Route message: vrf (1), prefix (2), next_hop_id (3), proxy_arp (4), label (5, when set)
    const start = pos + 2; // a Route here is < 128 bytes: a one-byte length
    pos = start;
    if (rvrf) {
      out[pos++] = 0x08;
      varint(rvrf);
    }
    out[pos++] = 0x12;
    out[pos++] = prefix.length;
    pos += out.write(prefix, pos, 'latin1');
    if (nh) {
      out[pos++] = 0x18;
      varint(nh);
    }
    if (proxy) {
      out[pos++] = 0x20;
      out[pos++] = 1;
    }
    if (flags & RT_F_LABEL) {
      out[pos++] = 0x28;
      varint(values.readUInt32LE(v + 8)); // a present optional field is written even when 0
    }
    out[start - 2] = 0x12; // ListRoutesResponse.routes (2), length-delimited
    out[start - 1] = pos - start;
    routes++;
  }
  return { bytes: out.subarray(0, pos), routes };
}
