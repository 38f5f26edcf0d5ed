/**
 * The raw kernel limit of route programming: a tight bpf_map_update_batch
 * loop on the datapath's own IPv4 LPM map (vr_rt4), in a throwaway datapath
 * pinned under the bench's bpffs directory (loaded, never attached). Keys
 * and values are encoded before the clock starts, so what is timed is the
 * syscalls and the kernel's trie inserts, nothing of JS.
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { openDatapath } from '../src/maps/pinned-datapath.ts';
import { encodeRouteKey, encodeRt, RT4_KEY_SIZE, RT_VALUE_SIZE } from '../src/maps/codecs.ts';
import type { RouteInit } from './control-routes.ts';
import { progress } from './util.ts';

const OBJECT = fileURLToPath(new URL('../bpf/build/vr_xdp.o', import.meta.url));

export interface RawResult {
  name: string;
  routes: number;
  batch: number;
  seconds: number;
  perSecond: number;
}

function v4(prefix: string): { addr: Buffer; plen: number } {
  const [ip, len] = prefix.split('/');
  return { addr: Buffer.from(ip!.split('.').map(Number)), plen: Number(len) };
}

/** encode: the packed keys and values of routes, as the daemon writes them */
export function encodeRoutes(routes: readonly RouteInit[]): { keys: Buffer; values: Buffer } {
  const keys = Buffer.alloc(RT4_KEY_SIZE * routes.length);
  const values = Buffer.alloc(RT_VALUE_SIZE * routes.length);
  routes.forEach((r, i) => {
    const p = v4(r.prefix);
    encodeRouteKey({ vrf: r.vrf, ...p }, keys, i * RT4_KEY_SIZE);
    encodeRt({ nhId: r.nextHopId, flags: 0, plen: p.plen, label: 0 }, values, i * RT_VALUE_SIZE);
  });
  return { keys, values };
}

/**
 * measureRaw: inserts every route with updateBatch in calls of each batch
 * size (one updateBatch call per `batch` routes), then removes them with
 * deleteBatch (timed too); the datapath directory is removed at the end.
 */
export function measureRaw(bpffsDir: string, routes: readonly RouteInit[], batches: readonly number[]): RawResult[] {
  const n = routes.length;
  const { keys, values } = encodeRoutes(routes);
  const out: RawResult[] = [];
  try {
    const dp = openDatapath({ bpffsRoot: bpffsDir, instance: 'raw', objectPath: OBJECT, sizes: { maxInterfaces: 64, maxNextHops: 1024, maxRoutes: n + 16 } });
    try {
      const map = dp.maps.vr_rt4;
      const time = (name: string, batch: number, fn: (at: number, count: number) => void) => {
        const t0 = performance.now();
        for (let at = 0; at < n; at += batch) fn(at, Math.min(batch, n - at));
        const seconds = (performance.now() - t0) / 1000;
        progress(`${name}: ${n} routes in ${seconds.toFixed(3)} s`);
        out.push({ name, routes: n, batch, seconds, perSecond: n / seconds });
      };
      for (const batch of batches) {
        time(`bpf_map_update_batch, ${batch} per call`, batch, (at, count) =>
          map.updateBatch(keys.subarray(at * RT4_KEY_SIZE), values.subarray(at * RT_VALUE_SIZE), count),
        );
        const inMap = map.count();
        if (inMap !== n) throw new Error(`raw: ${inMap} of ${n} routes in the LPM map`);
        time(`bpf_map_delete_batch, ${batch} per call`, batch, (at, count) => map.deleteBatch(keys.subarray(at * RT4_KEY_SIZE), count));
      }
    } finally {
      dp.close();
    }
  } finally {
    rmSync(bpffsDir, { recursive: true, force: true });
  }
  return out;
}
