/**
 * BatchInjector: frames sent through the live datapath in batches, as if
 * they had just arrived on a vif (bpf/vr_reinject.c, loaded on the pinned
 * maps, never attached). A batch of up to RJ_SLOTS frames of one arrival
 * interface is written into the object's vr_rj_frames with one batch
 * update, then one live-frame test run with repeat = the count sends them,
 * in order: one run's setup (its page pool) for the batch instead of one
 * per frame. The program is kept in the kernel's XDP dispatcher
 * (DispatcherAnchor), without which every run of more than one frame costs
 * ~24 ms. The kernel resolves ingress_ifindex in the calling thread's
 * netns: call it from the daemon's main thread.
 */
import { BpfObject, objectLayoutVersion } from '../../bpf/object.ts';
import { BpfProgram, BPF_F_TEST_XDP_LIVE_FRAMES } from '../../bpf/program.ts';
import { BpfMap } from '../../bpf/map.ts';
import { DispatcherAnchor } from '../../bpf/dispatcher-anchor.ts';
import { u32Key } from '../codecs.ts';
import { VR_LAYOUT_VERSION } from '../layout.ts';

/** frames per run (VR_RJ_SLOTS) and the longest one (VR_RJ_MAX: a live frame's page) */
export const RJ_SLOTS = 256;
export const RJ_MAX = 3408;
const RJ_BUF = 4096;
const SLOT_SIZE = 4 + RJ_BUF;
const CTL_SIZE = 16;

export class BatchInjector {
  private readonly obj: BpfObject;
  private readonly prog: BpfProgram;
  private readonly frames: BpfMap;
  private readonly ctl: BpfMap;
  private readonly anchor: DispatcherAnchor;
  private readonly keys: Buffer;
  private readonly values = Buffer.alloc(RJ_SLOTS * SLOT_SIZE);
  /** the run's input frame: every repetition starts at this length and shrinks to its own */
  private readonly input = Buffer.alloc(RJ_MAX);

  private constructor(obj: BpfObject, path: string) {
    this.obj = obj;
    this.prog = new BpfProgram(obj.progFd('vr_reinject'), 'vr_reinject', path);
    this.frames = new BpfMap(obj.mapFd('vr_rj_frames'), `${path}:vr_rj_frames`);
    this.ctl = new BpfMap(obj.mapFd('vr_rj_ctl'), `${path}:vr_rj_ctl`);
    this.anchor = DispatcherAnchor.open(this.prog.fd);
    this.keys = Buffer.alloc(RJ_SLOTS * 4);
    for (let i = 0; i < RJ_SLOTS; i++) this.keys.writeUInt32LE(i, i * 4);
  }

  /**
   * runMs: how long an empty run of two repetitions takes (the program sends
   * nothing with no frames queued): tens of microseconds when the anchor
   * keeps the program in the XDP dispatcher, ~24 ms when it does not (the
   * dispatcher full, or a kernel that works otherwise).
   */
  probeRunMs(): number {
    this.ctl.update(u32Key(0), Buffer.alloc(CTL_SIZE));
    const t0 = performance.now();
    this.prog.testRun({ data: this.input, ingressIfindex: 1, repeat: 2, flags: BPF_F_TEST_XDP_LIVE_FRAMES, batchSize: 2 });
    return performance.now() - t0;
  }

  /** open: vr_reinject of objectPath on these pinned maps; refuses an object of another layout. */
  static open(objectPath: string, maps: Record<string, BpfMap>): BatchInjector {
    const layout = objectLayoutVersion(objectPath);
    if (layout !== VR_LAYOUT_VERSION) throw new Error(`${objectPath}: built for map layout ${layout ?? '(none)'}, not v${VR_LAYOUT_VERSION}`);
    const obj = BpfObject.loadOnMaps(objectPath, maps);
    try {
      return new BatchInjector(obj, objectPath);
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  /**
   * send: up to RJ_SLOTS frames (each 14..RJ_MAX bytes) as arrived on
   * ifindex, in order; returns how many went through the datapath.
   */
  send(ifindex: number, frames: readonly Buffer[]): number {
    const n = frames.length;
    if (n === 0) return 0;
    if (n > RJ_SLOTS) throw new RangeError(`${n} frames: at most ${RJ_SLOTS} per run`);
    for (let i = 0; i < n; i++) {
      const f = frames[i]!;
      if (f.length < 14 || f.length > RJ_MAX) throw new RangeError(`frame ${i}: ${f.length} bytes (14..${RJ_MAX})`);
      const at = i * SLOT_SIZE;
      this.values.writeUInt32LE(f.length, at);
      f.copy(this.values, at + 4);
    }
    this.frames.updateBatch(this.keys.subarray(0, n * 4), this.values.subarray(0, n * SLOT_SIZE), n);
    const ctl = Buffer.alloc(CTL_SIZE);
    ctl.writeUInt32LE(n, 0);
    this.ctl.update(u32Key(0), ctl);
    // rx_queue_index 0 (veth has one queue); batch_size at most 256 (the kernel's bound)
    this.prog.testRun({ data: this.input, ingressIfindex: ifindex, repeat: n, flags: BPF_F_TEST_XDP_LIVE_FRAMES, batchSize: Math.min(n, 256) });
    return this.ctl.lookup(u32Key(0))!.readUInt32LE(8);
  }

  close(): void {
    this.anchor.close();
    this.obj.close();
  }
}
