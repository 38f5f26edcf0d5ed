/**
 * ProgramStream: a coalescing client over one ProgramService.Program
 * stream. Each call (addRoute, deleteRoute, addNextHop, setFlow, ...) returns a
 * promise of that operation's outcome; calls made close together share one
 * stream message (sent when it holds maxOpsPerMessage operations, or
 * flushDelayMs after its first one), so code that makes one call at a time
 * still moves hundreds of thousands of operations per second over a stream
 * that carries ~20k messages per second. Answers are matched to calls by
 * seq: a failed operation rejects with a ProgramError (gRPC code, message,
 * field path relative to the step), the others resolve.
 *
 * Flow control: when grpc-js's write buffer is full the stream stops sending
 * and keeps calls in memory until 'drain'; `ready(n)` lets a producer wait
 * until fewer than n operations are unanswered.
 */
import { Metadata, status, type CallOptions, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { AddInterfaceRequestSchema, UpdateInterfaceRequestSchema } from '../gen/vrouter/ebpf/v1/interface_pb.js';
import type { NextHopSchema } from '../gen/vrouter/ebpf/v1/nexthop_pb.js';
import type { RouteSchema } from '../gen/vrouter/ebpf/v1/route_pb.js';
import type { FlowKeySchema, FlowSpecSchema } from '../gen/vrouter/ebpf/v1/flow_pb.js';
import {
  ProgramRequestSchema, type OperationSchema, type ProgramRequest, type ProgramResponse, type StepResult, type StepSchema, type SyncRemoved,
} from '../gen/vrouter/ebpf/v1/program_pb.js';

export type OperationInit = MessageInitShape<typeof OperationSchema>;
type StepInit = MessageInitShape<typeof StepSchema>;

export interface ProgramStreamOptions {
  /** operations per stream message at most (default 1000; the daemon takes up to 100000) */
  maxOpsPerMessage?: number;
  /** how long a call may wait for others to share its message (default 1 ms; 0: the next tick) */
  flushDelayMs?: number;
  metadata?: Metadata;
  callOptions?: CallOptions;
}

/** ProgramError: one step's failure (shaped like a grpc-js ServiceError: code, details, metadata). */
export class ProgramError extends Error {
  readonly code: status;
  readonly details: string;
  /** the field at fault, relative to the step ("op.add_route.route.next_hop_id"); "" if none */
  readonly field: string;
  readonly seq: bigint;
  readonly metadata = new Metadata();

  constructor(r: Pick<StepResult, 'code' | 'message' | 'field' | 'seq'>) {
    super(`${status[r.code] ?? r.code}: ${r.message}`);
    this.name = 'ProgramError';
    this.code = r.code;
    this.details = r.message;
    this.field = r.field;
    this.seq = r.seq;
    if (r.field) this.metadata.set('vrouter-field', r.field);
  }
}

interface Pending {
  seq: bigint;
  ops: number;
  resolve: (r: StepResult | undefined) => void;
  reject: (e: Error) => void;
}

export class ProgramStream {
  private readonly call: ClientDuplexStream<ProgramRequest, ProgramResponse>;
  private readonly maxOps: number;
  private readonly delayMs: number;
  private nextSeq = 1n;
  /** steps not yet sent: buf[bufHead..] */
  private buf: StepInit[] = [];
  private bufHead = 0;
  private bufOps = 0;
  /** sent or buffered, not yet answered, in seq order (a queue with a head index) */
  private pending: Pending[] = [];
  private head = 0;
  private unanswered = 0;
  private timer: NodeJS.Timeout | undefined;
  private blocked = false;
  private failure: Error | undefined;
  private ended = false;
  private halfClosed = false;
  private readonly closed: Promise<void>;
  private waiters: { below: number; resolve: () => void }[] = [];
  /** messages written and answers received (for tests and benchmarks) */
  readonly counters = { messagesSent: 0, answers: 0 };

  constructor(call: ClientDuplexStream<ProgramRequest, ProgramResponse>, opts: ProgramStreamOptions = {}) {
    this.call = call;
    this.maxOps = opts.maxOpsPerMessage ?? 1000;
    this.delayMs = opts.flushDelayMs ?? 1;
    call.on('data', (r: ProgramResponse) => this.answer(r));
    call.on('drain', () => {
      this.blocked = false;
      this.send();
    });
    this.closed = new Promise<void>((resolve) => {
      call.on('error', (err: ServiceError) => {
        this.fail(err);
        resolve();
      });
      call.on('end', () => {
        this.fail(new Error('the stream ended with operations unanswered'));
        resolve();
      });
    });
  }

  // ------------------------------------------------------------ operations

  /** op: any operation (the oneof of an Operation message). */
  op(op: OperationInit['op']): Promise<void> {
    return this.step({ step: { case: 'op', value: { op } } }, 1).then(() => undefined);
  }

  addInterface(req: MessageInitShape<typeof AddInterfaceRequestSchema>): Promise<void> {
    return this.op({ case: 'addInterface', value: req });
  }
  updateInterface(req: MessageInitShape<typeof UpdateInterfaceRequestSchema>): Promise<void> {
    return this.op({ case: 'updateInterface', value: req });
  }
  deleteInterface(index: number): Promise<void> {
    return this.op({ case: 'deleteInterface', value: { index } });
  }
  addNextHop(nextHop: MessageInitShape<typeof NextHopSchema>): Promise<void> {
    return this.op({ case: 'addNextHop', value: { nextHop } });
  }
  updateNextHop(nextHop: MessageInitShape<typeof NextHopSchema>): Promise<void> {
    return this.op({ case: 'updateNextHop', value: { nextHop } });
  }
  deleteNextHop(id: number): Promise<void> {
    return this.op({ case: 'deleteNextHop', value: { id } });
  }
  /** addCompositeMember: one member more for composite next hop id */
  addCompositeMember(id: number, memberId: number): Promise<void> {
    return this.op({ case: 'addCompositeMember', value: { id, memberId } });
  }
  /** removeCompositeMember: one member less (ECMP: only that member's flows move) */
  removeCompositeMember(id: number, memberId: number): Promise<void> {
    return this.op({ case: 'removeCompositeMember', value: { id, memberId } });
  }
  addRoute(route: MessageInitShape<typeof RouteSchema>): Promise<void> {
    return this.op({ case: 'addRoute', value: { route } });
  }
  updateRoute(route: MessageInitShape<typeof RouteSchema>): Promise<void> {
    return this.op({ case: 'updateRoute', value: { route } });
  }
  deleteRoute(key: { vrf: number; prefix: string }): Promise<void> {
    return this.op({ case: 'deleteRoute', value: key });
  }
  setFlow(flow: MessageInitShape<typeof FlowSpecSchema>): Promise<void> {
    return this.op({ case: 'setFlow', value: { flow } });
  }
  deleteFlow(key: MessageInitShape<typeof FlowKeySchema>): Promise<void> {
    return this.op({ case: 'deleteFlow', value: { key } });
  }
  /** addLabel: an MPLS label and the next hop its packets are run through (an upsert in a sync epoch) */
  addLabel(label: number, nextHopId: number): Promise<void> {
    return this.op({ case: 'addLabel', value: { label: { label, nextHopId } } });
  }
  updateLabel(label: number, nextHopId: number): Promise<void> {
    return this.op({ case: 'updateLabel', value: { label: { label, nextHopId } } });
  }
  deleteLabel(label: number): Promise<void> {
    return this.op({ case: 'deleteLabel', value: { label } });
  }
  /** addVni: a VNI and the next hop its packets are run through (an upsert in a sync epoch) */
  addVni(vni: number, nextHopId: number): Promise<void> {
    return this.op({ case: 'addVni', value: { vni: { vni, nextHopId } } });
  }
  updateVni(vni: number, nextHopId: number): Promise<void> {
    return this.op({ case: 'updateVni', value: { vni: { vni, nextHopId } } });
  }
  deleteVni(vni: number): Promise<void> {
    return this.op({ case: 'deleteVni', value: { vni } });
  }
  /** addBridgeEntry: a MAC of a VRF and the next hop its frames go to (an upsert in a sync epoch) */
  addBridgeEntry(vrf: number, mac: string, nextHopId: number, label?: number): Promise<void> {
    return this.op({ case: 'addBridgeEntry', value: { entry: { vrf, mac, nextHopId, ...(label !== undefined ? { label } : {}) } } });
  }
  updateBridgeEntry(vrf: number, mac: string, nextHopId: number, label?: number): Promise<void> {
    return this.op({ case: 'updateBridgeEntry', value: { entry: { vrf, mac, nextHopId, ...(label !== undefined ? { label } : {}) } } });
  }
  deleteBridgeEntry(vrf: number, mac: string): Promise<void> {
    return this.op({ case: 'deleteBridgeEntry', value: { vrf, mac } });
  }

  /** transaction: all or nothing; rejects with the failing operation's error ("transaction.ops[i]...."). */
  transaction(ops: OperationInit[]): Promise<void> {
    return this.step({ step: { case: 'transaction', value: { ops } } }, Math.max(1, ops.length)).then(() => undefined);
  }

  /** beginSync: opens a sync epoch; resolves to its number. */
  async beginSync(owner = ''): Promise<bigint> {
    const r = await this.step({ step: { case: 'beginSync', value: { owner } } }, 1);
    return r?.detail.case === 'beginSync' ? r.detail.value.epoch : 0n;
  }

  /** endSync: ends this stream's epoch; resolves to what it removed. */
  async endSync(): Promise<SyncRemoved | undefined> {
    const r = await this.step({ step: { case: 'endSync', value: {} } }, 1);
    return r?.detail.case === 'endSync' ? r.detail.value.removed : undefined;
  }

  // ------------------------------------------------------------ stream

  /** flush: sends what is buffered now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.send();
  }

  /** ready: resolves once fewer than `below` operations are unanswered (a producer's brake). */
  ready(below = 100_000): Promise<void> {
    if (this.unanswered < below || this.failure) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ below, resolve }));
  }

  /** inFlight: operations sent or buffered and not yet answered. */
  get inFlight(): number {
    return this.unanswered;
  }

  /** close: sends what is buffered, half-closes, and waits for every answer and the end of the stream. */
  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      this.flush();
    }
    await this.closed;
  }

  /** cancel: cancels the stream; unanswered calls reject with CANCELLED. */
  cancel(): void {
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.call.cancel();
  }

  private step(s: StepInit, ops: number): Promise<StepResult | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.reject(new Error('the program stream is closed'));
    const seq = this.nextSeq++;
    s.seq = seq;
    this.buf.push(s);
    this.bufOps += ops;
    this.unanswered += ops;
    const p = new Promise<StepResult | undefined>((resolve, reject) => this.pending.push({ seq, ops, resolve, reject }));
    if (this.bufOps >= this.maxOps) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.send();
      }, this.delayMs);
    }
    return p;
  }

  /** send: the buffer as messages of up to maxOps operations, until grpc-js says stop. */
  private send(): void {
    while (this.bufHead < this.buf.length && !this.blocked && !this.failure) {
      let n = 0;
      let k = this.bufHead;
      while (k < this.buf.length && (k === this.bufHead || n < this.maxOps)) {
        const st = this.buf[k]!.step;
        n += st?.case === 'transaction' ? Math.max(1, st.value.ops?.length ?? 0) : 1;
        k++;
      }
      const steps = this.bufHead === 0 && k === this.buf.length ? this.buf : this.buf.slice(this.bufHead, k);
      if (k === this.buf.length) {
        this.buf = [];
        this.bufHead = 0;
      } else {
        this.bufHead = k;
        if (this.bufHead > 4096 && this.bufHead * 2 > this.buf.length) {
          this.buf = this.buf.slice(this.bufHead);
          this.bufHead = 0;
        }
      }
      this.bufOps -= n;
      this.counters.messagesSent++;
      if (!this.call.write(create(ProgramRequestSchema, { steps }))) this.blocked = true;
    }
    if (this.ended && !this.halfClosed && !this.blocked && this.bufHead === this.buf.length && !this.failure) {
      this.halfClosed = true;
      this.call.end();
    }
  }

  private answer(r: ProgramResponse): void {
    this.counters.answers++;
    for (const res of r.results) {
      this.settleThrough(res.seq - 1n);
      const p = this.pending[this.head];
      if (p && p.seq === res.seq) {
        this.take();
        if (res.code === status.OK) p.resolve(res);
        else p.reject(new ProgramError(res));
      }
    }
    this.settleThrough(r.okThroughSeq);
    this.wake();
  }

  private settleThrough(seq: bigint): void {
    for (let p = this.pending[this.head]; p && p.seq <= seq; p = this.pending[this.head]) {
      this.take();
      p.resolve(undefined);
    }
  }

  private take(): void {
    const p = this.pending[this.head]!;
    this.unanswered -= p.ops;
    this.head++;
    if (this.head > 4096 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
  }

  private wake(): void {
    if (!this.waiters.length) return;
    const still = [];
    for (const w of this.waiters) if (this.unanswered < w.below) w.resolve();
    else still.push(w);
    this.waiters = still;
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    if (this.timer) clearTimeout(this.timer);
    for (let p = this.pending[this.head]; p; p = this.pending[this.head]) {
      this.take();
      p.reject(this.failure);
    }
    this.buf = [];
    this.bufHead = 0;
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }
}
