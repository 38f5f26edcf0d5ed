/**
 * The control bench's route set and the small helpers around it: distinct
 * IPv4 /32s with one /24 in every 64 routes, alternating between two VRFs
 * and two next hops, and the request messages that carry them, built once
 * outside any timed section (a million route objects cost JS time too).
 */
import { readFileSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { AddRoutesRequestSchema, DeleteRoutesRequestSchema, type AddRoutesRequest, type DeleteRoutesRequest } from '../src/gen/vrouter/ebpf/v1/route_pb.js';

/** VRFs and next hops of the bench routes (the next hops are ENCAP ones on the bench vif) */
export const VRFS = [2, 3] as const;
export const NHS = [11, 12] as const;

export interface RouteInit {
  vrf: number;
  prefix: string;
  nextHopId: number;
  proxyArp: boolean;
}

/**
 * routeSet: n distinct routes (n < 2^22). Route i is a /24 in 11.0.0.0/8
 * when i % 64 == 63 (up to 65536 of them), else the /32 10.(64 + i>>16).x.y.
 * `base` shifts the /32s into 10.128.0.0/9 and the /24s into 12.0.0.0/8, for
 * a second set that never collides with the first.
 */
export function routeSet(n: number, base = 0): RouteInit[] {
  if (n >= 1 << 22) throw new Error(`routeSet: ${n} routes is more than this address plan holds`);
  const out = new Array<RouteInit>(n);
  for (let i = 0; i < n; i++) {
    let prefix: string;
    if ((i & 63) === 63) {
      const j = i >>> 6;
      prefix = `${11 + base}.${(j >>> 8) & 255}.${j & 255}.0/24`;
    } else prefix = `10.${64 + base * 64 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}/32`;
    out[i] = { vrf: VRFS[i & 1]!, prefix, nextHopId: NHS[(i >>> 1) & 1]!, proxyArp: false };
  }
  return out;
}

export function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** addRequests: the AddRoutes messages for routes in calls of `batch`, already built (create() returns a built message as is). */
export function addRequests(routes: readonly RouteInit[], batch: number): AddRoutesRequest[] {
  return chunks(routes, batch).map((c) => create(AddRoutesRequestSchema, { routes: c }));
}

export function deleteRequests(routes: readonly RouteInit[], batch: number): DeleteRoutesRequest[] {
  return chunks(routes, batch).map((c) => create(DeleteRoutesRequestSchema, { keys: c.map((r) => ({ vrf: r.vrf, prefix: r.prefix })) }));
}

export interface Mem {
  /** VmRSS and VmHWM of the process, in MiB */
  rssMiB: number;
  hwmMiB: number;
}

/** memOf: resident set (and its peak) of a process, from /proc/<pid>/status. */
export function memOf(pid: number): Mem {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(s);
    if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]) / 1024;
  };
  return { rssMiB: kb('VmRSS'), hwmMiB: kb('VmHWM') };
}

/** percentile: nearest-rank, of a sorted list (0 for an empty one) */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
