/** RouteService: per-VRF IPv4/IPv6 routes. */
import type { Handlers } from '../grpc-adapter.ts';
import { RouteService } from '../../gen/vrouter/ebpf/v1/route_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import { invalid } from '../../manager/errors.ts';
import { routeToProto } from '../convert.ts';

export function routeHandlers(mgr: DatapathManager): Handlers<typeof RouteService> {
  return {
    addRoute(req) {
      if (!req.route) throw invalid('route', 'the route is required');
      mgr.addRoute(req.route);
      return {};
    },
    addRoutes(req) {
      if (!req.routes.length) throw invalid('routes', 'at least one route is required');
      return { added: mgr.addRoutes(req.routes).length };
    },
    updateRoute(req) {
      if (!req.route) throw invalid('route', 'the route is required');
      mgr.updateRoute(req.route);
      return {};
    },
    deleteRoute(req) {
      mgr.deleteRoute(req.vrf, req.prefix);
      return {};
    },
    deleteRoutes(req) {
      if (!req.keys.length) throw invalid('keys', 'at least one key is required');
      return { deleted: mgr.deleteRoutes(req.keys) };
    },
    getRoute(req) {
      return { route: routeToProto(mgr.getRoute(req.vrf, req.prefix)) };
    },
    lookupRoute(req) {
      return { route: routeToProto(mgr.lookupRoute(req.vrf, req.address)) };
    },
    *listRoutes(req) {
      for (const r of mgr.listRoutes(req.vrf)) yield { route: routeToProto(r) };
    },
  };
}
