/**
 * Reinjector: sends held frames through the live datapath again, by running
 * the XDP entry (vr_xdp_vif) on each with BPF_PROG_TEST_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES, as if it arrived again on its vif: the
 * program now meets the flow the agent set and redirects, transmits or
 * passes it for real. An XDP_PASS becomes an skb received on ingress_ifindex,
 * so a packet for a vif on the TC hook reaches that device's tcx program.
 *
 * The kernel resolves ingress_ifindex in the calling thread's netns: call
 * this from the daemon's main thread (in the host's netns). One run is one
 * short synchronous syscall; callers chunk big bursts (see FlowHub.resolved).
 * Live frames are single-buffer: a frame beyond LIVE_FRAME_MAX is refused
 * by the kernel (EINVAL) and counted as failed.
 */
import type { Logger } from 'pino';
import { BPF_F_TEST_XDP_LIVE_FRAMES, type TestRunInput, type TestRunResult } from '../bpf/program.ts';
import { completeChecksum } from './checksum.ts';
import type { HeldFrame } from './hold-queue.ts';

/**
 * LIVE_FRAME_MAX: the longest frame a live-frame test run takes: a 4 KiB
 * page less XDP_PACKET_HEADROOM, struct xdp_page_head and the
 * skb_shared_info tailroom (3408 on x86_64 6.x, pinned by
 * test/bpf/flow-reinject.test.ts). The hold queue refuses longer frames.
 */
export const LIVE_FRAME_MAX = 3408;

/** Injector: what the reinjector runs frames through (BpfProgram; a fake in unit tests). */
export interface Injector {
  testRun(input: TestRunInput): TestRunResult;
}

/**
 * BatchSender: many frames of one arrival interface in one run
 * (src/maps/tables/batch-injector.ts); returns how many went through.
 */
export interface BatchSender {
  send(ifindex: number, frames: readonly Buffer[]): number;
}

/** frames per batch run (VR_RJ_SLOTS) */
const BATCH_MAX = 256;

export interface ReinjectResult {
  sent: number;
  failed: number;
  /** the first failure, for the log */
  error: unknown;
  /** TC frames whose partial checksum was completed */
  completed: number;
}

export class Reinjector {
  private readonly prog: Injector;
  private readonly batch: BatchSender | undefined;

  /** batch: runs of many frames at once, when the daemon has the batch program (else one run per frame) */
  constructor(prog: Injector, batch?: BatchSender) {
    this.prog = prog;
    this.batch = batch;
  }

  /** reinject: every frame in order; a failure does not stop the others. */
  reinject(frames: readonly HeldFrame[]): ReinjectResult {
    const r: ReinjectResult = { sent: 0, failed: 0, error: undefined, completed: 0 };
    // the TC hook saw an skb that may be CHECKSUM_PARTIAL; an xdp_frame has no such state
    for (const f of frames) if (f.hook === 'tc' && completeChecksum(f.frame) === 'completed') r.completed++;
    if (!this.batch) {
      this.one(frames, r);
      return r;
    }
    // runs of consecutive frames of one arrival interface (order kept across runs)
    for (let i = 0; i < frames.length; ) {
      let j = i + 1;
      while (j < frames.length && j - i < BATCH_MAX && frames[j]!.ifindex === frames[i]!.ifindex) j++;
      const run = frames.slice(i, j);
      // one frame: a plain run is cheaper (no slot writes)
      if (run.length === 1) {
        this.one(run, r);
        i = j;
        continue;
      }
      try {
        const sent = this.batch.send(run[0]!.ifindex, run.map((f) => f.frame));
        r.sent += sent;
        if (sent < run.length) {
          r.failed += run.length - sent;
          r.error ??= new Error(`${run.length - sent} of ${run.length} frames not sent by the batch run`);
        }
      } catch (err) {
        // e.g. a frame the batch slots do not take: one run each, as without the batch program
        r.error ??= err;
        this.one(run, r);
      }
      i = j;
    }
    return r;
  }

  private one(frames: readonly HeldFrame[], r: ReinjectResult): void {
    for (const f of frames) {
      try {
        // rx_queue_index stays 0 (veth has one queue); repeat 1: more runs would resend a recycled
        // page; batch_size 1: the run's page pool needs no more than the one frame
        this.prog.testRun({ data: f.frame, ingressIfindex: f.ifindex, repeat: 1, flags: BPF_F_TEST_XDP_LIVE_FRAMES, batchSize: 1 });
        r.sent++;
      } catch (err) {
        r.failed++;
        r.error ??= err;
      }
    }
  }
}

interface Job {
  frames: readonly HeldFrame[];
  at: number;
  sent: number;
  done: (sent: number) => void;
}

/**
 * ReinjectQueue: frames re-injected in the order they were queued (so a
 * flow's late frames never pass its earlier ones), `chunk` frames per turn
 * of the event loop: the first chunk at once (an answer's frames leave
 * without delay), the rest with the loop served between chunks.
 */
export class ReinjectQueue {
  private readonly reinjector: Reinjector;
  private readonly chunk: number;
  private readonly log: Logger;
  private readonly jobs: Job[] = [];
  private pumping: Promise<void> | undefined;
  readonly totals = { sent: 0n, failed: 0n, completed: 0n };

  constructor(reinjector: Reinjector, chunk: number, log: Logger) {
    this.reinjector = reinjector;
    this.chunk = chunk;
    this.log = log;
  }

  /** enqueue: resolves with how many of these frames the kernel took. */
  enqueue(frames: readonly HeldFrame[]): Promise<number> {
    if (!frames.length) return Promise.resolve(0);
    return new Promise((done) => {
      this.jobs.push({ frames, at: 0, sent: 0, done });
      this.pumping ??= this.pump().finally(() => (this.pumping = undefined));
    });
  }

  /** idle: resolves when every queued frame has been run. */
  async idle(): Promise<void> {
    await this.pumping;
  }

  private async pump(): Promise<void> {
    while (this.jobs.length) {
      let budget = this.chunk;
      while (budget > 0 && this.jobs.length) {
        const j = this.jobs[0]!;
        const part = j.frames.slice(j.at, j.at + budget);
        const r = this.reinjector.reinject(part);
        j.at += part.length;
        budget -= part.length;
        j.sent += r.sent;
        this.totals.sent += BigInt(r.sent);
        this.totals.completed += BigInt(r.completed);
        if (r.failed) {
          this.totals.failed += BigInt(r.failed);
          this.log.warn({ err: r.error, failed: r.failed }, 'held frames not re-injected');
        }
        if (j.at >= j.frames.length) {
          this.jobs.shift();
          j.done(j.sent);
        }
      }
      if (this.jobs.length) await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
