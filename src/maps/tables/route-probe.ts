/**
 * RouteProbe: many route lookups in one syscall. A bpf() lookup costs
 * ~0.8 us here whatever the map does, so validating a 1M-route batch one
 * key at a time costs about a second. vr_rt_probe (bpf/lib/route_probe.h)
 * answers up to PROBE_MAX keys per BPF_PROG_TEST_RUN instead. The program
 * is loaded from the daemon's object on the pinned route maps at start-up
 * and never attached or pinned: it is a tool of this process.
 */
import { BpfObject } from '../../bpf/object.ts';
import { BpfProgram } from '../../bpf/program.ts';
import type { BpfMap } from '../../bpf/map.ts';
import { PROBE_HDR, PROBE_MAX, PROBE_REC } from '../codecs.ts';
import type { Family } from '../route.ts';

const XDP_PASS = 2;

/** RouteLookups: the longest-match value of each packed key (12 bytes each; `found` per key). */
export interface RouteLookups {
  lookupMany(family: Family, keys: Buffer, keySize: number, count: number): { values: Buffer; found: Uint8Array };
}

export class RouteProbe implements RouteLookups {
  private readonly obj: BpfObject;
  private readonly prog: BpfProgram;
  private readonly pkt = Buffer.alloc(PROBE_HDR.size + PROBE_REC.size * PROBE_MAX);

  private constructor(obj: BpfObject, prog: BpfProgram) {
    this.obj = obj;
    this.prog = prog;
  }

  /** open: the probe of an object on these pinned maps, or undefined if the object has none. */
  static open(objectPath: string, maps: Record<string, BpfMap>): RouteProbe | undefined {
    // only the probe: the datapath's programs of the same object are loaded (and verified) elsewhere
    const obj = BpfObject.loadOnMaps(objectPath, maps, ['vr_rt_probe']);
    try {
      return new RouteProbe(obj, new BpfProgram(obj.progFd('vr_rt_probe'), 'vr_rt_probe', objectPath));
    } catch {
      obj.close();
      return undefined;
    }
  }

  lookupMany(family: Family, keys: Buffer, keySize: number, count: number): { values: Buffer; found: Uint8Array } {
    const values = Buffer.alloc(12 * count);
    const found = new Uint8Array(count);
    const R = PROBE_REC.size;
    for (let from = 0; from < count; from += PROBE_MAX) {
      const n = Math.min(PROBE_MAX, count - from);
      const size = PROBE_HDR.size + R * n;
      const pkt = this.pkt.subarray(0, size);
      pkt.fill(0);
      PROBE_HDR.encode({ family, count: n }, pkt);
      for (let i = 0; i < n; i++) keys.copy(pkt, PROBE_HDR.size + i * R, (from + i) * keySize, (from + i + 1) * keySize);
      const r = this.prog.testRun({ data: pkt, outSize: size });
      if (r.retval !== XDP_PASS || r.data.length < size) throw new Error(`vr_rt_probe: verdict ${r.retval}, ${r.data.length} of ${size} bytes`);
      for (let i = 0; i < n; i++) {
        const at = PROBE_HDR.size + i * R;
        r.data.copy(values, (from + i) * 12, at + 24, at + 36);
        found[from + i] = r.data[at + 36]!;
      }
    }
    return { values, found };
  }

  close(): void {
    this.obj.close();
  }
}
