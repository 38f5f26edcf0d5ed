/**
 * ProgramService: the programming stream (Program) and its one-call form
 * (Apply). The stream reads one request message at a time (the adapter
 * pulls the next only when this generator asks, and stops asking while its
 * answers are not drained), applies its steps in order through the
 * manager's one queue (runs of plain operations as one non-atomic batch,
 * transactions as one atomic batch) and answers the message with one
 * ProgramResponse: the last seq, and the failed or control steps.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { CallContext, Handlers } from '../grpc-adapter.ts';
import {
  ProgramService, type Operation, type ProgramRequest, type ProgramResponseSchema, type StepResultSchema,
} from '../../gen/vrouter/ebpf/v1/program_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import { DatapathError, invalid, precondition } from '../../manager/errors.ts';
import { MAX_OPS_PER_MESSAGE, opFromProto, placeOpError, stepResult, type ParsedOp } from '../convert/program.ts';

type StepResultInit = MessageInitShape<typeof StepResultSchema>;
type ProgramResponseInit = MessageInitShape<typeof ProgramResponseSchema>;

export interface ProgramOptions {
  /** how long an epoch whose stream went away stays orphaned before it is abandoned */
  syncOrphanTimeoutMs: number;
}

/** parseAll: each operation parsed, or its parse error (already placed). */
function parseAll(ops: Operation[], at: (i: number) => string): (ParsedOp | DatapathError)[] {
  return ops.map((o, i) => {
    try {
      return opFromProto(o, at(i));
    } catch (err) {
      if (err instanceof DatapathError) return err;
      throw err;
    }
  });
}

/**
 * applyEach: not atomic; unparsable ops get their parse error, the others
 * are applied in order as one batch. Returns one error (or undefined) per op.
 */
async function applyEach(mgr: DatapathManager, parsed: (ParsedOp | DatapathError)[]): Promise<(unknown | undefined)[]> {
  const out: (unknown | undefined)[] = new Array(parsed.length);
  const idx: number[] = [];
  const ops = [];
  for (let i = 0; i < parsed.length; i++) {
    const p = parsed[i]!;
    if (p instanceof DatapathError) out[i] = p;
    else {
      idx.push(i);
      ops.push(p.op);
    }
  }
  if (ops.length) {
    const res = await mgr.apply(ops, false);
    const placed = new Set<unknown>(); // one error may stand for a whole batch: place it once
    res.forEach((e, k) => {
      if (e && !placed.has(e)) placeOpError(e, parsed[idx[k]!] as ParsedOp);
      placed.add(e);
      out[idx[k]!] = e;
    });
  }
  return out;
}

/** applyAtomic: all or nothing; one error per op (the failing one, the others ABORTED), or none. */
async function applyAtomic(mgr: DatapathManager, parsed: (ParsedOp | DatapathError)[]): Promise<(unknown | undefined)[] | undefined> {
  const bad = parsed.findIndex((p) => p instanceof DatapathError);
  if (bad >= 0)
    return parsed.map((p, i) => (i === bad ? p : new DatapathError('aborted', 'not applied: another operation of the transaction failed')));
  const res = await mgr.apply(
    (parsed as ParsedOp[]).map((p) => p.op),
    true,
  );
  if (res.every((e) => !e)) return undefined;
  const placed = new Set<unknown>();
  for (const [i, e] of res.entries())
    if (e && e.code !== 'aborted' && !placed.has(e)) {
      placeOpError(e, parsed[i] as ParsedOp);
      placed.add(e);
    }
  return res;
}

/** failureOf: the error a failed transaction reports (the one that is not ABORTED). */
function failureOf(errs: (unknown | undefined)[]): unknown {
  return errs.find((e) => e && !(e instanceof DatapathError && e.code === 'aborted')) ?? errs.find((e) => e);
}

/** checkMessage: seqs strictly increasing from `last`, at most MAX_OPS_PER_MESSAGE operations; returns the new last seq. */
function checkMessage(req: ProgramRequest, last: bigint): bigint {
  let n = 0;
  req.steps.forEach((s, i) => {
    if (s.seq <= last) throw invalid(`steps[${i}].seq`, `${s.seq} is not greater than the previous seq ${last}`);
    last = s.seq;
    n += s.step.case === 'transaction' ? s.step.value.ops.length : 1;
  });
  if (n > MAX_OPS_PER_MESSAGE) throw invalid('steps', `${n} operations in one message; at most ${MAX_OPS_PER_MESSAGE}`);
  return last;
}

/** ProgramSession: one stream's state: the last seq and the sync epoch it opened. */
class ProgramSession {
  private last = 0n;
  private epoch: number | undefined;
  private readonly mgr: DatapathManager;
  private readonly opts: ProgramOptions;
  private readonly ctx: CallContext;

  constructor(mgr: DatapathManager, opts: ProgramOptions, ctx: CallContext) {
    this.mgr = mgr;
    this.opts = opts;
    this.ctx = ctx;
  }

  /** orphan: the stream went away; an epoch it left open is orphaned (nothing removed). */
  orphan(): void {
    if (this.epoch !== undefined) this.mgr.orphanSync(this.epoch);
    this.epoch = undefined;
  }

  async message(req: ProgramRequest): Promise<ProgramResponseInit> {
    this.last = checkMessage(req, this.last);
    const results: StepResultInit[] = [];
    // a run of plain operations is applied as one non-atomic batch
    let run: Operation[] = [];
    let seqs: bigint[] = [];
    const flush = async () => {
      if (!run.length) return;
      const errs = await applyEach(this.mgr, parseAll(run, () => 'op.'));
      errs.forEach((e, i) => e && results.push(stepResult(seqs[i]!, e)));
      run = [];
      seqs = [];
    };
    for (const s of req.steps) {
      const st = s.step;
      if (st.case === 'op') {
        run.push(st.value);
        seqs.push(s.seq);
        continue;
      }
      await flush();
      try {
        switch (st.case) {
          case 'transaction': {
            const errs = await applyAtomic(this.mgr, parseAll(st.value.ops, (i) => `transaction.ops[${i}].`));
            if (errs) results.push(stepResult(s.seq, failureOf(errs)));
            break;
          }
          case 'beginSync': {
            const state = await this.mgr.beginSync(st.value.owner || this.ctx.peer, this.opts.syncOrphanTimeoutMs);
            this.epoch = state.epoch;
            results.push({ seq: s.seq, code: 0, detail: { case: 'beginSync', value: { epoch: BigInt(state.epoch) } } });
            break;
          }
          case 'endSync': {
            const epoch = this.epoch;
            if (epoch === undefined) throw precondition('this stream has no open sync epoch (no begin_sync, or it already ended)');
            if (this.mgr.syncStatus().current?.epoch !== epoch) {
              this.epoch = undefined;
              throw precondition(`sync epoch ${epoch} is no longer open: another begin_sync replaced it`);
            }
            const state = await this.mgr.endSync(epoch);
            this.epoch = undefined;
            const r = state.removed;
            results.push({
              seq: s.seq, code: 0,
              detail: { case: 'endSync', value: { epoch: BigInt(epoch), removed: { interfaces: r.vifs, nextHops: r.nextHops, routes: r.routes, labels: r.labels, vnis: r.vnis, bridgeEntries: r.bridge } } },
            });
            break;
          }
          default:
            throw new DatapathError('invalid_argument', 'no step set (op, transaction, begin_sync or end_sync)');
        }
      } catch (err) {
        results.push(stepResult(s.seq, err));
      }
    }
    await flush();
    results.sort((a, b) => (a.seq! < b.seq! ? -1 : a.seq! > b.seq! ? 1 : 0));
    return { okThroughSeq: this.last, results };
  }
}

export function programHandlers(mgr: DatapathManager, opts: ProgramOptions): Handlers<typeof ProgramService> {
  return {
    async *program(reqs, ctx) {
      const session = new ProgramSession(mgr, opts, ctx);
      // a cancelled stream orphans its epoch at once, even while a step is being applied
      const onAbort = () => session.orphan();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const req of reqs) yield await session.message(req);
      } finally {
        ctx.signal.removeEventListener('abort', onAbort);
        session.orphan();
      }
    },
    async apply(req) {
      if (req.ops.length > MAX_OPS_PER_MESSAGE) throw invalid('ops', `${req.ops.length} operations; at most ${MAX_OPS_PER_MESSAGE}`);
      const parsed = parseAll(req.ops, (i) => `ops[${i}].`);
      const errs = req.atomic ? await applyAtomic(mgr, parsed) : await applyEach(mgr, parsed);
      const results = req.ops.map((_, i) => (errs?.[i] ? stepResult(0n, errs[i]) : { seq: 0n, code: 0 }));
      return { results, applied: results.filter((r) => r.code === 0).length };
    },
  };
}
