/** vrctl nh: NextHopService (the vRouter's `nh`). */
import { toJson, type MessageInitShape } from '@bufbuild/protobuf';
import { DeleteNextHopResponseSchema, NextHopSchema, type NextHop } from '../../gen/vrouter/ebpf/v1/nexthop_pb.js';
import { collect } from '../../client/client.ts';
import { optString, optUint, printJson, uint, UsageError, type Command, type Context, type OptionSpec, type OptionValues } from '../command.ts';
import { dash, kv, table } from '../table.ts';

const JSON_OPTS = { alwaysEmitImplicit: true } as const;
const KINDS = ['encap', 'receive', 'discard'] as const;

const kindName = (nh: NextHop) => nh.kind.case ?? '-';
const encap = (nh: NextHop) => (nh.kind.case === 'encap' ? nh.kind.value : undefined);

export function nhTable(nhs: readonly NextHop[]): string {
  return table(
    ['ID', 'KIND', 'VRF', 'OUT-VIF', 'DST-MAC', 'SRC-MAC', 'REFS'],
    nhs.map((nh) => {
      const e = encap(nh);
      return [String(nh.id), kindName(nh), String(nh.vrf), e ? String(e.interfaceIndex) : '-', dash(e?.dstMac ?? ''), dash(e?.srcMac ?? ''), String(nh.refCount)];
    }),
  );
}

function show(ctx: Context, nh: NextHop | undefined): void {
  if (!nh) throw new Error('the daemon answered without a next hop');
  if (ctx.json) return printJson(ctx, toJson(NextHopSchema, nh, JSON_OPTS));
  const e = encap(nh);
  ctx.out(kv([
    ['id', String(nh.id)],
    ['kind', kindName(nh)],
    ['vrf', String(nh.vrf)],
    ...(e ? ([['out vif', String(e.interfaceIndex)], ['dst mac', e.dstMac], ['src mac', e.srcMac || '- (the out vif\'s)']] as const) : []),
    ['refs', String(nh.refCount)],
  ]));
}

const OPTIONS: Record<string, OptionSpec> = {
  vrf: { type: 'string', arg: 'N', desc: 'VRF the next hop belongs to (default 0)' },
  vif: { type: 'string', arg: 'N', desc: 'encap: the output vif (required)' },
  'dst-mac': { type: 'string', arg: 'MAC', desc: 'encap: destination MAC written into the frame (required)' },
  'src-mac': { type: 'string', arg: 'MAC', desc: 'encap: source MAC (default the output vif\'s)' },
};

/** nextHop: the message add and set send, from "<id> <kind>" and the options. */
function nextHop(verb: string, id: string, kind: string, o: OptionValues): MessageInitShape<typeof NextHopSchema> {
  const base = { id: uint('id', id), vrf: optUint(o, 'vrf') ?? 0 };
  if (kind === 'encap') {
    const vif = optUint(o, 'vif');
    const dstMac = optString(o, 'dst-mac');
    if (vif === undefined || dstMac === undefined) throw new UsageError('encap wants --vif and --dst-mac', `nh ${verb}`);
    return { ...base, kind: { case: 'encap', value: { interfaceIndex: vif, dstMac, srcMac: optString(o, 'src-mac') ?? '' } } };
  }
  if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`kind: want one of ${KINDS.join(', ')}, got ${JSON.stringify(kind.slice(0, 32))}`, `nh ${verb}`);
  for (const opt of ['vif', 'dst-mac', 'src-mac']) if (o[opt] !== undefined) throw new UsageError(`--${opt} is for encap next hops only`, `nh ${verb}`);
  return { ...base, kind: { case: kind as 'receive' | 'discard', value: {} } };
}

const DETAILS = `Kinds: encap (rewrite the L2 header and send out of a local vif), receive (to
the host stack), discard (drop, counted as discard).
  vrctl nh add 11 encap --vif 1 --dst-mac 02:aa:00:00:00:01 --vrf 1
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
    summary: 'show one next hop and how many routes use it',
    async run(ctx, [id]) {
      show(ctx, (await ctx.client().nextHops.getNextHop({ id: uint('id', id!) })).nextHop);
    },
  },
  {
    path: ['nh', 'add'],
    args: '<id> encap|receive|discard',
    nargs: [2, 2],
    summary: 'add a next hop',
    details: DETAILS,
    options: OPTIONS,
    async run(ctx, [id, kind], o) {
      show(ctx, (await ctx.client().nextHops.addNextHop({ nextHop: nextHop('add', id!, kind!, o) })).nextHop);
    },
  },
  {
    path: ['nh', 'set'],
    args: '<id> encap|receive|discard',
    nargs: [2, 2],
    summary: 'rewrite a next hop in place (same kind); its routes follow at once',
    details: DETAILS,
    options: OPTIONS,
    async run(ctx, [id, kind], o) {
      show(ctx, (await ctx.client().nextHops.updateNextHop({ nextHop: nextHop('set', id!, kind!, o) })).nextHop);
    },
  },
  {
    path: ['nh', 'del'],
    args: '<id>',
    nargs: [1, 1],
    summary: 'remove a next hop (refused while routes use it)',
    async run(ctx, [id]) {
      const n = uint('id', id!);
      const r = await ctx.client().nextHops.deleteNextHop({ id: n });
      if (ctx.json) printJson(ctx, toJson(DeleteNextHopResponseSchema, r));
      else ctx.out(`nh ${n} deleted`);
    },
  },
];
