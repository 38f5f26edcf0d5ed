/** DiagnosticsService: TracePacket, a frame through the live tables without sending it. */
import type { Handlers } from '../grpc-adapter.ts';
import { DiagnosticsService, TraceFlow, TraceVerdict } from '../../gen/vrouter/ebpf/v1/diagnostics_pb.js';
import { AttachHook } from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import type { TraceResult, TraceVerdict as Verdict } from '../../maps/tables/packet-tracer.ts';
import { DROP_REASONS } from '../../maps/drop-reasons.ts';
import { invalid } from '../../manager/errors.ts';
import { hookToProto } from '../convert/interface.ts';
import { locate } from '../convert/locate.ts';

const VERDICTS: Record<Verdict, TraceVerdict> = {
  pass: TraceVerdict.PASS,
  drop: TraceVerdict.DROP,
  redirect: TraceVerdict.REDIRECT,
  tx: TraceVerdict.TX,
  aborted: TraceVerdict.ABORTED,
};

const FLOWS: Record<NonNullable<TraceResult['flow']>, TraceFlow> = {
  miss: TraceFlow.MISS,
  hold: TraceFlow.HOLD,
  forward: TraceFlow.FORWARD,
  drop: TraceFlow.DROP,
  nat: TraceFlow.NAT,
};

/** the manager names the vif's index field in domain terms */
const RENAMES = { interfaceIndex: 'interface_index' };

export function diagnosticsHandlers(mgr: DatapathManager): Handlers<typeof DiagnosticsService> {
  return {
    tracePacket(req) {
      let hook: 'xdp' | 'tc' | undefined;
      if (req.hook === AttachHook.XDP) hook = 'xdp';
      else if (req.hook === AttachHook.TC) hook = 'tc';
      else if (req.hook !== AttachHook.UNSPECIFIED && req.hook !== AttachHook.AUTO) throw invalid('hook', `unknown attach hook ${req.hook}`);
      const frame = Buffer.from(req.frame.buffer, req.frame.byteOffset, req.frame.byteLength);
      const r = locate(() => mgr.tracePacket(req.interfaceIndex, frame, hook), () => '', RENAMES);
      return {
        hook: hookToProto(r.hook),
        verdict: VERDICTS[r.verdict],
        dropReason: r.dropReason ? DROP_REASONS.indexOf(r.dropReason) : 0,
        nextHopId: r.nextHopId ?? 0,
        hasNextHop: r.nextHopId !== undefined,
        outInterfaceIndex: r.out?.vif ?? 0,
        hasOut: r.out !== undefined,
        outOsIndex: r.out?.ifindex ?? 0,
        peerDelivery: r.out?.peer ?? false,
        proxied: r.proxied,
        output: r.output,
        durationNs: r.durationNs,
        handedToTc: r.handedToTc,
        flow: r.flow ? FLOWS[r.flow] : TraceFlow.UNSPECIFIED,
        flowSnat: r.nat?.snat ?? false,
        flowDnat: r.nat?.dnat ?? false,
        trapReason: r.trapReason ?? '',
      };
    },
  };
}
