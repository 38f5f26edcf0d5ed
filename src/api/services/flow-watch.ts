/**
 * The watch streams of FlowService over the flow-miss side (src/flows/hub.ts):
 * WatchFlowMisses (bidi: `start`, then `grant` credits read beside the
 * sending) and WatchFlowEvents (server stream). Both end when the call is
 * cancelled: the hub's watch is closed at once, not at its next batch.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { CallContext } from '../grpc-adapter.ts';
import type {
  WatchFlowEventsRequest, WatchFlowEventsResponseSchema, WatchFlowMissesRequest, WatchFlowMissesResponseSchema, WatchFlowMissesStart,
} from '../../gen/vrouter/ebpf/v1/flow_pb.js';
import type { FlowHub, MissWatchOptions } from '../../flows/hub.ts';
import { invalid, precondition } from '../../manager/errors.ts';
import { eventToProto, missToProto } from '../convert/flow.ts';

export const MAX_WINDOW = 1 << 20;
export const MAX_BATCH = 4096;
export const MAX_FLUSH_US = 1_000_000;
export const MAX_EVENT_QUEUE = 1 << 20;

const noHub = (what: string) => precondition(`${what} are not available: this daemon runs without the flow-miss reader`);

/** startOptions: the watch options of a start message (0: the hub's default). */
export function startOptions(s: WatchFlowMissesStart): MissWatchOptions {
  if (s.window > MAX_WINDOW) throw invalid('start.window', `${s.window} is out of range (1..${MAX_WINDOW}; 0: 4096)`);
  if (s.maxBatch > MAX_BATCH) throw invalid('start.max_batch', `${s.maxBatch} is out of range (1..${MAX_BATCH}; 0: 256)`);
  if (s.flushUs > MAX_FLUSH_US) throw invalid('start.flush_us', `${s.flushUs} is out of range (0..${MAX_FLUSH_US} µs)`);
  return { window: s.window || undefined, maxBatch: s.maxBatch || undefined, flushMs: s.flushUs ? s.flushUs / 1000 : undefined };
}

/** closeOnAbort: runs close when the call goes away; returns the unhooking. */
function closeOnAbort(ctx: CallContext, close: () => void): () => void {
  ctx.signal.addEventListener('abort', close, { once: true });
  return () => ctx.signal.removeEventListener('abort', close);
}

export async function* watchMisses(
  hub: FlowHub | undefined,
  reqs: AsyncIterable<WatchFlowMissesRequest>,
  ctx: CallContext,
): AsyncGenerator<MessageInitShape<typeof WatchFlowMissesResponseSchema>> {
  if (!hub) throw noHub('flow misses');
  const it = reqs[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  if (first.value.msg.case !== 'start') throw invalid('start', 'the first message must be start (then grant)');
  const watch = hub.watchMisses(startOptions(first.value.msg.value));
  const unhook = closeOnAbort(ctx, () => watch.close());
  // misses sent and not granted back: a grant may not exceed it
  let outstanding = 0;
  let failure: unknown;
  void (async () => {
    for (;;) {
      const r = await it.next();
      if (r.done) return; // a half-close ends nothing: the watch goes on until cancelled
      const m = r.value.msg;
      if (m.case === 'start') throw invalid('start', 'start was already sent');
      if (m.case !== 'grant') throw invalid('grant', 'a message with nothing set: send grant');
      if (m.value === 0 || m.value > outstanding)
        throw invalid('grant', `${m.value} is not between 1 and the ${outstanding} miss(es) received and not granted yet`);
      outstanding -= m.value;
      watch.grant(m.value);
    }
  })().catch((err: unknown) => {
    failure ??= err;
    watch.close();
  });
  try {
    // an empty first message: the watch is in place (misses from now on reach this watcher)
    yield { misses: [], lost: 0n };
    for await (const b of watch) {
      if (failure) break;
      outstanding += b.misses.length;
      yield { misses: b.misses.map(missToProto), lost: BigInt(b.lost) };
    }
    if (failure && !ctx.signal.aborted) throw failure;
  } finally {
    unhook();
    watch.close();
  }
}

export async function* watchEvents(
  hub: FlowHub | undefined,
  req: WatchFlowEventsRequest,
  ctx: CallContext,
): AsyncGenerator<MessageInitShape<typeof WatchFlowEventsResponseSchema>> {
  if (!hub) throw noHub('flow events');
  if (req.maxQueue > MAX_EVENT_QUEUE) throw invalid('max_queue', `${req.maxQueue} is out of range (1..${MAX_EVENT_QUEUE}; 0: the default)`);
  const watch = hub.watchEvents(req.maxQueue ? { maxQueue: req.maxQueue } : {});
  const unhook = closeOnAbort(ctx, () => watch.close());
  try {
    // an empty first message: the watch is in place
    yield { events: [], lost: 0n };
    for await (const b of watch) {
      const now = process.hrtime.bigint();
      yield { events: b.events.map((e) => eventToProto(e, now)), lost: BigInt(b.lost) };
    }
  } finally {
    unhook();
    watch.close();
  }
}
