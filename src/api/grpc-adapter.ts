/**
 * grpcService: a grpc-js service definition and implementation from a
 * protobuf-es service descriptor and plain async handlers, for the four
 * method kinds. Every handler gets a CallContext (deadline, cancellation
 * signal, metadata, peer) as its last argument. Unary and client-streaming
 * handlers return the response; server-streaming and bidi handlers return an
 * iterable of responses, which the adapter writes one at a time, waiting for
 * 'drain' when grpc-js's buffer is full (so a client that does not read
 * stops the handler). Client-streaming and bidi handlers read the requests
 * from an async iterable that pulls from the call: grpc-js reads from the
 * connection only while fewer than 16 messages wait unread. Every error
 * becomes a status in toServiceError; INTERNAL is logged at error level, the
 * rest at debug. Each call's start and status go to a CallMetrics when one
 * is given (src/metrics/grpc-metrics.ts).
 */
import {
  status, type Metadata,
  type sendUnaryData, type ServerDuplexStream, type ServerReadableStream, type ServerUnaryCall, type ServerWritableStream,
  type ServiceDefinition, type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type DescService, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { DatapathError } from '../manager/errors.ts';
import { toServiceError } from './status.ts';

type Method = DescService['methods'][number];
type Init<M extends DescMessage> = MessageInitShape<M>;

/** CallContext: what every handler learns of its call. */
export interface CallContext {
  /** aborted when the client cancels, the deadline passes, or the call otherwise goes away */
  signal: AbortSignal;
  /** the call's deadline (ms since the epoch); undefined: none */
  deadline: number | undefined;
  metadata: Metadata;
  peer: string;
}

export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (req: MessageShape<I>, ctx: CallContext) => Init<O> | Promise<Init<O>>;
export type StreamHandler<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: CallContext,
) => Iterable<Init<O>> | AsyncIterable<Init<O>>;
export type ClientStreamHandler<I extends DescMessage, O extends DescMessage> = (
  reqs: AsyncIterable<MessageShape<I>>,
  ctx: CallContext,
) => Init<O> | Promise<Init<O>>;
export type BidiStreamHandler<I extends DescMessage, O extends DescMessage> = (
  reqs: AsyncIterable<MessageShape<I>>,
  ctx: CallContext,
) => Iterable<Init<O>> | AsyncIterable<Init<O>>;

/** MethodType: a method's kind, as go-grpc-prometheus's grpc_type label names it */
export type MethodType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

const METHOD_TYPES: Record<Method['methodKind'], MethodType> = {
  unary: 'unary',
  client_streaming: 'client_stream',
  server_streaming: 'server_stream',
  bidi_streaming: 'bidi_stream',
};

/** CallMetrics: what the adapter tells of its calls; `started` returns the call's end, given its status code. */
export interface CallMetrics {
  /** method: a method served (before any call) */
  method(service: string, method: string, type: MethodType): void;
  started(service: string, method: string, type: MethodType): (code: number) => void;
}

/** Handlers: one function per method, keyed by the method's localName. */
export type Handlers<S extends DescService> = {
  [K in keyof S['method']]: S['method'][K] extends { methodKind: infer Kind; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? Kind extends 'unary'
      ? UnaryHandler<I, O>
      : Kind extends 'server_streaming'
        ? StreamHandler<I, O>
        : Kind extends 'client_streaming'
          ? ClientStreamHandler<I, O>
          : BidiStreamHandler<I, O>
    : never;
};

/**
 * RawRequest: a request handed over undecoded, for methods whose requests
 * can be huge (a 1M-route AddRoutes): their handler reads the bytes itself,
 * in chunks, instead of one blocking decode into an object per entry.
 */
export class RawRequest {
  readonly bytes: Buffer;
  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }
}

/**
 * RawResponse: a streamed response already encoded by its handler (a chunk
 * of 1000 routes written straight from the table's bytes, not built as 1000
 * message objects first). It must be a valid encoding of the method's output.
 */
export class RawResponse {
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}

function codec(m: Method, raw: boolean) {
  return {
    requestSerialize: (v: MessageShape<DescMessage>) => Buffer.from(toBinary(m.input, v)),
    requestDeserialize: raw ? (b: Buffer) => new RawRequest(b) : (b: Buffer) => fromBinary(m.input, b),
    responseSerialize: (v: MessageShape<DescMessage> | RawResponse) =>
      v instanceof RawResponse ? Buffer.from(v.bytes.buffer, v.bytes.byteOffset, v.bytes.byteLength) : Buffer.from(toBinary(m.output, v)),
    responseDeserialize: (b: Buffer) => fromBinary(m.output, b),
  };
}

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown> | ServerReadableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/**
 * contextOf: the call's context. The signal aborts on 'cancelled' (which
 * grpc-js also emits when the deadline passes) and at the deadline itself;
 * `done()` must be called when the handler is finished (a late 'cancelled'
 * after a normal end is not a cancellation).
 */
function contextOf(call: AnyCall): { ctx: CallContext; done: () => void } {
  const abort = new AbortController();
  let finished = false;
  const onCancel = () => {
    if (!finished) abort.abort(new DatapathError('aborted', 'the call was cancelled'));
  };
  (call as NodeJS.EventEmitter).on('cancelled', onCancel);
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  const deadline = Number.isFinite(ms) ? ms : undefined;
  let timer: NodeJS.Timeout | undefined;
  if (deadline !== undefined) {
    timer = setTimeout(() => {
      if (!finished) abort.abort(new DatapathError('aborted', 'deadline exceeded'));
    }, Math.max(0, deadline - Date.now()));
    timer.unref();
  }
  return {
    ctx: { signal: abort.signal, deadline, metadata: call.metadata, peer: call.getPeer() },
    done: () => {
      finished = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** abortCode: the status of a call that went away: its deadline passed, or it was cancelled. */
function abortCode(ctx: CallContext): number {
  return ctx.deadline !== undefined && Date.now() >= ctx.deadline ? status.DEADLINE_EXCEEDED : status.CANCELLED;
}

/** untilAborted: p, or a rejection as soon as the signal aborts. */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

/** requests: the call's messages, one pulled at a time; ends (throws) at once when the call is aborted. */
async function* requests<T>(call: ServerReadableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>, signal: AbortSignal): AsyncGenerator<T> {
  const it = (call as AsyncIterable<T>)[Symbol.asyncIterator]();
  for (;;) {
    const r = await untilAborted(it.next(), signal);
    if (r.done) return;
    yield r.value;
  }
}

/** writeAll: writes every item, waiting for 'drain' (or the abort) whenever grpc-js's buffer is full. */
async function writeAll(
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  items: Iterable<Init<DescMessage>> | AsyncIterable<Init<DescMessage>>,
  m: Method,
  signal: AbortSignal,
): Promise<boolean> {
  for await (const item of items) {
    if (signal.aborted) return false;
    if (!call.write(item instanceof RawResponse ? item : create(m.output, item))) await untilAborted(new Promise((r) => call.once('drain', r)), signal);
  }
  return !signal.aborted;
}

export function grpcService<S extends DescService>(
  service: S,
  handlers: Handlers<S>,
  log: Logger,
  /** methods (localName) whose unary handler gets a RawRequest in place of the decoded message */
  rawRequests: readonly string[] = [],
  metrics?: CallMetrics,
): { definition: ServiceDefinition; implementation: UntypedServiceImplementation } {
  const definition: Record<string, ServiceDefinition[string]> = {};
  const implementation: UntypedServiceImplementation = {};
  const h = handlers as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const m of service.methods) {
    const path = `/${service.typeName}/${m.name}`;
    const handler = h[m.localName];
    if (!handler) throw new Error(`no handler for ${path}`);
    const fail = (err: unknown) => {
      const se = toServiceError(err);
      if (se.code === status.INTERNAL) log.error({ err, method: path }, 'call failed');
      else log.debug({ method: path, code: se.code, message: se.message }, 'call refused');
      return se;
    };
    const type = METHOD_TYPES[m.methodKind];
    metrics?.method(service.typeName, m.name, type);
    const start = (): ((code: number) => void) => metrics?.started(service.typeName, m.name, type) ?? (() => undefined);
    const requestStream = m.methodKind === 'client_streaming' || m.methodKind === 'bidi_streaming';
    const responseStream = m.methodKind === 'server_streaming' || m.methodKind === 'bidi_streaming';
    definition[m.name] = { path, requestStream, responseStream, originalName: m.localName, ...codec(m, !requestStream && rawRequests.includes(m.localName)) };

    if (!responseStream) {
      implementation[m.name] = (call: ServerUnaryCall<unknown, unknown> | ServerReadableStream<unknown, unknown>, cb: sendUnaryData<unknown>) => {
        const t0 = performance.now();
        const end = start();
        const { ctx, done } = contextOf(call);
        const input = requestStream ? requests(call as ServerReadableStream<unknown, unknown>, ctx.signal) : (call as ServerUnaryCall<unknown, unknown>).request;
        Promise.resolve()
          .then(() => handler(input, ctx))
          .then((out) => {
            done();
            end(status.OK);
            cb(null, create(m.output, out as Init<DescMessage>));
            if (log.isLevelEnabled('debug')) log.debug({ method: path, ms: +(performance.now() - t0).toFixed(3) }, 'call ok');
          })
          .catch((err: unknown) => {
            const cancelled = ctx.signal.aborted;
            done();
            const se = fail(err);
            // counted as what the client saw: the call it gave up on, not the handler's abort
            end(cancelled ? abortCode(ctx) : se.code);
            cb(se);
          });
      };
    } else {
      implementation[m.name] = (call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>) => {
        const end = start();
        const { ctx, done } = contextOf(call);
        const input = requestStream ? requests(call as ServerDuplexStream<unknown, unknown>, ctx.signal) : (call as ServerWritableStream<unknown, unknown>).request;
        (async () => {
          const items = handler(input, ctx) as Iterable<Init<DescMessage>> | AsyncIterable<Init<DescMessage>>;
          const complete = await writeAll(call, items, m, ctx.signal);
          done();
          end(complete ? status.OK : abortCode(ctx));
          if (complete) call.end();
        })().catch((err: unknown) => {
          const cancelled = ctx.signal.aborted;
          done();
          // a cancelled call has no one to tell
          if (!cancelled) {
            const se = fail(err);
            end(se.code);
            call.emit('error', se);
          } else {
            end(abortCode(ctx));
            log.debug({ method: path, reason: String(ctx.signal.reason) }, 'stream cancelled');
          }
        });
      };
    }
  }
  return { definition: definition as ServiceDefinition, implementation };
}
