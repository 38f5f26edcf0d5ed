/**
 * RingbufGen: bpf/tools/ringbuf_gen.c loaded with a ring of a given size:
 * writes exactly the records asked for (sequence numbered) into its ring,
 * for the ring buffer reader's tests and bench.
 */
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../../src/bpf/object.ts';
import { BpfProgram } from '../../src/bpf/program.ts';

export const RINGBUF_GEN = fileURLToPath(new URL('../../bpf/build/tools/ringbuf_gen.o', import.meta.url));
const XDP_PASS = 2;
const CFG_SIZE = 32; // struct rbg_cfg

export interface GenShape {
  minSize: number;
  maxSize?: number;
  /** a discarded reservation before every k-th record (0: none) */
  discardEvery?: number;
}

export class RingbufGen {
  /** the next sequence number to write */
  next = 0;
  readonly mapFd: number;
  readonly progFd: number;
  private readonly obj: BpfObject | undefined;
  private readonly prog: BpfProgram;
  private readonly frame = Buffer.alloc(64);

  private constructor(obj: BpfObject | undefined, progFd: number, mapFd: number) {
    this.obj = obj;
    this.progFd = progFd;
    this.mapFd = mapFd;
    this.prog = new BpfProgram(progFd, 'vr_ringbuf_gen', RINGBUF_GEN);
  }

  /** load: the generator with a ring of ringBytes (a power of 2, a multiple of the page size). */
  static load(ringBytes: number): RingbufGen {
    const obj = BpfObject.load(RINGBUF_GEN, { maxEntries: { rbg_ring: ringBytes } });
    return new RingbufGen(obj, obj.progFd('vr_ringbuf_gen'), obj.mapFd('rbg_ring'));
  }

  /**
   * onProgram: a generator on a program another one loaded, for another
   * thread: only test runs there, never a load, since libbpf's print
   * callback (src/bpf/libbpf-log.ts) is one per process and belongs to the
   * thread that set it: a load on a worker that later exits aborts the process.
   */
  static onProgram(progFd: number): RingbufGen {
    return new RingbufGen(undefined, progFd, -1);
  }

  /** write: one run of up to `count` records; returns how many went in (fewer when the ring is full). */
  write(count: number, shape: GenShape): { written: number; discarded: number } {
    const f = this.frame;
    f.fill(0);
    f.writeBigUInt64LE(BigInt(this.next), 0);
    f.writeUInt32LE(count, 8);
    f.writeUInt32LE(shape.minSize, 12);
    f.writeUInt32LE(shape.maxSize ?? shape.minSize, 16);
    f.writeUInt32LE(shape.discardEvery ?? 0, 20);
    const r = this.prog.testRun({ data: f, outSize: f.length });
    if (r.retval !== XDP_PASS || r.data.length < CFG_SIZE) throw new Error(`vr_ringbuf_gen: verdict ${r.retval}`);
    const written = r.data.readUInt32LE(24);
    this.next += written;
    return { written, discarded: r.data.readUInt32LE(28) };
  }

  /**
   * writeAll: exactly `total` records, in runs of `chunk`, yielding to the
   * event loop between runs (and waiting a little while the ring is full).
   */
  async writeAll(total: number, shape: GenShape, chunk = 16384): Promise<{ discarded: number; fullWaits: number }> {
    const end = this.next + total;
    let discarded = 0;
    let fullWaits = 0;
    while (this.next < end) {
      const want = Math.min(chunk, end - this.next);
      const r = this.write(want, shape);
      discarded += r.discarded;
      if (r.written < want) {
        fullWaits++;
        await new Promise((resolve) => setTimeout(resolve, 1));
      } else await new Promise((resolve) => setImmediate(resolve));
    }
    return { discarded, fullWaits };
  }

  /** scratchFd: the fd of the generator's other map (a per-CPU array), for refusals */
  get scratchFd(): number {
    if (!this.obj) throw new Error('ringbuf gen: no object on this thread');
    return this.obj.mapFd('rbg_scratch');
  }

  close(): void {
    this.obj?.close();
  }
}
