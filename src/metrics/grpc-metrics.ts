/**
 * GrpcMetrics: the API's calls the way go-grpc-prometheus counts them
 * (started, handled by status code, handling time), for the daemon's own
 * services. Every label comes from a fixed set: the services' methods, the
 * four method kinds and the 17 status codes; nothing per peer or request.
 * The adapter (src/api/grpc-adapter.ts) reports through its CallMetrics
 * interface and knows nothing of prom-client.
 */
import { status } from '@grpc/grpc-js';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { CallMetrics, MethodType } from '../api/grpc-adapter.ts';

/**
 * HANDLING_BUCKETS: seconds. A unary call takes well under a millisecond to
 * a few seconds (a 1M-route AddRoutes); a stream is timed over its whole
 * life, so watch streams land in the top buckets or +Inf.
 */
export const HANDLING_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** codeName: a status code as its name (OK, INVALID_ARGUMENT, ...), the label's only values */
export function codeName(code: number): string {
  return (status as unknown as Record<number, string>)[code] ?? 'UNKNOWN';
}

export class GrpcMetrics implements CallMetrics {
  private readonly startedTotal: Counter<'service' | 'method' | 'type'>;
  private readonly handledTotal: Counter<'service' | 'method' | 'type' | 'code'>;
  private readonly seconds: Histogram<'service' | 'method' | 'type'>;

  constructor(registry: Registry) {
    this.startedTotal = new Counter({
      name: 'vrouter_grpc_server_started_total',
      help: 'gRPC calls started on the daemon\'s services, by service, method and method type.',
      labelNames: ['service', 'method', 'type'],
      registers: [registry],
    });
    this.handledTotal = new Counter({
      name: 'vrouter_grpc_server_handled_total',
      help: 'gRPC calls finished, by service, method, method type and status code (a stream counts when it ends).',
      labelNames: ['service', 'method', 'type', 'code'],
      registers: [registry],
    });
    this.seconds = new Histogram({
      name: 'vrouter_grpc_server_handling_seconds',
      help: 'Time from a gRPC call\'s start to its status (a stream: its whole life), by service, method and method type.',
      labelNames: ['service', 'method', 'type'],
      buckets: HANDLING_BUCKETS,
      registers: [registry],
    });
  }

  /** method: a method the server serves; its series start at 0 (a rate() works from its first call) */
  method(service: string, method: string, type: MethodType): void {
    this.startedTotal.inc({ service, method, type }, 0);
    this.handledTotal.inc({ service, method, type, code: 'OK' }, 0);
  }

  started(service: string, method: string, type: MethodType): (code: number) => void {
    const t0 = performance.now();
    this.startedTotal.inc({ service, method, type });
    let ended = false;
    return (code) => {
      if (ended) return; // a call has one status
      ended = true;
      this.handledTotal.inc({ service, method, type, code: codeName(code) });
      this.seconds.observe({ service, method, type }, (performance.now() - t0) / 1000);
    };
  }
}
