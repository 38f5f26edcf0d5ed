/** vrctl bridge: BridgeService, the bridge (MAC) table of each VRF (the vRouter's `rt --family bridge`). */
import { toJson } from '@bufbuild/protobuf';
import { BridgeEntrySchema, type BridgeEntry } from '../../gen/vrouter/ebpf/v1/bridge_pb.js';
import { optUint, printJson, UsageError, type Command, type Context, type OptionValues } from '../command.ts';
import { table } from '../table.ts';

const JSON_OPTS = { alwaysEmitImplicit: true } as const;
const VRF_OPTION = { vrf: { type: 'string', arg: 'N', desc: 'the VRF (default 0)' } } as const;
const ENTRY_OPTIONS = {
  ...VRF_OPTION,
  nh: { type: 'string', arg: 'ID', desc: 'the next hop frames to the MAC go to (required)' },
  label: { type: 'string', arg: 'VNI', desc: 'the VNI a tunnel next hop (or a flood\'s VXLAN members) sends them with (default: the next hop\'s)' },
} as const;

function print(ctx: Context, es: BridgeEntry[]): void {
  if (ctx.json) printJson(ctx, es.map((e) => toJson(BridgeEntrySchema, e, JSON_OPTS)) as never);
  else ctx.out(table(['VRF', 'MAC', 'NH', 'LABEL'], es.map((e) => [String(e.vrf), e.mac, String(e.nextHopId), e.label === undefined ? '-' : String(e.label)])));
}

function entry(o: OptionValues, mac: string, cmd: string) {
  const nh = optUint(o, 'nh');
  if (nh === undefined) throw new UsageError('--nh is required', cmd);
  const label = optUint(o, 'label');
  return { vrf: optUint(o, 'vrf') ?? 0, mac, nextHopId: nh, ...(label !== undefined ? { label } : {}) };
}

export const bridgeCommands: Command[] = [
  {
    path: ['bridge', 'list'],
    flags: '[--vrf N]',
    nargs: [0, 0],
    summary: 'list the bridge (MAC) table, by VRF and MAC (ff:ff:ff:ff:ff:ff: the VRF\'s flood entry)',
    options: { vrf: { type: 'string', arg: 'N', desc: 'one VRF only' } },
    async run(ctx, _args, o) {
      const vrf = optUint(o, 'vrf');
      const all: BridgeEntry[] = [];
      let pageToken = '';
      do {
        const r = await ctx.client().bridge.listBridgeEntries({ ...(vrf !== undefined ? { vrf } : {}), pageToken });
        all.push(...r.entries);
        pageToken = r.nextPageToken;
      } while (pageToken);
      print(ctx, all);
    },
  },
  {
    path: ['bridge', 'get'],
    args: '<mac>',
    flags: '[--vrf N]',
    nargs: [1, 1],
    summary: 'show one bridge entry',
    options: VRF_OPTION,
    async run(ctx, [mac], o) {
      const r = await ctx.client().bridge.getBridgeEntry({ vrf: optUint(o, 'vrf') ?? 0, mac: mac! });
      print(ctx, r.entry ? [r.entry] : []);
    },
  },
  {
    path: ['bridge', 'add'],
    args: '<mac>',
    flags: '--nh ID [--vrf N] [--label VNI]',
    nargs: [1, 1],
    summary: 'add a MAC to a VRF\'s bridge table (next hop: an encap --l2, a VXLAN tunnel, or discard)',
    options: ENTRY_OPTIONS,
    async run(ctx, [mac], o) {
      const e = entry(o, mac!, 'bridge add');
      await ctx.client().bridge.addBridgeEntry({ entry: e });
      if (ctx.json) printJson(ctx, e);
      else ctx.out(`vrf ${e.vrf} ${e.mac} → nh ${e.nextHopId}`);
    },
  },
  {
    path: ['bridge', 'set'],
    args: '<mac>',
    flags: '--nh ID [--vrf N] [--label VNI]',
    nargs: [1, 1],
    summary: 'point a bridge entry at another next hop (a MAC that moved)',
    options: ENTRY_OPTIONS,
    async run(ctx, [mac], o) {
      const e = entry(o, mac!, 'bridge set');
      await ctx.client().bridge.updateBridgeEntry({ entry: e });
      if (ctx.json) printJson(ctx, e);
      else ctx.out(`vrf ${e.vrf} ${e.mac} → nh ${e.nextHopId}`);
    },
  },
  {
    path: ['bridge', 'del'],
    args: '<mac>',
    flags: '[--vrf N]',
    nargs: [1, 1],
    summary: 'remove a bridge entry',
    options: VRF_OPTION,
    async run(ctx, [mac], o) {
      const vrf = optUint(o, 'vrf') ?? 0;
      await ctx.client().bridge.deleteBridgeEntry({ vrf, mac: mac! });
      if (ctx.json) printJson(ctx, {});
      else ctx.out(`vrf ${vrf} ${mac} deleted`);
    },
  },
];


