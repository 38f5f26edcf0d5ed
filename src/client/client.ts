/**
 * VrouterClient: a small typed client of the vrouter.ebpf.v1 API, in the
 * shape the agent uses: one promise per unary call, an async iterable per
 * stream. Used by the demo, the tests and the benchmarks.
 */
import { credentials, makeGenericClientConstructor, type CallOptions, type ChannelCredentials, type Client, type ClientDuplexStream, type ServiceError, Metadata } from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type DescService, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { InterfaceService } from '../gen/vrouter/ebpf/v1/interface_pb.js';
import { NextHopService } from '../gen/vrouter/ebpf/v1/nexthop_pb.js';
import { RouteService } from '../gen/vrouter/ebpf/v1/route_pb.js';
import { StatsService } from '../gen/vrouter/ebpf/v1/stats_pb.js';
import { DiagnosticsService } from '../gen/vrouter/ebpf/v1/diagnostics_pb.js';
import { SystemService } from '../gen/vrouter/ebpf/v1/system_pb.js';
import { ProgramService } from '../gen/vrouter/ebpf/v1/program_pb.js';
import { FlowService } from '../gen/vrouter/ebpf/v1/flow_pb.js';
import { PacketService } from '../gen/vrouter/ebpf/v1/packet_pb.js';
import { MplsService } from '../gen/vrouter/ebpf/v1/mpls_pb.js';
import { VxlanService } from '../gen/vrouter/ebpf/v1/vxlan_pb.js';
import { BridgeService } from '../gen/vrouter/ebpf/v1/bridge_pb.js';
import { ProgramStream, type ProgramStreamOptions } from './program-stream.ts';

type Unary<I extends DescMessage, O extends DescMessage> = (req: MessageInitShape<I>) => Promise<MessageShape<O>>;
/** Streaming: options (e.g. `{}`: no deadline, for a watch that runs until cancelled) replace the client's deadline */
type Streaming<I extends DescMessage, O extends DescMessage> = (req: MessageInitShape<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>;
/** Bidi: the raw grpc-js duplex stream (write messages made with create(), read answers); no deadline unless given. */
export type Bidi<I extends DescMessage, O extends DescMessage> = (metadata?: Metadata, options?: CallOptions) => ClientDuplexStream<MessageShape<I>, MessageShape<O>>;

export type ServiceClient<S extends DescService> = {
  [K in keyof S['method']]: S['method'][K] extends { methodKind: 'unary'; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? Unary<I, O>
    : S['method'][K] extends { methodKind: 'server_streaming'; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? Streaming<I, O>
      : S['method'][K] extends { methodKind: 'bidi_streaming'; input: infer I extends DescMessage; output: infer O extends DescMessage }
        ? Bidi<I, O>
        : never;
};

/**
 * ClientTls: TLS to a daemon's grpc-tcp listener: the CA that signed the
 * server's certificate (default: the system's roots) and, for mTLS, this
 * client's certificate and key (PEM).
 */
export interface ClientTls {
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
}

export interface ClientOptions {
  /** absent: plaintext (the unix socket, or a TCP listener started with --grpc-tcp-insecure-plaintext) */
  tls?: ClientTls | undefined;
}

function channelCredentials(o: ClientOptions): ChannelCredentials {
  if (!o.tls) return credentials.createInsecure();
  return credentials.createSsl(o.tls.ca ?? null, o.tls.key ?? null, o.tls.cert ?? null);
}

function serviceClient<S extends DescService>(svc: S, address: string, deadlineMs: number, creds: ChannelCredentials): { client: Client; api: ServiceClient<S> } {
  const def: Record<string, unknown> = {};
  for (const m of svc.methods) {
    def[m.localName] = {
      path: `/${svc.typeName}/${m.name}`,
      requestStream: m.methodKind === 'bidi_streaming' || m.methodKind === 'client_streaming',
      responseStream: m.methodKind === 'server_streaming' || m.methodKind === 'bidi_streaming',
      requestSerialize: (v: MessageShape<DescMessage>) => Buffer.from(toBinary(m.input, v)),
      requestDeserialize: (b: Buffer) => fromBinary(m.input, b),
      responseSerialize: (v: MessageShape<DescMessage>) => Buffer.from(toBinary(m.output, v)),
      responseDeserialize: (b: Buffer) => fromBinary(m.output, b),
    };
  }
  const Ctor = makeGenericClientConstructor(def as never, svc.typeName);
  const client = new Ctor(address, creds) as unknown as Client & Record<string, (...a: unknown[]) => unknown>;
  const api: Record<string, unknown> = {};
  for (const m of svc.methods) {
    const fn = client[m.localName]!.bind(client);
    if (m.methodKind === 'unary') {
      api[m.localName] = (req: MessageInitShape<DescMessage>) =>
        new Promise((resolve, reject) =>
          fn(create(m.input, req), new Metadata(), (deadlineMs ? { deadline: Date.now() + deadlineMs } : {}), (err: ServiceError | null, res: unknown) =>
            err ? reject(err) : resolve(res),
          ),
        );
    } else if (m.methodKind === 'bidi_streaming') {
      api[m.localName] = (metadata?: Metadata, options?: CallOptions) => fn(metadata ?? new Metadata(), options ?? {});
    } else {
      api[m.localName] = (req: MessageInitShape<DescMessage>, options?: CallOptions) =>
        fn(create(m.input, req), new Metadata(), options ?? (deadlineMs ? { deadline: Date.now() + deadlineMs } : {})) as AsyncIterable<unknown>;
    }
  }
  return { client, api: api as ServiceClient<S> };
}

export class VrouterClient {
  readonly interfaces: ServiceClient<typeof InterfaceService>;
  readonly nextHops: ServiceClient<typeof NextHopService>;
  readonly routes: ServiceClient<typeof RouteService>;
  readonly stats: ServiceClient<typeof StatsService>;
  readonly diagnostics: ServiceClient<typeof DiagnosticsService>;
  readonly system: ServiceClient<typeof SystemService>;
  readonly program: ServiceClient<typeof ProgramService>;
  readonly flows: ServiceClient<typeof FlowService>;
  readonly packets: ServiceClient<typeof PacketService>;
  /** the MPLS label table */
  readonly mpls: ServiceClient<typeof MplsService>;
  /** the VNI table */
  readonly vxlan: ServiceClient<typeof VxlanService>;
  readonly bridge: ServiceClient<typeof BridgeService>;
  private readonly clients: Client[] = [];
  private readonly address: string;
  private readonly deadlineMs: number;
  private readonly creds: ChannelCredentials;

  /** address: "unix:/run/vrouter-ebpf/default.sock" or "host:port"; deadlineMs 0: no deadline; opts.tls for a TLS listener */
  constructor(address: string, deadlineMs = 30_000, opts: ClientOptions = {}) {
    this.address = address;
    this.deadlineMs = deadlineMs;
    this.creds = channelCredentials(opts);
    const mk = <S extends DescService>(svc: S) => this.service(svc);
    this.interfaces = mk(InterfaceService);
    this.nextHops = mk(NextHopService);
    this.routes = mk(RouteService);
    this.stats = mk(StatsService);
    this.diagnostics = mk(DiagnosticsService);
    this.system = mk(SystemService);
    this.program = mk(ProgramService);
    this.flows = mk(FlowService);
    this.packets = mk(PacketService);
    this.mpls = mk(MplsService);
    this.vxlan = mk(VxlanService);
    this.bridge = mk(BridgeService);
  }

  /**
   * service: a client of any service of the same daemon, given its
   * descriptor (e.g. one found in the generated code at run time); closed
   * with the others by close().
   */
  service<S extends DescService>(svc: S): ServiceClient<S> {
    const { client, api } = serviceClient(svc, this.address, this.deadlineMs, this.creds);
    this.clients.push(client);
    return api;
  }

  /** programStream: a new programming stream with a coalescing client on top (see ProgramStream). */
  programStream(opts: ProgramStreamOptions = {}): ProgramStream {
    return new ProgramStream(this.program.program(opts.metadata, opts.callOptions), opts);
  }

  /** waitReady: resolves once the server answers, or rejects after timeoutMs. */
  waitReady(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.clients[0]!.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())),
    );
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

/** collect: an async iterable into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
