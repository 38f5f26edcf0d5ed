/** vrctl mpls / vxlan: MplsService and VxlanService (the vRouter's `mpls` and `vxlan`), the decap tables. */
import { toJson } from '@bufbuild/protobuf';
import { MplsLabelSchema } from '../../gen/vrouter/ebpf/v1/mpls_pb.js';
import { VniSchema } from '../../gen/vrouter/ebpf/v1/vxlan_pb.js';
import { collect } from '../../client/client.ts';
import { optUint, printJson, uint, UsageError, type Command, type Context } from '../command.ts';
import { table } from '../table.ts';

const JSON_OPTS = { alwaysEmitImplicit: true } as const;
const NH_OPTION = { nh: { type: 'string', arg: 'ID', desc: 'the next hop the inner packet is run through (required)' } } as const;

function nhOf(o: Record<string, string | boolean | undefined>, cmd: string): number {
  const nh = optUint(o, 'nh');
  if (nh === undefined) throw new UsageError('--nh is required', cmd);
  return nh;
}

function printEntries(ctx: Context, head: string, rows: { key: number; nh: number }[], json: () => unknown[]): void {
  if (ctx.json) printJson(ctx, json() as never);
  else ctx.out(table([head, 'NH'], rows.map((r) => [String(r.key), String(r.nh)])));
}

export const decapCommands: Command[] = [
  {
    path: ['mpls', 'list'],
    nargs: [0, 0],
    summary: 'list the MPLS label table (label → next hop, for MPLSoUDP / MPLSoGRE from the fabric)',
    async run(ctx) {
      const ls = (await collect(ctx.client().mpls.listLabels({}))).map((r) => r.label).filter((l) => l !== undefined);
      printEntries(ctx, 'LABEL', ls.map((l) => ({ key: l.label, nh: l.nextHopId })), () => ls.map((l) => toJson(MplsLabelSchema, l, JSON_OPTS)));
    },
  },
  {
    path: ['mpls', 'get'],
    args: '<label>',
    nargs: [1, 1],
    summary: 'show one label',
    async run(ctx, [label]) {
      const l = (await ctx.client().mpls.getLabel({ label: uint('label', label!) })).label!;
      printEntries(ctx, 'LABEL', [{ key: l.label, nh: l.nextHopId }], () => [toJson(MplsLabelSchema, l, JSON_OPTS)]);
    },
  },
  {
    path: ['mpls', 'add'],
    args: '<label>',
    flags: '--nh ID',
    nargs: [1, 1],
    summary: 'add a label (0..1048575) and its next hop',
    options: NH_OPTION,
    async run(ctx, [label], o) {
      const e = { label: uint('label', label!), nextHopId: nhOf(o, 'mpls add') };
      await ctx.client().mpls.addLabel({ label: e });
      if (ctx.json) printJson(ctx, e);
      else ctx.out(`label ${e.label} → nh ${e.nextHopId}`);
    },
  },
  {
    path: ['mpls', 'set'],
    args: '<label>',
    flags: '--nh ID',
    nargs: [1, 1],
    summary: 'point a label at another next hop',
    options: NH_OPTION,
    async run(ctx, [label], o) {
      const e = { label: uint('label', label!), nextHopId: nhOf(o, 'mpls set') };
      await ctx.client().mpls.updateLabel({ label: e });
      if (ctx.json) printJson(ctx, e);
      else ctx.out(`label ${e.label} → nh ${e.nextHopId}`);
    },
  },
  {
    path: ['mpls', 'del'],
    args: '<label>',
    nargs: [1, 1],
    summary: 'remove a label',
    async run(ctx, [label]) {
      const n = uint('label', label!);
      await ctx.client().mpls.deleteLabel({ label: n });
      if (ctx.json) printJson(ctx, {});
      else ctx.out(`label ${n} deleted`);
    },
  },
  {
    path: ['vxlan', 'list'],
    nargs: [0, 0],
    summary: 'list the VNI table (VNI → next hop, for VXLAN from the fabric)',
    async run(ctx) {
      const vs = (await collect(ctx.client().vxlan.listVnis({}))).map((r) => r.vni).filter((v) => v !== undefined);
      printEntries(ctx, 'VNI', vs.map((v) => ({ key: v.vni, nh: v.nextHopId })), () => vs.map((v) => toJson(VniSchema, v, JSON_OPTS)));
    },
  },
  {
    path: ['vxlan', 'get'],
    args: '<vni>',
    nargs: [1, 1],
    summary: 'show one VNI',
    async run(ctx, [vni]) {
      const v = (await ctx.client().vxlan.getVni({ vni: uint('vni', vni!) })).vni!;
      printEntries(ctx, 'VNI', [{ key: v.vni, nh: v.nextHopId }], () => [toJson(VniSchema, v, JSON_OPTS)]);
    },
  },
  {
    path: ['vxlan', 'add'],
    args: '<vni>',
    flags: '--nh ID',
    nargs: [1, 1],
    summary: 'add a VNI (0..16777215) and its next hop (usually a vrf next hop)',
    options: NH_OPTION,
    async run(ctx, [vni], o) {
      const e = { vni: uint('vni', vni!), nextHopId: nhOf(o, 'vxlan add') };
      await ctx.client().vxlan.addVni({ vni: e });
      if (ctx.json) printJson(ctx, e);
      else ctx.out(`vni ${e.vni} → nh ${e.nextHopId}`);
    },
  },
  {
    path: ['vxlan', 'set'],
    args: '<vni>',
    flags: '--nh ID',
    nargs: [1, 1],
    summary: 'point a VNI at another next hop',
    options: NH_OPTION,
    async run(ctx, [vni], o) {
      const e = { vni: uint('vni', vni!), nextHopId: nhOf(o, 'vxlan set') };
      await ctx.client().vxlan.updateVni({ vni: e });
      if (ctx.json) printJson(ctx, e);
      else ctx.out(`vni ${e.vni} → nh ${e.nextHopId}`);
    },
  },
  {
    path: ['vxlan', 'del'],
    args: '<vni>',
    nargs: [1, 1],
    summary: 'remove a VNI',
    async run(ctx, [vni]) {
      const n = uint('vni', vni!);
      await ctx.client().vxlan.deleteVni({ vni: n });
      if (ctx.json) printJson(ctx, {});
      else ctx.out(`vni ${n} deleted`);
    },
  },
];
