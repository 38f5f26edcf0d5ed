/**
 * PacketService: trapped packets to the agent (WatchPackets), frames from
 * it (SendPacket), and the trap rules. Without a packet layer (a daemon
 * built without one) every call is FAILED_PRECONDITION.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Handlers } from '../grpc-adapter.ts';
import { PacketService, type TrappedPacketSchema, type WatchPacketsResponseSchema } from '../../gen/vrouter/ebpf/v1/packet_pb.js';
import { invalid, precondition } from '../../manager/errors.ts';
import type { PacketIo } from '../../packets/packet-io.ts';
import { DEFAULT_WATCH_QUEUE } from '../../packets/packet-hub.ts';
import { sendModeFromProto, trapReasonToProto, trappedPacketToProto, trapRulesFromProto } from '../convert/packet.ts';
import { locate } from '../convert/locate.ts';

/** the most a watcher's queue may hold (packets of up to 9216 bytes: ~150 MB at worst) */
export const MAX_WATCH_QUEUE = 16384;
/** a stream message carries at most this many packets, or this many frame bytes */
const MESSAGE_PACKETS = 256;
const MESSAGE_BYTES = 1 << 20;

const RENAMES = { interfaceIndex: 'interface_index' };

type Response = MessageInitShape<typeof WatchPacketsResponseSchema>;
type Packet = MessageInitShape<typeof TrappedPacketSchema>;

export function packetHandlers(io: PacketIo | undefined): Handlers<typeof PacketService> {
  const need = (): PacketIo => {
    if (!io) throw precondition('the packet interface is not available in this daemon');
    return io;
  };
  return {
    async *watchPackets(req, ctx): AsyncGenerator<Response> {
      const reasons = trapRulesFromProto(req.reasons, 'reasons');
      if (req.queueLimit > MAX_WATCH_QUEUE) throw invalid('queue_limit', `${req.queueLimit} is more than ${MAX_WATCH_QUEUE}`);
      const w = need().watch({ reasons, max: req.queueLimit || DEFAULT_WATCH_QUEUE });
      const stop = () => w.close();
      ctx.signal.addEventListener('abort', stop, { once: true });
      try {
        yield {}; // the watch is in place
        for await (const item of w) {
          if (item.kind === 'lost') {
            yield { lost: BigInt(item.count) };
            continue;
          }
          let packets: Packet[] = [];
          let bytes = 0;
          for (const p of item.batch.packets) {
            if (packets.length >= MESSAGE_PACKETS || (bytes + p.frame.length > MESSAGE_BYTES && packets.length)) {
              yield { packets };
              packets = [];
              bytes = 0;
            }
            packets.push(trappedPacketToProto(p));
            bytes += p.frame.length;
          }
          if (packets.length) yield { packets };
        }
      } finally {
        ctx.signal.removeEventListener('abort', stop);
        w.close();
      }
    },
    sendPacket(req) {
      const mode = sendModeFromProto(req.mode, 'mode');
      const frame = Buffer.from(req.frame.buffer, req.frame.byteOffset, req.frame.byteLength);
      const p = need();
      locate(() => p.send(req.interfaceIndex, frame, mode), () => '', RENAMES);
      return {};
    },
    getTrapRules() {
      return { rules: need().trapRules().map(trapReasonToProto) };
    },
    setTrapRules(req) {
      const rules = trapRulesFromProto(req.rules, 'rules');
      return { rules: need().setTrapRules(rules).map(trapReasonToProto) };
    },
  };
}
