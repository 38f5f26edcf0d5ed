/**
 * Flow validation: a FlowKey or FlowSpec checked whole, and a spec turned
 * into the entries it writes (the forward half and the derived reverse).
 * Errors are DatapathErrors naming the spec's field ("key.sport",
 * "nat.src"); nothing here touches the kernel.
 */
import { FLOW_F } from '../maps/layout.ts';
import { ACTION_CODE, encodeFlowKey, type FlowSetting, type HalfWrite } from '../maps/tables/flow-table.ts';
import { invalid } from './errors.ts';
import { IPPROTO, reverseNat, reverseOf, type FlowAction, type FlowKey, type FlowSpec, type NatSpec } from './flow-model.ts';

/** the protocols whose keys carry ports (the datapath reads TCP and UDP ports; ICMP echo: the id as sport) */
const PORTED: ReadonlySet<number> = new Set([IPPROTO.TCP, IPPROTO.UDP]);
const isIcmp = (proto: number) => proto === IPPROTO.ICMP || proto === IPPROTO.ICMPV6;

/** FlowPlan: the entries one spec writes, forward first. */
export interface FlowPlan {
  key: FlowKey;
  halves: HalfWrite[];
}

const uint = (n: number, max: number) => Number.isInteger(n) && n >= 0 && n <= max;

/** checkKey: a key the datapath can hold; `at` prefixes the field names ("key."). */
export function checkKey(k: FlowKey | undefined, maxVrfs: number, at = 'key.'): FlowKey {
  if (!k) throw invalid(at.replace(/\.$/, ''), 'a flow key is required');
  if (!uint(k.vrf, 0xffff_ffff) || k.vrf >= maxVrfs) throw invalid(`${at}vrf`, `vrf ${k.vrf} is out of range (max_vrfs is ${maxVrfs})`);
  const len = k.family === 4 ? 4 : 16;
  if (k.src.length !== len) throw invalid(`${at}src`, `want an IPv${k.family} address (${len} bytes), got ${k.src.length} bytes`);
  if (k.dst.length !== len) throw invalid(`${at}dst`, `is IPv${k.dst.length === 4 ? 4 : 6} but the source is IPv${k.family}; both must be of one family`);
  if (!uint(k.proto, 255)) throw invalid(`${at}proto`, `protocol ${k.proto} is out of range (0..255)`);
  if (k.proto === IPPROTO.ICMP && k.family === 6) throw invalid(`${at}proto`, 'protocol 1 (ICMP) with IPv6 addresses: IPv6 uses 58 (ICMPv6)');
  if (k.proto === IPPROTO.ICMPV6 && k.family === 4) throw invalid(`${at}proto`, 'protocol 58 (ICMPv6) with IPv4 addresses: IPv4 uses 1 (ICMP)');
  for (const [name, port] of [['sport', k.sport], ['dport', k.dport]] as const)
    if (!uint(port, 0xffff)) throw invalid(`${at}${name}`, `port ${port} is out of range (0..65535)`);
  if (isIcmp(k.proto)) {
    if (k.dport !== 0) throw invalid(`${at}dport`, 'must be 0 for ICMP (an echo flow carries its identifier as the source port)');
  } else if (!PORTED.has(k.proto)) {
    if (k.sport !== 0) throw invalid(`${at}sport`, `must be 0 for protocol ${k.proto} (only TCP and UDP keys carry ports)`);
    if (k.dport !== 0) throw invalid(`${at}dport`, `must be 0 for protocol ${k.proto} (only TCP and UDP keys carry ports)`);
  }
  return k;
}

function checkAction(a: FlowAction | undefined, field: string): Exclude<FlowAction, 'hold'> {
  if (a === undefined) throw invalid(field, 'an action is required: FORWARD, DROP or NAT');
  if (a === 'hold') throw invalid(field, 'HOLD is made by the datapath on a miss; set FORWARD, DROP or NAT');
  return a;
}

const natGiven = (n: NatSpec | undefined) => !!n && (!!n.src || !!n.dst || !!n.sport || !!n.dport);

/** checkNat: a NAT flow's rewrite, normalized (a port of 0 is absent). */
function checkNat(k: FlowKey, n: NatSpec | undefined): NatSpec {
  if (!n || (!n.src && !n.dst)) throw invalid('nat', 'a NAT flow needs nat.src_ip or nat.dst_ip (or both)');
  const len = k.family === 4 ? 4 : 16;
  for (const [addr, port, a, p] of [[n.src, n.sport, 'nat.src', 'nat.sport'], [n.dst, n.dport, 'nat.dst', 'nat.dport']] as const) {
    if (addr && addr.length !== len) throw invalid(a, `is IPv${addr.length === 4 ? 4 : 6} but the key is IPv${k.family}`);
    if (port === undefined || port === 0) continue;
    if (!uint(port, 0xffff)) throw invalid(p, `port ${port} is out of range (0..65535)`);
    if (!addr) throw invalid(p, `a port is rewritten with its address: give ${a} too (the packet's own, to change only the port)`);
    if (!PORTED.has(k.proto)) throw invalid(p, `only TCP and UDP ports are rewritten (protocol ${k.proto})`);
  }
  return { src: n.src, sport: n.src && n.sport ? n.sport : undefined, dst: n.dst, dport: n.dst && n.dport ? n.dport : undefined };
}

function setting(action: Exclude<FlowAction, 'hold'>, nat: NatSpec | undefined, reverse: boolean): FlowSetting {
  const flags = (reverse ? FLOW_F.REVERSE : 0) | (nat?.src ? FLOW_F.SNAT : 0) | (nat?.dst ? FLOW_F.DNAT : 0);
  return { action: ACTION_CODE[action], flags, natSrc: nat?.src, natSport: nat?.sport ?? 0, natDst: nat?.dst, natDport: nat?.dport ?? 0 };
}

/**
 * checkSpec: a spec validated whole, as the entries it writes: the forward
 * half, then (unless noReverse, or the reverse key is the key itself) the
 * reverse half under reverseOf(key, nat), whose NAT undoes the forward one.
 */
export function checkSpec(spec: FlowSpec, maxVrfs: number): FlowPlan {
  const key = checkKey(spec.key, maxVrfs);
  const action = checkAction(spec.action, 'action');
  let nat: NatSpec | undefined;
  if (action === 'nat') nat = checkNat(key, spec.nat);
  else if (natGiven(spec.nat)) throw invalid('nat', `only a NAT flow rewrites; ${action.toUpperCase()} takes no nat`);
  const fwd = encodeFlowKey(key);
  const halves: HalfWrite[] = [{ key: fwd, setting: setting(action, nat, false) }];
  if (spec.noReverse) {
    if (spec.reverseAction !== undefined) throw invalid('reverseAction', 'no_reverse writes no reverse half: leave reverse_action unset');
    return { key, halves };
  }
  const back = spec.reverseAction === undefined ? action : checkAction(spec.reverseAction, 'reverseAction');
  if (action === 'nat' && back === 'forward')
    throw invalid('reverseAction', "a NAT flow's reverse half is NAT (the reverse rewrite) or DROP: forwarding it unrewritten would leak the translated address");
  if (action !== 'nat' && back === 'nat') throw invalid('reverseAction', 'NAT is for the reverse of a NAT flow only (it undoes the forward rewrite)');
  const rev = encodeFlowKey(reverseOf(key, nat));
  if (!rev.equals(fwd)) halves.push({ key: rev, setting: setting(back, back === 'nat' ? reverseNat(key, nat!) : undefined, true) });
  return { key, halves };
}
