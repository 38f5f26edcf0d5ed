/**
 * vrctl health: grpc.health.v1.Health/Check over the unix socket, for
 * probes (Kubernetes exec probes, scripts). Exit 0 only when SERVING: an
 * unreachable daemon or any other status is exit 1, with the usual one line.
 */
import { toJson } from '@bufbuild/protobuf';
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus, HealthCheckResponse_ServingStatusSchema } from '../../gen/health/v1/health_pb.js';
import { printJson, type Command } from '../command.ts';

export const healthCommands: Command[] = [
  {
    path: ['health'],
    args: '[service]',
    nargs: [0, 1],
    summary: 'the daemon\'s gRPC health (grpc.health.v1 Check): exit 0 when SERVING, 1 otherwise',
    details: 'service: a full service name (vrouter.ebpf.v1.RouteService); none: the daemon as a whole.\n' +
      'For liveness / readiness probes: vrctl --timeout 5000 health',
    async run(ctx, args) {
      const res = await ctx.client().service(Health).check({ service: args[0] ?? '' });
      if (ctx.json) printJson(ctx, toJson(HealthCheckResponseSchema, res, { alwaysEmitImplicit: true }));
      else ctx.out(HealthCheckResponse_ServingStatusSchema.value[res.status]?.name ?? String(res.status));
      if (res.status !== HealthCheckResponse_ServingStatus.SERVING) throw new Error(`health: ${args[0] || 'the daemon'} is not serving`);
    },
  },
];
