/** vrctl rt: RouteService (the vRouter's `rt`), IPv4 and IPv6 per VRF. */
import { toJson } from '@bufbuild/protobuf';
import {
  AddRouteResponseSchema, DeleteRouteResponseSchema, RouteSchema, UpdateRouteResponseSchema, type Route,
} from '../../gen/vrouter/ebpf/v1/route_pb.js';
import { optBool, optUint, printJson, uint, UsageError, type Command, type Context } from '../command.ts';
import { addressKey } from '../format.ts';
import { table } from '../table.ts';

const JSON_OPTS = { alwaysEmitImplicit: true } as const;
const LIST_CHUNK = 1000;

export function rtTable(routes: readonly Route[]): string {
  return table(
    ['VRF', 'PREFIX', 'NH', 'LABEL', 'FLAGS'],
    routes.map((r) => [String(r.vrf), r.prefix, String(r.nextHopId), r.label === undefined ? '-' : String(r.label), r.proxyArp ? 'proxy-arp' : '-']),
  );
}

function showRoute(ctx: Context, r: Route | undefined): void {
  if (!r) throw new Error('the daemon answered without a route');
  if (ctx.json) printJson(ctx, toJson(RouteSchema, r, JSON_OPTS));
  else ctx.out(rtTable([r]));
}

const vrfArg = (s: string) => uint('vrf', s);

/** route: the message add and set send. */
function route(verb: string, vrf: string, prefix: string, o: Record<string, string | boolean | undefined>) {
  const nh = optUint(o, 'nh');
  if (nh === undefined) throw new UsageError('--nh is required', `rt ${verb}`);
  const label = optUint(o, 'label');
  return { vrf: vrfArg(vrf), prefix, nextHopId: nh, proxyArp: optBool(o, 'proxy-arp') ?? false, ...(label !== undefined ? { label } : {}) };
}

const WRITE_OPTIONS = {
  nh: { type: 'string', arg: 'ID', desc: 'next hop id (required)' },
  'proxy-arp': { type: 'boolean', desc: 'answer ARP / neighbour solicitations for addresses in the prefix' },
  label: { type: 'string', arg: 'N', desc: 'the MPLS label / VNI a tunnel next hop puts on these packets (default: its own)' },
} as const;

export const rtCommands: Command[] = [
  {
    path: ['rt', 'list'],
    flags: '[--vrf N]',
    nargs: [0, 0],
    summary: 'list the routes of every VRF, or of one (the table: sorted by VRF and prefix)',
    details: 'With --json, routes come in the datapath table\'s order (IPv4, then IPv6), as they stream.',
    options: { vrf: { type: 'string', arg: 'N', desc: 'only this VRF' } },
    async run(ctx, _args, o) {
      const vrf = optUint(o, 'vrf');
      const routes: Route[] = [];
      for await (const m of ctx.client().routes.listRoutes({ vrf, chunkSize: LIST_CHUNK })) routes.push(...m.routes);
      if (ctx.json) return printJson(ctx, routes.map((r) => toJson(RouteSchema, r, JSON_OPTS)));
      const keyed = routes.map((r) => ({ r, k: addressKey(r.prefix) }));
      keyed.sort((a, b) => a.r.vrf - b.r.vrf || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
      ctx.out(rtTable(keyed.map((x) => x.r)));
    },
  },
  {
    path: ['rt', 'get'],
    args: '<vrf> <prefix>',
    nargs: [2, 2],
    summary: 'show the route with exactly this key',
    async run(ctx, [vrf, prefix]) {
      showRoute(ctx, (await ctx.client().routes.getRoute({ vrf: vrfArg(vrf!), prefix: prefix! })).route);
    },
  },
  {
    path: ['rt', 'lookup'],
    args: '<vrf> <address>',
    nargs: [2, 2],
    summary: 'the route the datapath uses for an address (longest-prefix match in its own table)',
    async run(ctx, [vrf, address]) {
      showRoute(ctx, (await ctx.client().routes.lookupRoute({ vrf: vrfArg(vrf!), address: address! })).route);
    },
  },
  {
    path: ['rt', 'add'],
    args: '<vrf> <prefix>',
    flags: '--nh ID',
    nargs: [2, 2],
    summary: 'add a route',
    details: 'e.g. vrctl rt add 1 10.10.1.2/32 --nh 11 --proxy-arp',
    options: WRITE_OPTIONS,
    async run(ctx, [vrf, prefix], o) {
      const r = await ctx.client().routes.addRoute({ route: route('add', vrf!, prefix!, o) });
      if (ctx.json) printJson(ctx, toJson(AddRouteResponseSchema, r));
      else ctx.out(`route ${prefix} added to vrf ${vrf}`);
    },
  },
  {
    path: ['rt', 'set'],
    args: '<vrf> <prefix>',
    flags: '--nh ID',
    nargs: [2, 2],
    summary: 'change the next hop or flags of a route',
    options: WRITE_OPTIONS,
    async run(ctx, [vrf, prefix], o) {
      const r = await ctx.client().routes.updateRoute({ route: route('set', vrf!, prefix!, o) });
      if (ctx.json) printJson(ctx, toJson(UpdateRouteResponseSchema, r));
      else ctx.out(`route ${prefix} in vrf ${vrf} updated`);
    },
  },
  {
    path: ['rt', 'del'],
    args: '<vrf> <prefix>',
    nargs: [2, 2],
    summary: 'remove a route (packets then follow the covering route)',
    async run(ctx, [vrf, prefix]) {
      const r = await ctx.client().routes.deleteRoute({ vrf: vrfArg(vrf!), prefix: prefix! });
      if (ctx.json) printJson(ctx, toJson(DeleteRouteResponseSchema, r));
      else ctx.out(`route ${prefix} deleted from vrf ${vrf}`);
    },
  },
];
