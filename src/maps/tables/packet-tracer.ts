/**
 * PacketTracer: runs one frame through the datapath without sending it and
 * says what the datapath did. bpf/vr_trace.c is the same forwarding code
 * built with VR_TRACE: loaded from its own object on the pinned maps at
 * start-up, run with BPF_PROG_TEST_RUN (never attached, never live), it
 * counts into scratch and records its decisions in its own vr_trace map,
 * read back here after each run. Tracing therefore moves no counter and
 * changes no table.
 */
import { BpfObject, objectLayoutVersion } from '../../bpf/object.ts';
import { BpfProgram } from '../../bpf/program.ts';
import { BpfMap } from '../../bpf/map.ts';
import { TRACE_F, TRACE_REC, u32Key } from '../codecs.ts';
import { FLOW_F, FlowActionCode, VR_LAYOUT_VERSION } from '../layout.ts';
import { DROP_REASONS, type DropReasonName } from '../drop-reasons.ts';

export type TraceHook = 'xdp' | 'tc';
export type TraceVerdict = 'pass' | 'drop' | 'redirect' | 'tx' | 'aborted';

/** TraceResult: what the datapath did with one frame. */
export interface TraceResult {
  /** the entry that ran */
  hook: TraceHook;
  verdict: TraceVerdict;
  /** the frame as the datapath left it (rewritten, or the answer to an ARP / NS) */
  output: Buffer;
  dropReason: DropReasonName | undefined;
  /** the next hop run, if the frame got that far */
  nextHopId: number | undefined;
  /** sent out of this vif (index) and kernel interface */
  out: { vif: number; ifindex: number; peer: boolean } | undefined;
  /** an ARP request or neighbour solicitation answered on the arrival vif */
  proxied: boolean;
  toHost: boolean;
  /** XDP handed it to the device's TC entry (the output vif is on TC): trace the TC hook for the rest */
  handedToTc: boolean;
  /** what the flow stage did (policy vifs): a miss, or the action of the entry met */
  flow: TraceFlow | undefined;
  /** a NAT flow's rewrites */
  nat: { snat: boolean; dnat: boolean } | undefined;
  /** a packet of interest: the trap rule it matched (it goes to the agent) */
  trapReason: TrapReasonName | undefined;
  /** the program's own run time (BPF_PROG_TEST_RUN duration) */
  durationNs: number;
}

export type TraceFlow = 'miss' | 'hold' | 'forward' | 'drop' | 'nat';
const FLOW_ACTIONS: readonly TraceFlow[] = ['hold', 'forward', 'drop', 'nat'];
export const TRAP_REASONS = ['unspecified', 'arp', 'dhcp', 'dns', 'nd', 'rs', 'own'] as const;
export type TrapReasonName = (typeof TRAP_REASONS)[number];

const XDP_VERDICTS: Record<number, TraceVerdict> = { 0: 'aborted', 1: 'drop', 2: 'pass', 3: 'tx', 4: 'redirect' };
/** TC_ACT_OK, _SHOT, _REDIRECT; anything else the datapath never returns */
const TC_VERDICTS: Record<number, TraceVerdict> = { 0: 'pass', 2: 'drop', 7: 'redirect' };

export class PacketTracer {
  private readonly obj: BpfObject;
  private readonly progs: Record<TraceHook, BpfProgram>;
  private readonly rec: BpfMap;

  private constructor(obj: BpfObject, progs: Record<TraceHook, BpfProgram>, rec: BpfMap) {
    this.obj = obj;
    this.progs = progs;
    this.rec = rec;
  }

  /** open: the trace programs of objectPath on these pinned maps; refuses an object of another layout. */
  static open(objectPath: string, maps: Record<string, BpfMap>): PacketTracer {
    const layout = objectLayoutVersion(objectPath);
    if (layout !== VR_LAYOUT_VERSION) throw new Error(`${objectPath}: built for map layout ${layout ?? '(none)'}, not v${VR_LAYOUT_VERSION}`);
    const obj = BpfObject.loadOnMaps(objectPath, maps);
    try {
      const progs = {
        xdp: new BpfProgram(obj.progFd('vr_trace_xdp'), 'vr_trace_xdp', objectPath),
        tc: new BpfProgram(obj.progFd('vr_trace_tc'), 'vr_trace_tc', objectPath),
      };
      return new PacketTracer(obj, progs, new BpfMap(obj.mapFd('vr_trace'), `${objectPath}:vr_trace`));
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  /**
   * trace: the frame as if it arrived on kernel interface `ifindex` (of the
   * calling thread's namespace) and met the datapath on `hook`. Errors are
   * the kernel's (BpfError: EINVAL for a frame the test run refuses).
   */
  trace(hook: TraceHook, ifindex: number, frame: Buffer): TraceResult {
    const r = this.progs[hook].testRun({ data: frame, ingressIfindex: ifindex, outSize: Math.max(frame.length, 128) + 256 });
    const raw = this.rec.lookup(u32Key(0));
    const t = raw ? TRACE_REC.decode(raw) : undefined;
    const ran = t !== undefined && (t.flags & TRACE_F.RAN) !== 0;
    const verdict = (hook === 'xdp' ? XDP_VERDICTS : TC_VERDICTS)[r.retval] ?? 'aborted';
    return {
      hook,
      verdict,
      output: Buffer.from(r.data),
      dropReason: ran && t.flags & TRACE_F.DROP ? (DROP_REASONS[t.reason] ?? 'unspecified') : undefined,
      nextHopId: ran && t.flags & TRACE_F.NEXTHOP ? t.nhId : undefined,
      out: ran && t.flags & TRACE_F.OUT ? { vif: t.oifVif, ifindex: t.oifIfindex, peer: (t.flags & TRACE_F.PEER) !== 0 } : undefined,
      proxied: ran && (t.flags & TRACE_F.PROXIED) !== 0,
      toHost: ran && (t.flags & TRACE_F.TO_HOST) !== 0,
      handedToTc: ran && (t.flags & TRACE_F.TO_TC) !== 0,
      flow: !ran ? undefined : t.flags & TRACE_F.MISS ? 'miss' : t.flags & TRACE_F.FLOW ? FLOW_ACTIONS[t.flowAction] : undefined,
      nat: ran && t.flags & TRACE_F.FLOW && t.flowAction === FlowActionCode.NAT
        ? { snat: (t.flowFlags & FLOW_F.SNAT) !== 0, dnat: (t.flowFlags & FLOW_F.DNAT) !== 0 }
        : undefined,
      trapReason: ran && t.flags & TRACE_F.TRAP ? (TRAP_REASONS[t.trapReason] ?? 'unspecified') : undefined,
      durationNs: r.durationNs,
    };
  }

  close(): void {
    this.obj.close();
  }
}
