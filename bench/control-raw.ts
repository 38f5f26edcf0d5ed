/**
 * The raw kernel limit of route programming: tight bpf_map_update_batch
 * loops on the datapath's own IPv4 maps, each route in the map the daemon
 * puts it in (layout v4: the /32s in the vr_host4 hash, the other prefixes
 * in the vr_rt4 trie), in a throwaway datapath pinned under the bench's
 * bpffs directory (loaded, never attached). Keys and values are encoded
 * before the clock starts, so what is timed is the syscalls and the
 * kernel's inserts, nothing of JS.
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { openDatapath } from '../src/maps/pinned-datapath.ts';
import { encodeRouteKey, encodeRt, RT4_KEY_SIZE, RT_VALUE_SIZE } from '../src/maps/codecs.ts';
import type { BpfMap } from '../src/bpf/map.ts';
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

interface Packed {
  keys: Buffer;
  values: Buffer;
  count: number;
  keySize: number;
}

/** encodeRoutes: the packed keys and values of routes as the daemon writes them: host routes (hash keys) and prefixes (LPM keys) */
export function encodeRoutes(routes: readonly RouteInit[]): { host: Packed; trie: Packed } {
  const HOST_KEY = RT4_KEY_SIZE - 4; // the LPM key without its prefixlen
  const pack = (keySize: number): Packed => ({ keys: Buffer.alloc(keySize * routes.length), values: Buffer.alloc(RT_VALUE_SIZE * routes.length), count: 0, keySize });
  const host = pack(HOST_KEY);
  const trie = pack(RT4_KEY_SIZE);
  const key = Buffer.alloc(RT4_KEY_SIZE);
  for (const r of routes) {
    const p = v4(r.prefix);
    const to = p.plen === 32 ? host : trie;
    encodeRouteKey({ vrf: r.vrf, ...p }, key);
    key.copy(to.keys, to.count * to.keySize, RT4_KEY_SIZE - to.keySize);
    encodeRt({ nhId: r.nextHopId, flags: 0, plen: p.plen, label: 0 }, to.values, to.count * RT_VALUE_SIZE);
    to.count++;
  }
  return { host, trie };
}

/**
 * measureRaw: inserts every route with updateBatch in calls of each batch
 * size (one updateBatch call per `batch` routes), then removes them with
 * deleteBatch (timed too); the datapath directory is removed at the end.
 */
export function measureRaw(bpffsDir: string, routes: readonly RouteInit[], batches: readonly number[]): RawResult[] {
  const n = routes.length;
  const { host, trie } = encodeRoutes(routes);
  const out: RawResult[] = [];
  try {
    const dp = openDatapath({ bpffsRoot: bpffsDir, instance: 'raw', objectPath: OBJECT, sizes: { maxInterfaces: 64, maxNextHops: 1024, maxRoutes: n + 16 } });
    try {
      const parts: [BpfMap, Packed][] = [[dp.maps.vr_host4, host], [dp.maps.vr_rt4, trie]];
      const time = (name: string, batch: number, fn: (map: BpfMap, p: Packed, at: number, count: number) => void) => {
        const t0 = performance.now();
        for (const [map, p] of parts) for (let at = 0; at < p.count; at += batch) fn(map, p, at, Math.min(batch, p.count - at));
        const seconds = (performance.now() - t0) / 1000;
        progress(`${name}: ${n} routes in ${seconds.toFixed(3)} s`);
        out.push({ name, routes: n, batch, seconds, perSecond: n / seconds });
      };
      for (const batch of batches) {
        time(`bpf_map_update_batch, ${batch} per call`, batch, (map, p, at, count) =>
          map.updateBatch(p.keys.subarray(at * p.keySize), p.values.subarray(at * RT_VALUE_SIZE), count),
        );
        const inMaps = parts.reduce((a, [map]) => a + map.count(), 0);
        if (inMaps !== n) throw new Error(`raw: ${inMaps} of ${n} routes in the maps`);
        time(`bpf_map_delete_batch, ${batch} per call`, batch, (map, p, at, count) => map.deleteBatch(p.keys.subarray(at * p.keySize), count));
      }
    } finally {
      dp.close();
    }
  } finally {
    rmSync(bpffsDir, { recursive: true, force: true });
  }
  return out;
}
