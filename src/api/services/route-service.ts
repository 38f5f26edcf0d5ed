/** RouteService: per-VRF IPv4/IPv6 routes. */
import { RawRequest, RawResponse, type Handlers } from '../grpc-adapter.ts';
import { RT4_KEY_SIZE, RT6_KEY_SIZE } from '../../maps/codecs.ts';
import { decodeRouteBatch, encodeRouteChunk } from '../convert/route-wire.ts';
import { RouteService } from '../../gen/vrouter/ebpf/v1/route_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import { invalid } from '../../manager/errors.ts';
import { parseIp } from '../../manager/net-addr.ts';
import { CHUNK, breathe } from '../../manager/command-queue.ts';
import type { Route, RouteKey } from '../../manager/model.ts';
import { locate } from '../convert/locate.ts';
import { ROUTE_RENAMES, routeFromProto, routeKeyFromProto, routeToProto } from '../convert/route.ts';

const MAX_CHUNK = 10_000;

/** the batch calls read their (possibly huge) requests from the wire themselves: see convert/route-wire.ts */
export const ROUTE_RAW_REQUESTS = ['addRoutes', 'deleteRoutes'] as const;

export function routeHandlers(mgr: DatapathManager): Handlers<typeof RouteService> {
  const at = (path: string) => () => path;
  return {
    async addRoute(req) {
      const r = routeFromProto(req.route, 'route.');
      await locate(() => mgr.addRoutes([r]), at('route.'), ROUTE_RENAMES);
      return {};
    },
    async addRoutes(req) {
      if (req instanceof RawRequest) {
        const b = await decodeRouteBatch(req.bytes, 'routes');
        return { added: await locate(() => mgr.addRoutes(b), (i) => `routes[${i ?? 0}].`, ROUTE_RENAMES) };
      }
      if (!req.routes.length) throw invalid('routes', 'at least one route is required');
      // parsed a chunk at a time: a 100k-route batch does not hold the event loop for its whole parse
      const specs: Route[] = new Array(req.routes.length);
      for (let i = 0; i < specs.length; i++) {
        specs[i] = routeFromProto(req.routes[i], `routes[${i}].`);
        if (i % CHUNK === CHUNK - 1) await breathe();
      }
      return { added: await locate(() => mgr.addRoutes(specs), (i) => `routes[${i ?? 0}].`, ROUTE_RENAMES) };
    },
    async updateRoute(req) {
      const r = routeFromProto(req.route, 'route.');
      await locate(() => mgr.updateRoute(r), at('route.'), ROUTE_RENAMES);
      return {};
    },
    async deleteRoute(req) {
      const k = routeKeyFromProto(req, '');
      await locate(() => mgr.deleteRoutes([k]), at(''), ROUTE_RENAMES);
      return {};
    },
    async deleteRoutes(req) {
      if (req instanceof RawRequest) {
        const b = await decodeRouteBatch(req.bytes, 'keys');
        return { deleted: await locate(() => mgr.deleteRoutes(b), (i) => `keys[${i ?? 0}].`, ROUTE_RENAMES) };
      }
      if (!req.keys.length) throw invalid('keys', 'at least one key is required');
      const keys: RouteKey[] = new Array(req.keys.length);
      for (let i = 0; i < keys.length; i++) {
        keys[i] = routeKeyFromProto(req.keys[i]!, `keys[${i}].`);
        if (i % CHUNK === CHUNK - 1) await breathe();
      }
      return { deleted: await locate(() => mgr.deleteRoutes(keys), (i) => `keys[${i ?? 0}].`, ROUTE_RENAMES) };
    },
    getRoute(req) {
      const k = routeKeyFromProto(req, '');
      return { route: routeToProto(locate(() => mgr.routes.get(k), at(''), ROUTE_RENAMES)) };
    },
    lookupRoute(req) {
      const ip = parseIp(req.address, 'address');
      return { route: routeToProto(locate(() => mgr.routes.lookup(req.vrf, ip.bytes), at(''), ROUTE_RENAMES)) };
    },
    *listRoutes(req) {
      if (req.chunkSize > MAX_CHUNK) throw invalid('chunk_size', `${req.chunkSize} is out of range (0..${MAX_CHUNK})`);
      let n = 0;
      if (req.chunkSize) {
        // chunks encoded straight from the maps' bytes (host keys as LPM keys): no object per route
        for (const family of [4, 6] as const) {
          const keySize = family === 4 ? RT4_KEY_SIZE : RT6_KEY_SIZE;
          for (const c of mgr.routes.table.scanPacked(family, req.chunkSize)) {
            const m = encodeRouteChunk(c.keys, c.values, c.count, keySize, req.vrf);
            n += m.routes;
            if (m.routes) yield new RawResponse(m.bytes) as never;
          }
        }
      } else
        for (const chunk of mgr.routes.list(req.vrf, 1024)) {
          n += chunk.length;
          for (const r of chunk) yield { route: routeToProto(r) };
        }
      mgr.bulk(n); // a big listing leaves garbage too
    },
  };
}
