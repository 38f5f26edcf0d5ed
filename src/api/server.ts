/**
 * ApiServer: the grpc-js server with every service, health and reflection,
 * listening on a unix socket (stale socket replaced, mode and group as
 * configured) and, optionally, on TCP (TLS or mTLS; plaintext only when
 * asked for by name).
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type { Logger } from 'pino';
import { grpcService, type CallMetrics } from './grpc-adapter.ts';
import { InterfaceService } from '../gen/vrouter/ebpf/v1/interface_pb.js';
import { NextHopService } from '../gen/vrouter/ebpf/v1/nexthop_pb.js';
import { RouteService } from '../gen/vrouter/ebpf/v1/route_pb.js';
import { StatsService } from '../gen/vrouter/ebpf/v1/stats_pb.js';
import { SystemService } from '../gen/vrouter/ebpf/v1/system_pb.js';
import { ProgramService } from '../gen/vrouter/ebpf/v1/program_pb.js';
import { DiagnosticsService } from '../gen/vrouter/ebpf/v1/diagnostics_pb.js';
import { FlowService } from '../gen/vrouter/ebpf/v1/flow_pb.js';
import { MplsService } from '../gen/vrouter/ebpf/v1/mpls_pb.js';
import { VxlanService } from '../gen/vrouter/ebpf/v1/vxlan_pb.js';
import { BridgeService } from '../gen/vrouter/ebpf/v1/bridge_pb.js';
import { Health } from '../gen/health/v1/health_pb.js';
import { ServerReflection as ServerReflectionV1 } from '../gen/grpc/reflection/v1/reflection_pb.js';
import { ServerReflection as ServerReflectionV1alpha } from '../gen/grpc/reflection/v1alpha/reflection_pb.js';
import type { DatapathManager } from '../manager/datapath-manager.ts';
import { interfaceHandlers } from './services/interface-service.ts';
import { nextHopHandlers } from './services/nexthop-service.ts';
import { ROUTE_RAW_REQUESTS, routeHandlers } from './services/route-service.ts';
import { statsHandlers } from './services/stats-service.ts';
import { systemHandlers, type DaemonInfo } from './services/system-service.ts';
import { programHandlers } from './services/program-service.ts';
import { diagnosticsHandlers } from './services/diagnostics-service.ts';
import { flowHandlers } from './services/flow-service.ts';
import { mplsHandlers } from './services/mpls-service.ts';
import { vxlanHandlers } from './services/vxlan-service.ts';
import { bridgeHandlers } from './services/bridge-service.ts';
import type { FlowHub } from '../flows/hub.ts';
import type { KernelEvents } from '../netlink/kernel-events.ts';
import { PacketService } from '../gen/vrouter/ebpf/v1/packet_pb.js';
import { packetHandlers } from './services/packet-service.ts';
import type { PacketIo } from '../packets/packet-io.ts';

export const SERVICES: readonly DescService[] = [
  InterfaceService, NextHopService, RouteService, StatsService, SystemService, ProgramService, DiagnosticsService, FlowService,
  PacketService, MplsService, VxlanService, BridgeService,
];

/**
 * ApiExtras: the daemon's layers beside the manager that some services
 * need; a service whose layer is absent answers FAILED_PRECONDITION.
 */
export interface ApiExtras {
  /**
   * the flow-miss side (src/flows/): attached to the manager (flow writes
   * tell it what they resolved and deleted) and serving the watch streams
   */
  flows?: FlowHub | undefined;
  /** the packet interface (PacketService) */
  packets?: PacketIo | undefined;
  /** where every call's method, status code and duration are counted (/metrics) */
  calls?: CallMetrics | undefined;
  /** the rtnetlink events of the daemon's namespace (SystemService.WatchKernelEvents) */
  kernel?: KernelEvents | undefined;
}

/** the services grpc-js libraries implement for us, listed by reflection too */
const INFRA_SERVICES: readonly DescService[] = [Health, ServerReflectionV1, ServerReflectionV1alpha];

export interface ListenOptions {
  socketPath: string;
  /** the socket's permission bits (default 0660) */
  socketMode?: number | undefined;
  /** the socket's group (default: the daemon's) */
  socketGid?: number | undefined;
  /** host:port, e.g. 127.0.0.1:50051; empty for none */
  tcp: string;
  /** the TCP listener's credentials: TLS (see tls.ts), or insecure only when the daemon was told so */
  tcpCredentials?: ServerCredentials | undefined;
}

/** descriptorSet: every file the services need, dependencies first, as reflection wants them. */
function descriptorSet(services: readonly DescService[]): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    f.dependencies.forEach(visit);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
  };
  for (const s of services) visit(s.file);
  return out;
}

export class ApiServer {
  // batches (AddRoutes) may be large: 64 MiB holds about two million routes
  private readonly server = new Server({ 'grpc.max_receive_message_length': 64 << 20 });
  private readonly log: Logger;
  readonly health: HealthImplementation;
  private socketPath = '';

  constructor(mgr: DatapathManager, info: DaemonInfo, log: Logger, extras: ApiExtras = {}) {
    this.log = log;
    if (extras.flows) mgr.flows.hub = extras.flows;
    const add = <S extends DescService>(svc: S, handlers: Parameters<typeof grpcService<S>>[1], raw: readonly string[] = []) => {
      const { definition, implementation } = grpcService(svc, handlers, log, raw, extras.calls);
      this.server.addService(definition, implementation);
    };
    add(InterfaceService, interfaceHandlers(mgr));
    add(NextHopService, nextHopHandlers(mgr));
    add(RouteService, routeHandlers(mgr), ROUTE_RAW_REQUESTS);
    add(StatsService, statsHandlers(mgr));
    add(SystemService, systemHandlers(mgr, info, extras.kernel));
    add(ProgramService, programHandlers(mgr, { syncOrphanTimeoutMs: info.syncOrphanTimeoutMs ?? 60_000 }));
    add(DiagnosticsService, diagnosticsHandlers(mgr));
    add(FlowService, flowHandlers(mgr, extras.flows));
    add(PacketService, packetHandlers(extras.packets));
    add(MplsService, mplsHandlers(mgr));
    add(VxlanService, vxlanHandlers(mgr));
    add(BridgeService, bridgeHandlers(mgr));

    const statusMap: Record<string, 'SERVING'> = { '': 'SERVING' };
    for (const s of SERVICES) statusMap[s.typeName] = 'SERVING';
    this.health = new HealthImplementation(statusMap);
    this.health.addToServer(this.server);
    // reflection reads FileDescriptorProtos from a proto-loader-shaped
    // object; health and reflection themselves are listed too, so that
    // grpcurl / buf curl can call them with no .proto at hand
    const files = descriptorSet([...SERVICES, ...INFRA_SERVICES]).map((b) => Buffer.from(b));
    const pkg = { 'vrouter.ebpf.v1': { fileDescriptorProtos: files } };
    new ReflectionService(pkg as never).addToServer(this.server);
  }

  async listen(opts: ListenOptions): Promise<void> {
    mkdirSync(dirname(opts.socketPath), { recursive: true });
    if (existsSync(opts.socketPath)) {
      if (!lstatSync(opts.socketPath).isSocket()) throw new Error(`${opts.socketPath} exists and is not a socket; refusing to replace it`);
      unlinkSync(opts.socketPath); // a stale socket from a daemon that died
    }
    // the socket is born with the umask's bits (0755 under 022: nobody else may connect) until these apply
    await this.bind(`unix:${opts.socketPath}`, ServerCredentials.createInsecure());
    this.socketPath = opts.socketPath;
    if (opts.socketGid !== undefined) chownSync(opts.socketPath, -1, opts.socketGid);
    const mode = opts.socketMode ?? 0o660;
    chmodSync(opts.socketPath, mode);
    this.log.info({ socket: opts.socketPath, mode: `0${mode.toString(8)}`, gid: opts.socketGid }, 'listening on unix socket');
    if (opts.tcp) {
      const creds = opts.tcpCredentials ?? ServerCredentials.createInsecure();
      const port = await this.bind(opts.tcp, creds);
      this.log.info({ address: opts.tcp, port, tls: creds._isSecure() }, 'listening on tcp');
    }
  }

  private bind(address: string, creds: ServerCredentials): Promise<number> {
    return new Promise((resolve, reject) => this.server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port))));
  }

  /** stop: stops taking calls, lets running ones finish for up to graceMs. */
  async stop(graceMs = 2000): Promise<void> {
    this.health.setStatus('', 'NOT_SERVING');
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    if (this.socketPath && existsSync(this.socketPath)) unlinkSync(this.socketPath);
  }
}
