/** vrctl flow: FlowService (the vRouter's `flow -l`, and the agent's flow-miss callback to watch). */
import { create, toJson, type MessageInitShape } from '@bufbuild/protobuf';
import {
  DeleteFlowResponseSchema, FlowAction, FlowActionSchema, FlowEventKindSchema, FlowEventSchema, FlowMissSchema, FlowSchema, GetFlowResponseSchema,
  SetFlowResponseSchema, WatchFlowMissesRequestSchema,
  type Flow, type FlowKey, type FlowKeySchema, type FlowMiss, type Nat, type WatchFlowMissesResponse,
} from '../../gen/vrouter/ebpf/v1/flow_pb.js';
import { AttachHookSchema } from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import {
  enumName, enumValue, optBool, optString, optUint, printJson, uint, UsageError, type Command, type Context, type OptionSpec, type OptionValues,
} from '../command.ts';
import { addressKey } from '../format.ts';
import { table } from '../table.ts';

const JSON_OPTS = { alwaysEmitImplicit: true } as const;
const PAGE = 1000;
const PROTOS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, icmp6: 58 };
const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };

/** proto: a protocol name or number (its range is the daemon's to judge). */
function proto(s: string): number {
  return PROTOS[s.toLowerCase()] ?? uint('--proto', s);
}

const KEY_OPTIONS: Record<string, OptionSpec> = {
  vrf: { type: 'string', arg: 'N', desc: 'VRF (default 0)' },
  proto: { type: 'string', arg: 'P', desc: 'tcp, udp, icmp, icmpv6 or a protocol number (required)' },
  src: { type: 'string', arg: 'IP', desc: 'source address (required)' },
  dst: { type: 'string', arg: 'IP', desc: 'destination address (required)' },
  sport: { type: 'string', arg: 'N', desc: 'source port; ICMP echo: the identifier (default 0)' },
  dport: { type: 'string', arg: 'N', desc: 'destination port (default 0)' },
};
const KEY_FLAGS = '--proto P --src IP --dst IP [--vrf N --sport N --dport N]';

/** key: the flow key of the key options. */
function key(o: OptionValues, cmd: string): MessageInitShape<typeof FlowKeySchema> {
  const need = (name: string) => {
    const v = optString(o, name);
    if (v === undefined) throw new UsageError(`--${name} is required`, cmd);
    return v;
  };
  return { vrf: optUint(o, 'vrf') ?? 0, protocol: proto(need('proto')), srcIp: need('src'), dstIp: need('dst'), srcPort: optUint(o, 'sport') ?? 0, dstPort: optUint(o, 'dport') ?? 0 };
}

const action = (what: string, s: string) => enumValue(what, FlowActionSchema, s);

/** endpoint: "10.0.0.1:80", "[fd00::1]:80", "10.0.0.1 id 7" (ICMP echo), or the address alone. */
function endpoint(protocol: number, ip: string, port: number): string {
  if (protocol === 6 || protocol === 17) return `${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
  if ((protocol === 1 || protocol === 58) && port) return `${ip} id ${port}`;
  return ip;
}

const keyText = (k: FlowKey | undefined) =>
  k ? `vrf ${k.vrf} ${PROTO_NAMES[k.protocol] ?? k.protocol} ${endpoint(k.protocol, k.srcIp, k.srcPort)} > ${endpoint(k.protocol, k.dstIp, k.dstPort)}` : '-';

/** natText: "src=192.0.2.1:40000,dst=10.1.2.53" (a port only where the rewrite sets one). */
function natText(n: Nat | undefined): string {
  if (!n) return '-';
  const parts = [];
  if (n.srcIp) parts.push(`src=${n.srcPort ? endpoint(6, n.srcIp, n.srcPort) : n.srcIp}`);
  if (n.dstIp) parts.push(`dst=${n.dstPort ? endpoint(6, n.dstIp, n.dstPort) : n.dstIp}`);
  return parts.join(',') || '-';
}

export function flowTable(flows: readonly Flow[]): string {
  return table(
    ['VRF', 'PROTO', 'SOURCE', 'DESTINATION', 'ACTION', 'NAT', 'DIR', 'PKTS', 'BYTES', 'IDLE-MS', 'HOLD-ID'],
    flows.map((f) => {
      const k = f.key!;
      return [
        String(k.vrf), PROTO_NAMES[k.protocol] ?? String(k.protocol), endpoint(k.protocol, k.srcIp, k.srcPort), endpoint(k.protocol, k.dstIp, k.dstPort),
        enumName(FlowActionSchema, f.action), natText(f.nat), f.isReverse ? 'rev' : 'fwd', String(f.packets), String(f.bytes),
        String(f.idleMs), f.holdId ? `0x${f.holdId.toString(16)}` : '-',
      ];
    }),
  );
}

function missLine(m: FlowMiss): string {
  return `hold 0x${m.holdId.toString(16)}  vif ${m.interfaceIndex}  ${enumName(AttachHookSchema, m.hook)}  ${keyText(m.key)}  len ${m.packetLength}`;
}

const SET_OPTIONS: Record<string, OptionSpec> = {
  ...KEY_OPTIONS,
  action: { type: 'string', arg: 'A', desc: 'forward, drop or nat (required)' },
  'nat-src': { type: 'string', arg: 'IP', desc: 'NAT: the new source address' },
  'nat-sport': { type: 'string', arg: 'N', desc: 'NAT: the new source port (with --nat-src)' },
  'nat-dst': { type: 'string', arg: 'IP', desc: 'NAT: the new destination address' },
  'nat-dport': { type: 'string', arg: 'N', desc: 'NAT: the new destination port (with --nat-dst)' },
  'reverse-action': { type: 'string', arg: 'A', desc: 'the reverse half\'s action (default: the same; NAT: the reverse rewrite)' },
  // not --no-reverse: vrctl reads --no-X as the negation of --X
  'one-way': { type: 'boolean', desc: 'write the forward half only (no_reverse)' },
};

/** watch: reads a miss stream, granting each batch back once printed, until `count` misses (0: until stopped). */
async function watchMisses(ctx: Context, o: OptionValues): Promise<void> {
  const count = optUint(o, 'count') ?? 0;
  const call = ctx.streamClient().flows.watchFlowMisses();
  call.write(create(WatchFlowMissesRequestSchema, { msg: { case: 'start', value: { window: optUint(o, 'window') ?? 0 } } }));
  let seen = 0;
  let done = false;
  await new Promise<void>((resolve, reject) => {
    call.on('data', (r: WatchFlowMissesResponse) => {
      if (done) return;
      if (r.lost) ctx.emit(ctx.json ? JSON.stringify({ lost: Number(r.lost) }) : `lost ${r.lost} miss(es): this watcher fell behind`);
      for (const m of r.misses) {
        ctx.emit(ctx.json ? JSON.stringify(toJson(FlowMissSchema, m, JSON_OPTS)) : missLine(m));
        if (count && ++seen >= count) {
          done = true;
          call.cancel();
          return resolve();
        }
      }
      if (r.misses.length) call.write(create(WatchFlowMissesRequestSchema, { msg: { case: 'grant', value: r.misses.length } }));
    });
    call.on('error', (err) => (done ? resolve() : reject(err)));
    call.on('end', () => resolve());
  });
}

async function listAll(ctx: Context, o: OptionValues): Promise<Flow[]> {
  const act = optString(o, 'action');
  const protocol = optString(o, 'proto');
  const req = {
    vrf: optUint(o, 'vrf'), address: optString(o, 'address') ?? '', protocol: protocol === undefined ? undefined : proto(protocol),
    action: act === undefined ? FlowAction.UNSPECIFIED : act.toLowerCase() === 'hold' ? FlowAction.HOLD : action('--action', act),
    pageSize: optUint(o, 'page-size') ?? PAGE,
  };
  const flows: Flow[] = [];
  let pageToken = '';
  do {
    const r = await ctx.client().flows.listFlows({ ...req, pageToken });
    flows.push(...r.flows);
    pageToken = r.nextPageToken;
  } while (pageToken);
  return flows;
}

const deleteRun: Command['run'] = async (ctx, _args, o) => {
  const k = key(o, 'flow del');
  const r = await ctx.client().flows.deleteFlow({ key: k });
  if (ctx.json) printJson(ctx, toJson(DeleteFlowResponseSchema, r, JSON_OPTS));
  else ctx.out(`flow ${keyText(r.flow?.key)} deleted (${r.entriesDeleted} entr${r.entriesDeleted === 1 ? 'y' : 'ies'})`);
};

export const flowCommands: Command[] = [
  {
    path: ['flow', 'list'],
    flags: '[--vrf N] [--address IP] [--proto P] [--action A]',
    nargs: [0, 0],
    summary: 'list the flow table (each half of a pair, and HOLD entries), sorted by VRF and source',
    details: 'With --json, entries come in the table\'s own order, every page of ListFlows.',
    options: {
      vrf: { type: 'string', arg: 'N', desc: 'only this VRF' },
      address: { type: 'string', arg: 'IP', desc: 'only entries from or to this address' },
      proto: { type: 'string', arg: 'P', desc: 'only this protocol (tcp, udp, icmp, icmpv6 or a number)' },
      action: { type: 'string', arg: 'A', desc: 'only this action (forward, drop, nat, hold)' },
      'page-size': { type: 'string', arg: 'N', desc: `entries per ListFlows call (default ${PAGE})` },
    },
    async run(ctx, _args, o) {
      const flows = await listAll(ctx, o);
      if (ctx.json) return printJson(ctx, flows.map((f) => toJson(FlowSchema, f, JSON_OPTS)));
      const keyed = flows.map((f) => ({ f, k: addressKey(f.key?.srcIp ?? '') }));
      keyed.sort((a, b) => a.f.key!.vrf - b.f.key!.vrf || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0) || a.f.key!.srcPort - b.f.key!.srcPort);
      ctx.out(flowTable(keyed.map((x) => x.f)));
    },
  },
  {
    path: ['flow', 'get'],
    flags: KEY_FLAGS,
    nargs: [0, 0],
    summary: 'show the entry with this key and the other half of its pair',
    options: KEY_OPTIONS,
    async run(ctx, _args, o) {
      const r = await ctx.client().flows.getFlow({ key: key(o, 'flow get') });
      if (ctx.json) return printJson(ctx, toJson(GetFlowResponseSchema, r, JSON_OPTS));
      ctx.out(flowTable([r.flow, r.pair].filter((f): f is Flow => !!f)));
    },
  },
  {
    path: ['flow', 'set'],
    flags: `${KEY_FLAGS} --action A`,
    nargs: [0, 0],
    summary: 'set a flow\'s action (both halves; an entry there, e.g. HOLD, keeps its counters)',
    details: `e.g. vrctl flow set --vrf 1 --proto tcp --src 10.1.1.2 --sport 40000 --dst 10.1.2.2 --dport 80 --action forward
     vrctl flow set --vrf 1 --proto udp --src 10.1.1.2 --sport 5000 --dst 10.9.9.9 --dport 53 --action nat --nat-dst 10.1.2.53`,
    options: SET_OPTIONS,
    async run(ctx, _args, o) {
      const a = optString(o, 'action');
      if (a === undefined) throw new UsageError('--action is required', 'flow set');
      const rev = optString(o, 'reverse-action');
      const natGiven = ['nat-src', 'nat-sport', 'nat-dst', 'nat-dport'].some((n) => o[n] !== undefined);
      const r = await ctx.client().flows.setFlow({
        flow: {
          key: key(o, 'flow set'),
          action: action('--action', a),
          nat: natGiven
            ? { srcIp: optString(o, 'nat-src') ?? '', srcPort: optUint(o, 'nat-sport') ?? 0, dstIp: optString(o, 'nat-dst') ?? '', dstPort: optUint(o, 'nat-dport') ?? 0 }
            : undefined,
          reverseAction: rev === undefined ? FlowAction.UNSPECIFIED : action('--reverse-action', rev),
          noReverse: optBool(o, 'one-way') ?? false,
        },
      });
      if (ctx.json) printJson(ctx, toJson(SetFlowResponseSchema, r, JSON_OPTS));
      else ctx.out(`flow ${keyText(r.flow?.key)} set to ${enumName(FlowActionSchema, r.flow?.action ?? 0)} (${r.created ? 'created' : 'replaced'}${r.reverse ? `; reverse ${keyText(r.reverse.key)}` : ''})`);
    },
  },
  {
    path: ['flow', 'del'],
    flags: KEY_FLAGS,
    nargs: [0, 0],
    summary: 'remove the entry with this key and the other half of its pair',
    options: KEY_OPTIONS,
    run: deleteRun,
  },
  {
    path: ['flow', 'delete'],
    flags: KEY_FLAGS,
    nargs: [0, 0],
    summary: 'the same as flow del',
    options: KEY_OPTIONS,
    run: deleteRun,
  },
  {
    path: ['flow', 'watch'],
    flags: '[--window N] [--count N]',
    nargs: [0, 0],
    summary: 'print flow misses as they come (WatchFlowMisses), until Ctrl-C or --count misses',
    details: 'With --json, one FlowMiss per line (protobuf JSON), and {"lost": N} when this watcher fell behind.',
    options: {
      window: { type: 'string', arg: 'N', desc: 'misses outstanding at most (default: the daemon\'s, 4096)' },
      count: { type: 'string', arg: 'N', desc: 'stop after N misses' },
    },
    run: (ctx, _args, o) => watchMisses(ctx, o),
  },
  {
    path: ['flow', 'events'],
    flags: '[--count N]',
    nargs: [0, 0],
    summary: 'print removed flows as they go (WatchFlowEvents: aged, closed, deleted, hold expired)',
    details: 'With --json, one FlowEvent per line (protobuf JSON), and {"lost": N} when this watcher fell behind.',
    options: { count: { type: 'string', arg: 'N', desc: 'stop after N events' } },
    async run(ctx, _args, o) {
      const count = optUint(o, 'count') ?? 0;
      let seen = 0;
      for await (const r of ctx.streamClient().flows.watchFlowEvents({})) {
        if (r.lost) ctx.emit(ctx.json ? JSON.stringify({ lost: Number(r.lost) }) : `lost ${r.lost} event(s): this watcher fell behind`);
        for (const e of r.events) {
          ctx.emit(ctx.json ? JSON.stringify(toJson(FlowEventSchema, e, JSON_OPTS)) : `${enumName(FlowEventKindSchema, e.kind)}  ${keyText(e.flow?.key)}  pkts ${e.flow?.packets ?? 0n}  bytes ${e.flow?.bytes ?? 0n}`);
          if (count && ++seen >= count) return;
        }
      }
    },
  },
];
