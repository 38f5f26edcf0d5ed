/**
 * FrameRing: bpf/tools/frame_ring.c loaded, for the flow hub's tests:
 * put() writes one record (any bytes: a synthetic vr_miss record) into a
 * ring, by default the one given (the datapath's vr_miss_rb); capture()
 * attaches fr_capture at tcx ingress of an interface, so that what arrives
 * there becomes ring records (and goes no further).
 */
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../../src/bpf/object.ts';
import { BpfProgram } from '../../src/bpf/program.ts';
import { BpfLink } from '../../src/bpf/link.ts';

export const FRAME_RING = fileURLToPath(new URL('../../bpf/build/tools/frame_ring.o', import.meta.url));
const XDP_PASS = 2;

export class FrameRing {
  private readonly obj: BpfObject;
  private readonly put_: BpfProgram;

  private constructor(obj: BpfObject) {
    this.obj = obj;
    this.put_ = new BpfProgram(obj.progFd('fr_put'), 'fr_put', FRAME_RING);
  }

  /** load: on the ring whose fd is given, or on a ring of its own of ringBytes. */
  static load(opts: { ringFd?: number; ringBytes?: number } = {}): FrameRing {
    return new FrameRing(
      BpfObject.load(FRAME_RING, {
        reuseFds: opts.ringFd !== undefined ? { fr_ring: opts.ringFd } : {},
        maxEntries: opts.ringFd === undefined && opts.ringBytes ? { fr_ring: opts.ringBytes } : {},
      }),
    );
  }

  get ringFd(): number {
    return this.obj.mapFd('fr_ring');
  }

  /** put: one record of exactly these bytes. */
  put(record: Buffer): void {
    const r = this.put_.testRun({ data: record, outSize: record.length + 64 });
    if (r.retval !== XDP_PASS) throw new Error(`fr_put: verdict ${r.retval} (the ring is full, or the record is too long)`);
  }

  /** capture: fr_capture at tcx ingress of ifindex (link pinned at pinPath); returns the link. */
  capture(ifindex: number, pinPath: string): BpfLink {
    return BpfLink.attachTcx(this.obj.progFd('fr_capture'), ifindex, pinPath);
  }

  close(): void {
    this.obj.close();
  }
}
