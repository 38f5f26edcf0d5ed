/**
 * Route programming rate: IPv4 /32 routes through the gRPC API, one at a
 * time, many in flight, and in AddRoutes batches, against `ip -batch` into
 * a fresh namespace's FIB (netlink, one message per route: the usual way a
 * Linux agent programs the kernel). Each case uses its own prefixes and
 * deletes them afterwards, so every case starts from the same table.
 */
import type { Lab } from '../lab/topology.ts';
import { sh } from '../lab/topology.ts';
import type { VrouterClient } from '../src/client/client.ts';
import type { BenchOptions } from './options.ts';
import { progress, timed } from './util.ts';

/** VRF of the bench routes: apart from the pods' VRF 1, so that packets are unaffected */
const VRF = 2;
/** next hop 11 is pod1's ENCAP next hop (programTwoPods); any existing one would do */
const NH = 11;
const CHUNK = 1000;

export interface RateResult {
  name: string;
  routes: number;
  seconds: number;
  perSecond: number;
  /** perSecond over the ip -batch baseline's */
  vsBaseline?: number;
}

/** prefixes: n distinct /32s in 10.<second>.0.0 and up (n < 2^24). */
export function prefixes(second: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.${second + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}/32`);
}

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** inFlight: fn over every item with at most n calls pending (n = 1: sequential). */
async function inFlight<T>(n: number, items: T[], fn: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

async function deleteAll(client: VrouterClient, ps: string[]): Promise<void> {
  for (const c of chunks(ps, CHUNK)) await client.routes.deleteRoutes({ keys: c.map((prefix) => ({ vrf: VRF, prefix })) });
}

function rate(name: string, routes: number, seconds: number): RateResult {
  progress(`${name}: ${routes} routes in ${seconds.toFixed(2)} s`);
  return { name, routes, seconds, perSecond: routes / seconds };
}

/** apiCase: adds ps with `add`, times it, checks and removes the routes. */
async function apiCase(client: VrouterClient, name: string, ps: string[], add: (ps: string[]) => Promise<number>): Promise<RateResult> {
  let added = 0;
  const seconds = await timed(async () => (added = await add(ps)));
  if (added !== ps.length) throw new Error(`${name}: ${added} of ${ps.length} routes added`);
  await deleteAll(client, ps);
  return rate(name, ps.length, seconds);
}

/** ipBatch: the kernel FIB baseline, in a namespace of its own (a veth pair: the dummy module may be absent). */
export async function ipBatch(lab: Lab, ps: string[], nsName = 'fib'): Promise<RateResult> {
  const ns = lab.ns(nsName);
  lab.ip(ns, ['link', 'add', 'bench0', 'type', 'veth', 'peer', 'name', 'bench1']);
  for (const dev of ['bench0', 'bench1']) lab.ip(ns, ['link', 'set', dev, 'up']);
  const input = `${ps.map((p) => `route add ${p} dev bench0`).join('\n')}\n`;
  const seconds = await timed(() => sh('ip', ['-n', ns, '-batch', '-'], { input, timeoutMs: 300_000 }));
  // an address-less device has no connected route: the FIB holds exactly ours
  const n = Number(lab.exec(ns, 'sh', ['-c', 'ip -4 route show dev bench0 | wc -l']).trim());
  if (n !== ps.length) throw new Error(`ip -batch: ${n} of ${ps.length} routes in the FIB`);
  return rate('ip -batch (kernel FIB)', ps.length, seconds);
}

export async function measureRoutes(client: VrouterClient, lab: Lab, o: BenchOptions): Promise<RateResult[]> {
  const addOne = (prefix: string) => client.routes.addRoute({ route: { vrf: VRF, prefix, nextHopId: NH } });
  const addEach = (n: number) => async (ps: string[]) => {
    await inFlight(n, ps, addOne);
    return ps.length;
  };
  const addBatches = async (ps: string[]) => {
    let added = 0;
    for (const c of chunks(ps, o.routeBatch))
      added += (await client.routes.addRoutes({ routes: c.map((prefix) => ({ vrf: VRF, prefix, nextHopId: NH })) })).added;
    return added;
  };

  // warm-up: JIT of the client and daemon paths, not measured
  await apiCase(client, 'warm-up', prefixes(60, 2000), addEach(o.inflight));
  const results = [
    await apiCase(client, 'AddRoute, sequential', prefixes(64, o.routesSeq), addEach(1)),
    await apiCase(client, `AddRoute, ${o.inflight} in flight`, prefixes(72, o.routesConc), addEach(o.inflight)),
    await apiCase(client, `AddRoutes, batches of ${o.routeBatch}`, prefixes(80, o.routes), addBatches),
  ];
  const base = await ipBatch(lab, prefixes(80, o.routes));
  base.vsBaseline = 1;
  for (const r of results) r.vsBaseline = r.perSecond / base.perSecond;
  return [...results, base];
}
