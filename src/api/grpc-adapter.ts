/**
 * grpcService: a grpc-js service definition and implementation from a
 * protobuf-es service descriptor and plain async handlers. Unary handlers
 * return the response; server-streaming handlers return an iterable of
 * responses. Every error becomes a status in toServiceError; INTERNAL is
 * logged at error level, the rest at debug.
 */
import {
  status,
  type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type ServiceDefinition, type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type DescService, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { toServiceError } from './status.ts';

type Method = DescService['methods'][number];
type Init<M extends DescMessage> = MessageInitShape<M>;

export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (req: MessageShape<I>) => Init<O> | Promise<Init<O>>;
export type StreamHandler<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  signal: AbortSignal,
) => Iterable<Init<O>> | AsyncIterable<Init<O>>;

/** Handlers: one function per method, keyed by the method's localName. */
export type Handlers<S extends DescService> = {
  [K in keyof S['method']]: S['method'][K] extends { methodKind: 'unary'; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? UnaryHandler<I, O>
    : S['method'][K] extends { methodKind: 'server_streaming'; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? StreamHandler<I, O>
      : never;
};

function codec(m: Method) {
  return {
    requestSerialize: (v: MessageShape<DescMessage>) => Buffer.from(toBinary(m.input, v)),
    requestDeserialize: (b: Buffer) => fromBinary(m.input, b),
    responseSerialize: (v: MessageShape<DescMessage>) => Buffer.from(toBinary(m.output, v)),
    responseDeserialize: (b: Buffer) => fromBinary(m.output, b),
  };
}

export function grpcService<S extends DescService>(
  service: S,
  handlers: Handlers<S>,
  log: Logger,
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
    if (m.methodKind === 'unary') {
      definition[m.name] = { path, requestStream: false, responseStream: false, originalName: m.localName, ...codec(m) };
      implementation[m.name] = (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
        const t0 = performance.now();
        Promise.resolve()
          .then(() => handler(call.request))
          .then((out) => {
            cb(null, create(m.output, out as Init<DescMessage>));
            if (log.isLevelEnabled('debug')) log.debug({ method: path, ms: +(performance.now() - t0).toFixed(3) }, 'call ok');
          })
          .catch((err: unknown) => cb(fail(err)));
      };
    } else if (m.methodKind === 'server_streaming') {
      definition[m.name] = { path, requestStream: false, responseStream: true, originalName: m.localName, ...codec(m) };
      implementation[m.name] = (call: ServerWritableStream<unknown, unknown>) => {
        const abort = new AbortController();
        // grpc-js may fire 'cancelled' after a normal end(); only a real cancel aborts
        let finished = false;
        call.on('cancelled', () => {
          if (!finished) abort.abort();
        });
        (async () => {
          const items = handler(call.request, abort.signal) as Iterable<Init<DescMessage>> | AsyncIterable<Init<DescMessage>>;
          for await (const item of items) {
            if (abort.signal.aborted) return;
            if (!call.write(create(m.output, item))) await new Promise((r) => call.once('drain', r));
          }
          finished = true;
          call.end();
        })().catch((err: unknown) => {
          finished = true;
          call.emit('error', fail(err));
        });
      };
    } else throw new Error(`${path}: ${m.methodKind} methods are not supported by this adapter`);
  }
  return { definition: definition as ServiceDefinition, implementation };
}
