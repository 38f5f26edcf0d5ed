/** vrctl vif: InterfaceService (the vRouter's `vif`). */
import { toJson } from '@bufbuild/protobuf';
import {
  AttachHook, AttachHookSchema, AttachModeSchema, InterfaceSchema, InterfaceTypeSchema,
  DeleteInterfaceResponseSchema, type Interface,
} from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import { collect } from '../../client/client.ts';
import {
  enumName, enumValue, optBool, optString, optUint, printJson, uint, UsageError,
  type Command, type Context, type OptionSpec,
} from '../command.ts';
import { dash, kv, table, yesNo } from '../table.ts';

const JSON_OPTS = { alwaysEmitImplicit: true } as const;

const hookPolicy = (s: string) => enumValue('--hook', AttachHookSchema, s, { auto: AttachHook.AUTO });
const attachMode = (s: string) => enumValue('--mode', AttachModeSchema, s, { auto: 0 });
const flags = (v: Interface) => [v.policyEnabled && 'policy', v.disabled && 'disabled'].filter(Boolean).join(',') || '-';
/** the hook policy as stored: UNSPECIFIED is AUTO */
const policyName = (h: AttachHook) => (h === AttachHook.UNSPECIFIED ? 'auto' : enumName(AttachHookSchema, h));

export function vifTable(vifs: readonly Interface[]): string {
  return table(
    ['VIF', 'NAME', 'TYPE', 'VRF', 'OS-IDX', 'HOOK', 'HOOK-POLICY', 'MODE', 'PEER', 'MAC', 'IPV4', 'IPV6', 'MTU', 'FLAGS'],
    vifs.map((v) => [
      String(v.index), v.name, enumName(InterfaceTypeSchema, v.type), String(v.vrf), String(v.osIndex),
      enumName(AttachHookSchema, v.hook), policyName(v.hookPolicy), enumName(AttachModeSchema, v.attachMode),
      v.hook === AttachHook.TC ? yesNo(v.peerDelivery) : '-', dash(v.mac), dash(v.ipv4Address), dash(v.ipv6Address),
      String(v.mtu), flags(v),
    ]),
  );
}

function vifDetail(v: Interface): string {
  return kv([
    ['index', String(v.index)],
    ['name', v.name],
    ['type', enumName(InterfaceTypeSchema, v.type)],
    ['vrf', String(v.vrf)],
    ['os index', String(v.osIndex)],
    ['mac', dash(v.mac)],
    ['ipv4', dash(v.ipv4Address)],
    ['ipv6', dash(v.ipv6Address)],
    ['mtu', String(v.mtu)],
    ['policy', yesNo(v.policyEnabled)],
    ['disabled', yesNo(v.disabled)],
    ['hook policy', policyName(v.hookPolicy)],
    ['hook', enumName(AttachHookSchema, v.hook)],
    ['attach mode', enumName(AttachModeSchema, v.attachMode)],
    ['peer delivery', yesNo(v.peerDelivery)],
  ]);
}

function show(ctx: Context, v: Interface | undefined): void {
  if (!v) throw new Error('the daemon answered without an interface');
  if (ctx.json) printJson(ctx, toJson(InterfaceSchema, v, JSON_OPTS));
  else ctx.out(vifDetail(v));
}

/** the options add and set share */
const FIELDS: Record<string, OptionSpec> = {
  vrf: { type: 'string', arg: 'N', desc: 'VRF of packets arriving on the vif' },
  mac: { type: 'string', arg: 'MAC', desc: 'the datapath\'s MAC on the vif (add: default the kernel interface\'s)' },
  ipv4: { type: 'string', arg: 'ADDR', desc: 'the vif\'s IPv4 address' },
  ipv6: { type: 'string', arg: 'ADDR', desc: 'the vif\'s IPv6 address' },
  mtu: { type: 'string', arg: 'N', desc: 'largest IP packet sent out (add: default the kernel interface\'s)' },
  policy: { type: 'boolean', desc: 'flow lookup on input (--no-policy: off)' },
  disabled: { type: 'boolean', desc: 'administratively down (--no-disabled: up)' },
  hook: { type: 'string', arg: 'HOOK', desc: 'hook policy: auto (TC for veth/netkit, XDP otherwise), xdp, tc' },
};

export const vifCommands: Command[] = [
  {
    path: ['vif', 'list'],
    nargs: [0, 0],
    summary: 'list every vif',
    async run(ctx) {
      const vifs = (await collect(ctx.client().interfaces.listInterfaces({}))).map((r) => r.interface).filter((v) => v !== undefined);
      if (ctx.json) printJson(ctx, vifs.map((v) => toJson(InterfaceSchema, v, JSON_OPTS)));
      else ctx.out(vifTable(vifs));
    },
  },
  {
    path: ['vif', 'get'],
    args: '<index>',
    nargs: [1, 1],
    summary: 'show one vif',
    async run(ctx, [index]) {
      show(ctx, (await ctx.client().interfaces.getInterface({ index: uint('index', index!) })).interface);
    },
  },
  {
    path: ['vif', 'add'],
    args: '<index>',
    flags: '--name IF',
    nargs: [1, 1],
    summary: 'add a vif and attach the datapath to its kernel interface',
    options: {
      name: { type: 'string', arg: 'IF', desc: 'kernel interface (required)' },
      type: { type: 'string', arg: 'TYPE', desc: 'virtual (default), host, agent, fabric' },
      ...FIELDS,
      mode: { type: 'string', arg: 'MODE', desc: 'XDP attach mode: auto (native, else generic; default), native, generic' },
    },
    async run(ctx, [index], o) {
      const name = optString(o, 'name');
      if (name === undefined) throw new UsageError('--name is required', 'vif add');
      const hook = optString(o, 'hook');
      const mode = optString(o, 'mode');
      const r = await ctx.client().interfaces.addInterface({
        interface: {
          index: uint('index', index!),
          name,
          type: enumValue('--type', InterfaceTypeSchema, optString(o, 'type') ?? 'virtual'),
          vrf: optUint(o, 'vrf') ?? 0,
          mac: optString(o, 'mac') ?? '',
          ipv4Address: optString(o, 'ipv4') ?? '',
          ipv6Address: optString(o, 'ipv6') ?? '',
          mtu: optUint(o, 'mtu') ?? 0,
          policyEnabled: optBool(o, 'policy') ?? false,
          disabled: optBool(o, 'disabled') ?? false,
          hookPolicy: hook === undefined ? AttachHook.UNSPECIFIED : hookPolicy(hook),
        },
        attachMode: mode === undefined ? 0 : attachMode(mode),
      });
      show(ctx, r.interface);
    },
  },
  {
    path: ['vif', 'set'],
    args: '<index>',
    nargs: [1, 1],
    summary: 'change the given fields of a vif (a hook change moves it without loss)',
    details: 'Index, type and name cannot change: delete and add instead. --ipv4 "" removes the address.',
    options: FIELDS,
    async run(ctx, [index], o) {
      const hook = optString(o, 'hook');
      const req = {
        index: uint('index', index!),
        vrf: optUint(o, 'vrf'),
        mac: optString(o, 'mac'),
        ipv4Address: optString(o, 'ipv4'),
        ipv6Address: optString(o, 'ipv6'),
        mtu: optUint(o, 'mtu'),
        policyEnabled: optBool(o, 'policy'),
        disabled: optBool(o, 'disabled'),
        hookPolicy: hook === undefined ? undefined : hookPolicy(hook),
      };
      if (Object.values(req).filter((v) => v !== undefined).length === 1) throw new UsageError('nothing to change: give at least one field option', 'vif set');
      show(ctx, (await ctx.client().interfaces.updateInterface(req)).interface);
    },
  },
  {
    path: ['vif', 'del'],
    args: '<index>',
    nargs: [1, 1],
    summary: 'detach and remove a vif',
    async run(ctx, [index]) {
      const i = uint('index', index!);
      const r = await ctx.client().interfaces.deleteInterface({ index: i });
      if (ctx.json) printJson(ctx, toJson(DeleteInterfaceResponseSchema, r));
      else ctx.out(`vif ${i} deleted`);
    },
  },
];
