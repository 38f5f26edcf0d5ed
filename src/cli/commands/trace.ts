/** vrctl trace: DiagnosticsService.TracePacket, a frame through the live tables without sending it. */
import { readFileSync } from 'node:fs';
import { toJson } from '@bufbuild/protobuf';
import { AttachHookSchema } from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import { TracePacketResponseSchema, TraceVerdict, TraceVerdictSchema } from '../../gen/vrouter/ebpf/v1/diagnostics_pb.js';
import { DropReasonSchema } from '../../gen/vrouter/ebpf/v1/stats_pb.js';
import { enumName, enumValue, optString, optUint, printJson, UsageError, type Command, type OptionValues } from '../command.ts';
import { decodeFrame, hexdump } from '../format.ts';
import { kv, yesNo } from '../table.ts';

/** frame: the bytes of --hex (spaces, colons and a 0x prefix allowed) or --file (raw); usage errors point at `command`. */
export function frame(o: OptionValues, command = 'trace'): Buffer {
  const hex = optString(o, 'hex');
  const file = optString(o, 'file');
  if ((hex === undefined) === (file === undefined)) throw new UsageError('give the frame with one of --hex and --file', command);
  if (file !== undefined) {
    try {
      return readFileSync(file === '-' ? 0 : file);
    } catch (err) {
      throw new UsageError(`--file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, command);
    }
  }
  const digits = hex!.replace(/^0x/i, '').replace(/[\s:.-]/g, '');
  if (!/^([0-9a-f]{2})+$/i.test(digits)) throw new UsageError('--hex: want an even number of hex digits', command);
  return Buffer.from(digits, 'hex');
}

export const traceCommands: Command[] = [
  {
    path: ['trace'],
    flags: '--vif N (--hex HEX | --file F) [--hook xdp|tc]',
    nargs: [0, 0],
    summary: 'run a frame through the live tables as if it arrived on a vif; nothing is sent, no counter moves',
    details: `Prints the verdict, the drop reason, the next hop, the output vif and whether
TC delivers it into the peer's namespace, and the output frame (decoded and in hex).
  vrctl trace --vif 1 --file frame.bin
  vrctl trace --vif 1 --hook xdp --hex 'ffffffffffff 02...'`,
    options: {
      vif: { type: 'string', arg: 'N', desc: 'the vif the frame arrives on (required)' },
      hex: { type: 'string', arg: 'HEX', desc: 'the frame in hex, from the Ethernet header' },
      file: { type: 'string', arg: 'FILE', desc: 'the frame as raw bytes in a file (- for stdin)' },
      hook: { type: 'string', arg: 'HOOK', desc: 'xdp or tc (default the vif\'s own hook)' },
    },
    async run(ctx, _args, o) {
      const vif = optUint(o, 'vif');
      if (vif === undefined) throw new UsageError('--vif is required', 'trace');
      const hookWord = optString(o, 'hook');
      const hook = hookWord === undefined ? 0 : enumValue('--hook', AttachHookSchema, hookWord, { auto: 0 });
      const r = await ctx.client().diagnostics.tracePacket({ interfaceIndex: vif, frame: frame(o), hook });
      if (ctx.json) return printJson(ctx, toJson(TracePacketResponseSchema, r, { alwaysEmitImplicit: true }));
      const out = Buffer.from(r.output);
      ctx.out(kv([
        ['hook', enumName(AttachHookSchema, r.hook)],
        ['verdict', enumName(TraceVerdictSchema, r.verdict)],
        ...(r.verdict === TraceVerdict.DROP || r.dropReason ? [['drop reason', enumName(DropReasonSchema, r.dropReason)] as const] : []),
        ['next hop', r.hasNextHop ? String(r.nextHopId) : '-'],
        ['out vif', r.hasOut ? `${r.outInterfaceIndex} (os index ${r.outOsIndex})` : '-'],
        ['peer delivery', yesNo(r.peerDelivery)],
        ['proxied', yesNo(r.proxied)],
        ...(r.handedToTc ? [['handed to tc', 'yes: the output vif is on TC; trace --hook tc for the rest'] as const] : []),
        ['duration', `${r.durationNs} ns`],
        ['output', out.length ? `${out.length} bytes: ${decodeFrame(out)}` : '-'],
      ]));
      if (out.length) ctx.out(hexdump(out));
    },
  },
];
