/** vrctl nh: NextHopService (the vRouter's `nh`). */
import { toJson, type MessageInitShape } from '@bufbuild/protobuf';
import { CompositeKind, DeleteNextHopResponseSchema, NextHopSchema, TunnelType, TunnelTypeSchema, type NextHop } from '../../gen/vrouter/ebpf/v1/nexthop_pb.js';
import { collect } from '../../client/client.ts';
import {
  enumName, enumValue, optBool, optString, optUint, printJson, uint, UsageError, type Command, type Context, type OptionSpec, type OptionValues,
} from '../command.ts';
import { dash, kv, table } from '../table.ts';

const JSON_OPTS = { alwaysEmitImplicit: true } as const;
/** the kinds as vrctl names them (vrf: the proto's vrf_route) */
const KINDS = ['encap', 'tunnel', 'composite', 'vrf', 'receive', 'discard'] as const;
const TUNNEL_ALIASES = { mplsoudp: TunnelType.MPLS_OVER_UDP, mplsogre: TunnelType.MPLS_OVER_GRE, vxlan: TunnelType.VXLAN };
const TUNNEL_NAMES = new Map(Object.entries(TUNNEL_ALIASES).map(([k, v]) => [v, k]));

const kindName = (nh: NextHop) => (nh.kind.case === 'vrfRoute' ? 'vrf' : (nh.kind.case ?? '-'));
const encap = (nh: NextHop) => (nh.kind.case === 'encap' ? nh.kind.value : undefined);
const tunnel = (nh: NextHop) => (nh.kind.case === 'tunnel' ? nh.kind.value : undefined);
const tunnelName = (t: TunnelType) => TUNNEL_NAMES.get(t) ?? enumName(TunnelTypeSchema, t);
const composite = (nh: NextHop) => (nh.kind.case === 'composite' ? nh.kind.value : undefined);
const compName = (k: CompositeKind) => (k === CompositeKind.ECMP ? 'ecmp' : k === CompositeKind.FLOOD ? 'flood' : '-');

/** a tunnel's encapsulation in one column; a vrf next hop's VRF */
function tunnelCol(nh: NextHop): string {
  const t = tunnel(nh);
  if (t) return `${tunnelName(t.type)} ${t.srcIp}>${t.dstIp} label ${t.label}`;
  if (nh.kind.case === 'vrfRoute') return nh.kind.value.l2 ? `bridge in vrf ${nh.vrf}` : `route in vrf ${nh.vrf}`;
  const c = composite(nh);
  if (c) return `${compName(c.kind)} [${c.memberIds.join(',')}]`;
  return '-';
}

export function nhTable(nhs: readonly NextHop[]): string {
  return table(
    ['ID', 'KIND', 'VRF', 'OUT-VIF', 'DST-MAC', 'SRC-MAC', 'TUNNEL/MEMBERS', 'REFS', 'DECAP-REFS', 'COMP-REFS'],
    nhs.map((nh) => {
      const e = encap(nh);
      const t = tunnel(nh);
      const vxlan = t?.type === TunnelType.VXLAN;
      return [
        String(nh.id), kindName(nh) + (encap(nh)?.l2 ? ' l2' : ''), String(nh.vrf), e ? String(e.interfaceIndex) : t ? String(t.interfaceIndex) : '-',
        dash(e?.dstMac ?? (vxlan ? t.innerDstMac : '')), dash(e?.srcMac ?? (vxlan ? t.innerSrcMac : '')), tunnelCol(nh),
        String(nh.refCount), String(nh.decapRefCount), String(nh.compositeRefCount),
      ];
    }),
  );
}

function show(ctx: Context, nh: NextHop | undefined): void {
  if (!nh) throw new Error('the daemon answered without a next hop');
  if (ctx.json) return printJson(ctx, toJson(NextHopSchema, nh, JSON_OPTS));
  const e = encap(nh);
  const t = tunnel(nh);
  const c = composite(nh);
  ctx.out(kv([
    ['id', String(nh.id)],
    ['kind', kindName(nh)],
    ['vrf', String(nh.vrf)],
    ...(e && e.l2 ? ([['out vif', String(e.interfaceIndex)], ['l2', 'yes (the frame leaves as it is)']] as const) : []),
    ...(e && !e.l2 ? ([['out vif', String(e.interfaceIndex)], ['dst mac', e.dstMac], ['src mac', e.srcMac || '- (the out vif\'s)']] as const) : []),
    ...(nh.kind.case === 'vrfRoute' && nh.kind.value.l2 ? ([['l2', 'yes (bridge the inner frame)']] as const) : []),
    ...(c ? ([['composite', compName(c.kind)], ['members', c.memberIds.join(', ') || '- (empty: drops)']] as const) : []),
    ...(t
      ? ([
          ['tunnel', tunnelName(t.type)], ['src ip', t.srcIp], ['dst ip', t.dstIp], ['label', String(t.label)], ['fabric vif', String(t.interfaceIndex)],
          ...(t.type === TunnelType.VXLAN ? [['inner dst mac', t.innerDstMac], ['inner src mac', t.innerSrcMac]] : []),
        ] as [string, string][])
      : []),
    ['refs', String(nh.refCount)],
    ['decap refs', String(nh.decapRefCount)],
    ['bridge refs', String(nh.bridgeRefCount)],
    ['composite refs', String(nh.compositeRefCount)],
  ]));
}

const OPTIONS: Record<string, OptionSpec> = {
  vrf: { type: 'string', arg: 'N', desc: 'VRF the next hop belongs to (default 0); vrf: the VRF to route in' },
  vif: { type: 'string', arg: 'N', desc: 'encap: the output vif; tunnel: the fabric vif (required)' },
  'dst-mac': { type: 'string', arg: 'MAC', desc: 'encap: destination MAC written into the frame (required)' },
  'src-mac': { type: 'string', arg: 'MAC', desc: 'encap: source MAC (default the output vif\'s)' },
  type: { type: 'string', arg: 'T', desc: 'tunnel: mplsoudp, mplsogre or vxlan (required)' },
  src: { type: 'string', arg: 'IP', desc: 'tunnel: the underlay source address (required)' },
  dst: { type: 'string', arg: 'IP', desc: 'tunnel: the remote host\'s underlay address (required)' },
  label: { type: 'string', arg: 'N', desc: 'tunnel: the default MPLS label / VNI (default 0)' },
  'inner-dst-mac': { type: 'string', arg: 'MAC', desc: 'tunnel vxlan: the inner frame\'s destination MAC' },
  'inner-src-mac': { type: 'string', arg: 'MAC', desc: 'tunnel vxlan: the inner frame\'s source MAC (default the fabric vif\'s)' },
  l2: { type: 'boolean', desc: 'encap: a bridge port (the frame leaves as it is; no --dst-mac); vrf: an L2 VNI (bridge the inner frame in --vrf)' },
  ecmp: { type: 'boolean', desc: 'composite: one member per flow (by the flow hash)' },
  flood: { type: 'boolean', desc: 'composite: a copy to every member' },
};

const ENCAP_OPTS = ['vif', 'dst-mac', 'src-mac', 'l2'];
const COMPOSITE_OPTS = ['ecmp', 'flood'];
const TUNNEL_OPTS = ['vif', 'type', 'src', 'dst', 'label', 'inner-dst-mac', 'inner-src-mac'];

/** nextHop: the message add and set send, from "<id> <kind>" and the options. */
function nextHop(verb: string, id: string, kind: string, o: OptionValues, members: string[] = []): MessageInitShape<typeof NextHopSchema> {
  const base = { id: uint('id', id), vrf: optUint(o, 'vrf') ?? 0 };
  if (kind !== 'composite' && members.length) throw new UsageError(`member ids are for composite next hops only`, `nh ${verb}`);
  const only = (allowed: string[]) => {
    for (const opt of [...ENCAP_OPTS, ...TUNNEL_OPTS, ...COMPOSITE_OPTS])
      if (!allowed.includes(opt) && o[opt] !== undefined) throw new UsageError(`--${opt} is not an option of ${kind} next hops`, `nh ${verb}`);
  };
  if (kind === 'encap') {
    only(ENCAP_OPTS);
    const vif = optUint(o, 'vif');
    const dstMac = optString(o, 'dst-mac');
    const l2 = o.l2 === true;
    if (vif === undefined || (dstMac === undefined && !l2)) throw new UsageError('encap wants --vif and --dst-mac (or --l2)', `nh ${verb}`);
    return { ...base, kind: { case: 'encap', value: { interfaceIndex: vif, dstMac: dstMac ?? '', srcMac: optString(o, 'src-mac') ?? '', l2 } } };
  }
  if (kind === 'composite') {
    only(COMPOSITE_OPTS);
    if ((o.ecmp === true) === (o.flood === true)) throw new UsageError('composite wants one of --ecmp or --flood', `nh ${verb}`);
    const memberIds = members.map((m) => uint('member', m));
    return { ...base, kind: { case: 'composite', value: { kind: o.ecmp === true ? CompositeKind.ECMP : CompositeKind.FLOOD, memberIds } } };
  }
  if (kind === 'tunnel') {
    only(TUNNEL_OPTS);
    const vif = optUint(o, 'vif');
    const type = optString(o, 'type');
    const srcIp = optString(o, 'src');
    const dstIp = optString(o, 'dst');
    if (vif === undefined || type === undefined || srcIp === undefined || dstIp === undefined)
      throw new UsageError('tunnel wants --type, --src, --dst and --vif', `nh ${verb}`);
    return {
      ...base,
      kind: {
        case: 'tunnel',
        value: {
          type: enumValue('--type', TunnelTypeSchema, type, TUNNEL_ALIASES),
          srcIp, dstIp, label: optUint(o, 'label') ?? 0, interfaceIndex: vif,
          innerDstMac: optString(o, 'inner-dst-mac') ?? '', innerSrcMac: optString(o, 'inner-src-mac') ?? '',
        },
      },
    };
  }
  if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`kind: want one of ${KINDS.join(', ')}, got ${JSON.stringify(kind.slice(0, 32))}`, `nh ${verb}`);
  if (kind === 'vrf') {
    only(['l2']);
    return { ...base, kind: { case: 'vrfRoute', value: { l2: optBool(o, 'l2') ?? false } } };
  }
  only([]);
  return { ...base, kind: { case: kind as 'receive' | 'discard', value: {} } };
}

const DETAILS = `Kinds: encap (rewrite the L2 header and send out of a local vif; --l2: the
frame as it is), tunnel (to a remote host inside MPLSoUDP, MPLSoGRE or VXLAN,
out of a fabric vif), composite (--ecmp: one member per flow; --flood: a copy
to every member; members are encap or tunnel next hops, at most 64), vrf
(route the packet again in --vrf), receive (to the host stack), discard (drop,
counted as discard).
  vrctl nh add 11 encap --vif 1 --dst-mac 02:aa:00:00:00:01 --vrf 1
  vrctl nh add 12 encap --vif 2 --l2
  vrctl nh add 40 composite --ecmp 20 21 --vrf 1
  vrctl nh add 50 composite --flood 12 21
  vrctl nh add 20 tunnel --type mplsoudp --src 192.0.2.1 --dst 192.0.2.2 --label 1000 --vif 3 --vrf 1
  vrctl nh add 21 tunnel --type vxlan --src 192.0.2.1 --dst 192.0.2.2 --label 5001 --vif 3 --inner-dst-mac 02:bb:00:00:00:01
  vrctl nh add 30 vrf --vrf 2
  vrctl nh add 12 encap --l2 --vif 1 --vrf 1     (a bridge port: see vrctl bridge)
  vrctl nh add 31 vrf --l2 --vrf 1               (an L2 VNI leads here)
  vrctl nh add 1 receive`;

export const nhCommands: Command[] = [
  {
    path: ['nh', 'list'],
    nargs: [0, 0],
    summary: 'list every next hop (0 is the built-in discard)',
    async run(ctx) {
      const nhs = (await collect(ctx.client().nextHops.listNextHops({}))).map((r) => r.nextHop).filter((n) => n !== undefined);
      if (ctx.json) printJson(ctx, nhs.map((n) => toJson(NextHopSchema, n, JSON_OPTS)));
      else ctx.out(nhTable(nhs));
    },
  },
  {
    path: ['nh', 'get'],
    args: '<id>',
    nargs: [1, 1],
    summary: 'show one next hop and how many routes, labels and VNIs use it',
    async run(ctx, [id]) {
      show(ctx, (await ctx.client().nextHops.getNextHop({ id: uint('id', id!) })).nextHop);
    },
  },
  {
    path: ['nh', 'add'],
    args: '<id> encap|tunnel|composite|vrf|receive|discard [MEMBER...]',
    nargs: [2, 2 + 64],
    summary: 'add a next hop',
    details: DETAILS,
    options: OPTIONS,
    async run(ctx, [id, kind, ...members], o) {
      show(ctx, (await ctx.client().nextHops.addNextHop({ nextHop: nextHop('add', id!, kind!, o, members) })).nextHop);
    },
  },
  {
    path: ['nh', 'set'],
    args: '<id> encap|tunnel|composite|vrf|receive|discard [MEMBER...]',
    nargs: [2, 2 + 64],
    summary: 'rewrite a next hop in place (same kind; a composite: its member list); its routes, labels and VNIs follow at once',
    details: DETAILS,
    options: OPTIONS,
    async run(ctx, [id, kind, ...members], o) {
      show(ctx, (await ctx.client().nextHops.updateNextHop({ nextHop: nextHop('set', id!, kind!, o, members) })).nextHop);
    },
  },
  {
    path: ['nh', 'member'],
    args: 'add|del <composite-id> <member-id>',
    nargs: [3, 3],
    summary: 'add or remove one member of a composite (ECMP: a new member takes an equal share of the flows; a removed one moves only its own)',
    async run(ctx, [verb, id, member]) {
      const req = { id: uint('id', id!), memberId: uint('member', member!) };
      const nhs = ctx.client().nextHops;
      if (verb === 'add') show(ctx, (await nhs.addCompositeMember(req)).nextHop);
      else if (verb === 'del') show(ctx, (await nhs.removeCompositeMember(req)).nextHop);
      else throw new UsageError(`want add or del, got ${JSON.stringify(verb!.slice(0, 32))}`, 'nh member');
    },
  },
  {
    path: ['nh', 'del'],
    args: '<id>',
    nargs: [1, 1],
    summary: 'remove a next hop (refused while routes, labels or VNIs use it)',
    async run(ctx, [id]) {
      const n = uint('id', id!);
      const r = await ctx.client().nextHops.deleteNextHop({ id: n });
      if (ctx.json) printJson(ctx, toJson(DeleteNextHopResponseSchema, r));
      else ctx.out(`nh ${n} deleted`);
    },
  },
];
