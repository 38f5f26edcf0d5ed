/**
 * vrctl packets watch / trap get|set / send: PacketService, the agent's
 * packet interface (the vRouter's pkt0), for people and scripts.
 */
import { toJson } from '@bufbuild/protobuf';
import { AttachHookSchema } from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import {
  GetTrapRulesResponseSchema, SendMode, SetTrapRulesResponseSchema, TrapReasonSchema, TrappedPacketSchema, type TrapReason, type TrappedPacket,
} from '../../gen/vrouter/ebpf/v1/packet_pb.js';
import { parseTrapRules, TRAP_REASONS, TRAP_RULES } from '../../maps/trap-reasons.ts';
import { enumName, optBool, optString, optUint, printJson, UsageError, type Command, type Context } from '../command.ts';
import { decodeFrame } from '../format.ts';
import { frame } from './trace.ts';

/** reasons: a comma list of trap rule names as proto values; usage errors point at `command`. */
function reasons(what: string, s: string, command: string): TrapReason[] {
  try {
    return parseTrapRules(what, s).map((n) => TRAP_REASONS.indexOf(n) as TrapReason);
  } catch (err) {
    throw new UsageError((err as Error).message, command);
  }
}

const rulesText = (rs: readonly TrapReason[]) => (rs.length ? rs.map((r) => enumName(TrapReasonSchema, r)).join(',') : 'none');

/** the watch's columns: a stream has no table to measure, so fixed widths (negative: left-aligned; 0: the rest of the line) */
const COLS = [['TIME', -16], ['VIF', 5], ['VRF', 5], ['REASON', -6], ['HOOK', -4], ['LEN', 9], ['FRAME', 0]] as const;

function row(cells: readonly string[]): string {
  return cells.map((c, i) => {
    const w = COLS[i]![1];
    return w < 0 ? c.padEnd(-w) : c.padStart(w);
  }).join('  ').trimEnd();
}

export function packetLine(p: TrappedPacket): string {
  const secs = `${p.timestampNs / 1_000_000_000n}.${(p.timestampNs % 1_000_000_000n).toString().padStart(9, '0').slice(0, 6)}`;
  const len = p.frame.length < p.packetLength ? `${p.frame.length}/${p.packetLength}` : String(p.packetLength);
  return row([secs, String(p.interfaceIndex), String(p.vrf), enumName(TrapReasonSchema, p.reason), enumName(AttachHookSchema, p.hook), len, decodeFrame(p.frame)]);
}

async function watch(ctx: Context, reasonList: TrapReason[], count: number | undefined): Promise<void> {
  // a watch runs until interrupted: no deadline
  const stream = ctx.client().packets.watchPackets({ reasons: reasonList }, {});
  let seen = 0;
  let first = true;
  for await (const m of stream) {
    if (first && !ctx.json) ctx.out(row(COLS.map(([h]) => h)));
    first = false;
    if (m.lost) ctx.out(ctx.json ? JSON.stringify({ lost: Number(m.lost) }) : `-- lost ${m.lost} packet(s): this watcher read too slowly`);
    for (const p of m.packets) {
      ctx.out(ctx.json ? JSON.stringify(toJson(TrappedPacketSchema, p, { alwaysEmitImplicit: true })) : packetLine(p));
      if (count !== undefined && ++seen >= count) break;
    }
    ctx.flush();
    if (count !== undefined && seen >= count) return; // leaving the loop cancels the stream
  }
}

export const packetCommands: Command[] = [
  {
    path: ['packets', 'watch'],
    flags: '[--reason arp,dhcp,...] [--count N]',
    nargs: [0, 0],
    summary: 'stream the packets the datapath traps to the agent, as they come',
    details: `One line per packet: arrival time (CLOCK_MONOTONIC seconds), vif, VRF, trap
reason, hook, length (captured/whole when the datapath cut it) and the decoded
headers; --json: one TrappedPacket a line (the frame in base64), and {"lost": N}
where this watcher lost packets. Runs until interrupted, or --count packets.
Reasons: ${TRAP_RULES.join(', ')}. Which are trapped at all: vrctl trap get.`,
    options: {
      reason: { type: 'string', arg: 'LIST', desc: `only these reasons (comma list of ${TRAP_RULES.join(', ')}); default all` },
      count: { type: 'string', arg: 'N', desc: 'stop after N packets' },
    },
    async run(ctx, _args, o) {
      const r = optString(o, 'reason');
      await watch(ctx, r === undefined ? [] : reasons('--reason', r, 'packets watch'), optUint(o, 'count'));
    },
  },
  {
    path: ['trap', 'get'],
    nargs: [0, 0],
    summary: 'the kinds of packets the datapath traps to the agent now',
    async run(ctx) {
      const r = await ctx.client().packets.getTrapRules({});
      if (ctx.json) return printJson(ctx, toJson(GetTrapRulesResponseSchema, r, { alwaysEmitImplicit: true }));
      ctx.out(rulesText(r.rules));
    },
  },
  {
    path: ['trap', 'set'],
    args: '<rules>',
    nargs: [1, 1],
    summary: 'trap these kinds of packets from now on (until the daemon restarts)',
    details: `<rules> is a comma list of ${TRAP_RULES.join(', ')}, or none.
  vrctl trap set arp,dhcp
  vrctl trap set none`,
    async run(ctx, args) {
      const r = await ctx.client().packets.setTrapRules({ rules: reasons('rules', args[0]!, 'trap set') });
      if (ctx.json) return printJson(ctx, toJson(SetTrapRulesResponseSchema, r, { alwaysEmitImplicit: true }));
      ctx.out(rulesText(r.rules));
    },
  },
  {
    path: ['send'],
    flags: '--vif N (--hex HEX | --file F) [--into]',
    nargs: [0, 0],
    summary: 'send a frame out of a vif, or --into the datapath as if the vif received it',
    details: `Out of a vif, the frame leaves by the vif's kernel interface as it is (on a pod's
vif: into the pod). --into runs it through the datapath as received on the vif:
its VRF's routes, then forwarded, answered or dropped, and counted.
  vrctl send --vif 1 --file arp-reply.bin
  vrctl send --vif 1 --into --hex 'ffffffffffff 02...'`,
    options: {
      vif: { type: 'string', arg: 'N', desc: 'the vif (required)' },
      hex: { type: 'string', arg: 'HEX', desc: 'the frame in hex, from the Ethernet header' },
      file: { type: 'string', arg: 'FILE', desc: 'the frame as raw bytes in a file (- for stdin)' },
      into: { type: 'boolean', desc: 'into the datapath as received on the vif (default: out of the vif)' },
    },
    async run(ctx, _args, o) {
      const vif = optUint(o, 'vif');
      if (vif === undefined) throw new UsageError('--vif is required', 'send');
      const f = frame(o, 'send');
      const into = optBool(o, 'into') === true;
      await ctx.client().packets.sendPacket({ interfaceIndex: vif, frame: f, mode: into ? SendMode.INTO : SendMode.OUT });
      if (ctx.json) return printJson(ctx, {});
      ctx.out(into ? `sent ${f.length} bytes into the datapath as received on vif ${vif}` : `sent ${f.length} bytes out of vif ${vif}`);
    },
  },
];
