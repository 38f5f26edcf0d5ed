/**
 * BpfProgram: one live program by fd, with its info and a test-run entry
 * (BPF_PROG_TEST_RUN), which packet tests, tracing and live-frame
 * injection use.
 */
import { sys, TestRunOpts, sizeofStruct, addressOf } from './libbpf.ts';
import { check, ERRNO } from './errors.ts';

export const BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1;

/** enum bpf_prog_type values the test run tells apart */
export const BPF_PROG_TYPE_SCHED_CLS = 3;
export const BPF_PROG_TYPE_XDP = 6;

/** sizeof(struct __sk_buff) (uapi, 6.x) and the offsets of the fields a test run sets */
const SKB_CTX_SIZE = 192;
const SKB_INGRESS_IFINDEX = 36;
const SKB_IFINDEX = 40;
const SKB_GSO_SEGS = 164;
const SKB_GSO_SIZE = 176;
/** BPF_PROG_TEST_RUN of a TC program: the skb comes in CHECKSUM_COMPLETE and the kernel
 * checks after the run that skb->csum still sums the packet (else EBADMSG) */
export const BPF_F_TEST_SKB_CHECKSUM_COMPLETE = 1 << 2;

export interface ProgInfo {
  type: number;
  id: number;
  tag: string;
  jitedBytes: number;
  xlatedBytes: number;
  loadTimeNs: bigint;
  name: string;
}

export interface TestRunResult {
  retval: number;
  data: Buffer;
  durationNs: number;
}

export interface TestRunInput {
  data: Buffer;
  /**
   * the arrival interface, resolved in the caller's netns: ingress_ifindex of
   * the xdp_md context; for a TC program both ifindex (the skb's device) and
   * ingress_ifindex of the __sk_buff context.
   */
  ingressIfindex?: number;
  /**
   * TC only: the skb's device when it is not the arrival interface: a run
   * as at that device's egress (with ingressIfindex 0: a packet the host
   * made; else the interface it came in on before the host routed it)
   */
  device?: number;
  repeat?: number;
  flags?: number;
  batchSize?: number;
  /** room for a grown packet (encapsulation, NA replies) */
  outSize?: number;
  /** TC only: the skb as GSO would hand it over (segment payload size and count) */
  gso?: { size: number; segs: number };
}

export class BpfProgram {
  readonly fd: number;
  readonly pinPath: string;
  readonly name: string;
  private type: number | undefined;

  constructor(fd: number, name: string, pinPath: string) {
    this.fd = fd;
    this.name = name;
    this.pinPath = pinPath;
  }

  static open(pinPath: string, name: string): BpfProgram {
    const fd = sys.bpf_obj_get(pinPath);
    check(fd, 'bpf_obj_get', pinPath);
    return new BpfProgram(fd, name, pinPath);
  }

  info(): ProgInfo {
    const buf = Buffer.alloc(256);
    check(sys.bpf_obj_get_info_by_fd(this.fd, buf, [buf.length]), 'bpf_obj_get_info_by_fd', this.name);
    const nameEnd = buf.indexOf(0, 64);
    return {
      type: buf.readUInt32LE(0),
      id: buf.readUInt32LE(4),
      tag: buf.subarray(8, 16).toString('hex'),
      jitedBytes: buf.readUInt32LE(16),
      xlatedBytes: buf.readUInt32LE(20),
      loadTimeNs: buf.readBigUInt64LE(40),
      name: buf.toString('latin1', 64, nameEnd > 64 && nameEnd < 80 ? nameEnd : 80),
    };
  }

  /** mapIds: the ids of the maps the program uses (bpf_prog_info.map_ids), sorted. */
  mapIds(): number[] {
    const buf = Buffer.alloc(256);
    check(sys.bpf_obj_get_info_by_fd(this.fd, buf, [buf.length]), 'bpf_obj_get_info_by_fd', this.name);
    const n = buf.readUInt32LE(52); // nr_map_ids
    if (n === 0) return [];
    const ids = Buffer.alloc(4 * n);
    const ask = Buffer.alloc(256);
    ask.writeUInt32LE(n, 52);
    ask.writeBigUInt64LE(addressOf(ids), 56); // map_ids: a user pointer the kernel fills
    check(sys.bpf_obj_get_info_by_fd(this.fd, ask, [ask.length]), 'bpf_obj_get_info_by_fd', this.name);
    const got = Math.min(n, ask.readUInt32LE(52));
    return Array.from({ length: got }, (_, i) => ids.readUInt32LE(4 * i)).sort((a, b) => a - b);
  }

  /** progType: enum bpf_prog_type (read once) */
  progType(): number {
    this.type ??= this.info().type;
    return this.type;
  }

  /**
   * testRun: runs the program on one frame. With live frames the kernel
   * really transmits the verdict (redirect / TX) and data_out must be unset.
   * An XDP program gets an xdp_md context, a TC (SCHED_CLS) one an __sk_buff
   * (the kernel builds the skb on the given device, Ethernet header pushed,
   * and returns the frame from its Ethernet header); the retval is the
   * program's own verdict (XDP_* or TC_ACT_*).
   */
  testRun(input: TestRunInput): TestRunResult {
    const live = ((input.flags ?? 0) & BPF_F_TEST_XDP_LIVE_FRAMES) !== 0;
    const out = live ? null : Buffer.alloc(input.outSize ?? input.data.length + 256);
    let ctx: Buffer;
    if (this.progType() === BPF_PROG_TYPE_SCHED_CLS) {
      // struct __sk_buff: everything else zero (the kernel refuses the fields it does not take)
      ctx = Buffer.alloc(SKB_CTX_SIZE);
      ctx.writeUInt32LE(input.ingressIfindex ?? 0, SKB_INGRESS_IFINDEX);
      ctx.writeUInt32LE(input.device ?? input.ingressIfindex ?? 0, SKB_IFINDEX);
      if (input.gso) {
        ctx.writeUInt32LE(input.gso.segs, SKB_GSO_SEGS);
        ctx.writeUInt32LE(input.gso.size, SKB_GSO_SIZE);
      }
    } else {
      // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
      ctx = Buffer.alloc(24);
      ctx.writeUInt32LE(input.data.length, 4);
      ctx.writeUInt32LE(input.ingressIfindex ?? 0, 12);
    }
    const withCtx = !!(input.ingressIfindex || input.device || input.gso);
    const opts = {
      sz: sizeofStruct(TestRunOpts),
      data_in: input.data,
      data_out: out,
      data_size_in: input.data.length,
      data_size_out: out ? out.length : 0,
      ctx_in: withCtx ? ctx : null,
      ctx_out: null,
      ctx_size_in: withCtx ? ctx.length : 0,
      ctx_size_out: 0,
      retval: 0,
      repeat: input.repeat ?? 1,
      duration: 0,
      flags: input.flags ?? 0,
      cpu: 0,
      batch_size: input.batchSize ?? 0,
    };
    // a signal interrupts a long run with EINTR (seen under profilers and in benches): run it again
    let ret = sys.bpf_prog_test_run_opts(this.fd, opts);
    for (let tries = 1; ret === -ERRNO.EINTR && tries < 5; tries++) ret = sys.bpf_prog_test_run_opts(this.fd, opts);
    check(ret, 'bpf_prog_test_run_opts', this.name);
    return {
      retval: opts.retval,
      data: out ? out.subarray(0, opts.data_size_out) : Buffer.alloc(0),
      durationNs: opts.duration,
    };
  }

  close(): void {
    sys.close(this.fd);
  }
}
