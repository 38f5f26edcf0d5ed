/**
 * LiveInjector: a frame into the datapath as if a vif had received it: the
 * XDP entry (vr_xdp_vif, pinned under progs/) run once on the frame with
 * BPF_PROG_TEST_RUN and BPF_F_TEST_XDP_LIVE_FRAMES, ingress_ifindex the
 * vif's kernel interface. Live frames are really sent: a redirect goes out
 * of the output vif, XDP_TX / a proxy answer out of the arrival one, and
 * XDP_PASS becomes an skb received on the arrival interface (which is how
 * a frame for a vif on the TC hook gets there). The kernel resolves the
 * ifindex in the calling thread's network namespace: the daemon's.
 */
import { BPF_F_TEST_XDP_LIVE_FRAMES, type BpfProgram } from '../bpf/program.ts';

export interface FrameInjector {
  /** inject: runs the datapath on frame as received on ifindex; BpfError EINVAL when the kernel refuses the frame */
  inject(ifindex: number, frame: Buffer): void;
}

export class LiveInjector implements FrameInjector {
  private readonly prog: BpfProgram;

  constructor(xdpProgram: BpfProgram) {
    this.prog = xdpProgram;
  }

  inject(ifindex: number, frame: Buffer): void {
    // repeat 1: with more, the kernel recycles the page without copying the frame again;
    // the verdict is not reported in live mode (retval stays 0, a failed redirect too)
    this.prog.testRun({ data: frame, ingressIfindex: ifindex, flags: BPF_F_TEST_XDP_LIVE_FRAMES, repeat: 1, batchSize: 1 });
  }
}
