/**
 * route-cost: what a route lookup costs per packet as the table grows,
 * before and after the host-route hashes (layout v4), with 1k / 100k / 1M
 * routes whose destinations are spread inside the table. The XDP entry is
 * timed with BPF_PROG_TEST_RUN on a 60-byte IPv4/UDP frame forwarded
 * between two vifs of VRF 1:
 *
 * - after: this build (vr_xdp.o, layout v4) on a datapath the daemon's
 *   manager programs: a /32 goes to the vr_host4 hash, another prefix to
 *   the vr_rt4 trie; the program looks up the hash, then the trie.
 * - before: the v3 build of the same source (vr_xdp_v3.o: the trie only)
 *   loaded on the same vifs, next hops and counters but tries of its own,
 *   filled with the same routes as LPM entries.
 *
 * Two tables: `host`, N /32s scattered over 10.0.0.0/8 (an agent's pod
 * routes); `prefix`, N /24s scattered over 16.0.0.0/4 (a /24-heavy table:
 * the trie in both builds, so "after" pays a hash miss first). Both
 * builds are measured in every sample, alternating which goes first.
 *
 * Two figures per row, as bench/flow-cost.ts takes them:
 * - hot: one destination of the table over and over (calls of 254 runs of
 *   a TTL-255 frame, every call's verdict checked): the lookup's
 *   instructions with its memory in the cache;
 * - spread: one run per call, each call another destination of the table
 *   (SPREAD_CALLS random ones per sample): the cache and TLB misses of a
 *   big table. A call's time includes the kernel timer's reads, alike for
 *   both builds.
 *
 * Runs in a network namespace of its own (`unshare --net`, started by
 * run.ts): its veths (never up) and pins touch nothing else.
 *
 *   unshare --net node bench/route-cost.ts --bpffs-dir DIR [--routes 1000,100000,1000000] [--samples 7] [--after OBJ]
 *
 * Progress on stderr; prints one JSON line (RouteCost). DIR is removed before exit.
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { BpfMap } from '../src/bpf/map.ts';
import { BpfProgram } from '../src/bpf/program.ts';
import { BpfLink } from '../src/bpf/link.ts';
import { BpfObject } from '../src/bpf/object.ts';
import { ifindexOf } from '../src/bpf/netdev.ts';
import { openDatapath } from '../src/maps/pinned-datapath.ts';
import { DatapathManager } from '../src/manager/datapath-manager.ts';
import { vifSpec } from '../src/manager/model.ts';
import { kernelOf } from '../src/maps/kernel.ts';
import { RouteBatch, RoutePack } from '../src/maps/tables/route-pack.ts';
import { parseMac } from '../src/manager/net-addr.ts';
import { udp4Frame } from './frame.ts';
import { median, progress, timed } from './util.ts';

const AFTER = fileURLToPath(new URL('../bpf/build/vr_xdp.o', import.meta.url));
const BEFORE = fileURLToPath(new URL('../bpf/build/vr_xdp_v3.o', import.meta.url));
const TTL = 255;
const REPEAT = TTL - 1;
/** hot: runs per sample (in calls of REPEAT) */
const HOT_RUNS = 500_000;
/** spread: calls of one run per sample, each to another destination of the table */
const SPREAD_CALLS = 20_000;
const CHUNK = 100_000;
const VRF = 1;
const NH = 12;
const XDP_REDIRECT = 4;

export type TableKind = 'host' | 'prefix';
export type Build = 'before' | 'after';

export interface RouteCostRow {
  kind: TableKind;
  routes: number;
  /** medians over the samples, ns per packet */
  hotNs: Record<Build, number>;
  spreadNs: Record<Build, number>;
  samples: Record<Build, { hot: number[]; spread: number[] }>;
  /** kernel memory of the maps holding the table (fdinfo memlock), per build; undefined where the kernel does not say */
  memlockBytes: Record<Build, number | undefined>;
  fillSeconds: Record<Build, number>;
}

export interface RouteCost {
  frameBytes: number;
  /** max-routes of every map (the same at every size, as a deployment's would be) */
  maxRoutes: number;
  samples: number;
  hotRuns: number;
  repeat: number;
  spreadCalls: number;
  /** the two objects measured */
  objects: Record<Build, string>;
  /** memlock of the empty maps: vr_host4 + vr_rt4 (after), vr_rt4 (before) */
  emptyMemlockBytes: Record<Build, number | undefined>;
  rows: RouteCostRow[];
}

const { values: a } = parseArgs({
  options: {
    'bpffs-dir': { type: 'string' },
    routes: { type: 'string', default: '1000,100000,1000000' },
    samples: { type: 'string', default: '7' },
    kinds: { type: 'string', default: 'host,prefix' },
    after: { type: 'string', default: AFTER },
  },
});
const dir = a['bpffs-dir'];
if (!dir) throw new Error('--bpffs-dir is required');
const sizes = a.routes.split(',').map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 1 << 22)) throw new Error(`--routes ${a.routes}: want integers in 1..${1 << 22}`);
const kinds = a.kinds.split(',') as TableKind[];
if (kinds.some((k) => k !== 'host' && k !== 'prefix')) throw new Error(`--kinds ${a.kinds}: want host and/or prefix`);
const samples = Number(a.samples);
const maxRoutes = Math.max(...sizes) + 1024;

/* ---- the tables: route i of a kind as a u32 address, a pure function of i ---- */

/** scatter: i → a distinct 24-bit number for i < 2^24 (an odd multiplier is a bijection mod 2^24) */
const scatter = (i: number, bits: number) => Math.imul(i, 0x9e3779b1) & ((1 << bits) - 1);
/** the route's address (network order as a u32) and the measured destination inside it */
function routeOf(kind: TableKind, i: number): { addr: number; plen: number; dst: number } {
  if (kind === 'host') {
    const addr = ((10 << 24) | scatter(i, 24)) >>> 0;
    return { addr, plen: 32, dst: addr };
  }
  const addr = (((16 << 24) + (scatter(i, 20) << 8)) | 0) >>> 0;
  return { addr, plen: 24, dst: (addr | (1 + (i % 254))) >>> 0 };
}
const ipOf = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** memlock: a map's kernel memory as the kernel accounts it */
function memlock(m: BpfMap): number | undefined {
  const line = /^memlock:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${m.fd}`, 'utf8'));
  return line ? Number(line[1]) : undefined;
}
/** lpmPack: every route of a batch as an LPM entry (what the v3 trie holds: host routes too) */
function lpmPack(b: RouteBatch): RoutePack {
  const all = new RoutePack('rt4', b.size);
  for (const p of [b.packs.rt4, b.packs.host4]) for (let i = 0; i < p.count; i++) all.pushFrom(p, i);
  return all;
}

const sum = (xs: (number | undefined)[]) => (xs.some((x) => x === undefined) ? undefined : xs.reduce((s: number, x) => s + x!, 0));

/* ---- timing ---- */

function hotNs(prog: BpfProgram, frame: Buffer, ifindex: number): number {
  const calls = Math.ceil(HOT_RUNS / REPEAT);
  let ns = 0;
  for (let c = 0; c < calls; c++) {
    const r = prog.testRun({ data: frame, ingressIfindex: ifindex, repeat: REPEAT });
    if (r.retval !== XDP_REDIRECT) throw new Error(`${prog.name}: verdict ${r.retval}, want ${XDP_REDIRECT} (the frame was not forwarded)`);
    ns += r.durationNs * REPEAT;
  }
  return ns / (calls * REPEAT);
}

function spreadNs(prog: BpfProgram, frames: Buffer[], ifindex: number): number {
  let ns = 0;
  for (const f of frames) {
    const r = prog.testRun({ data: f, ingressIfindex: ifindex });
    if (r.retval !== XDP_REDIRECT) throw new Error(`${prog.name}: verdict ${r.retval}, want ${XDP_REDIRECT} (a destination of the table was not forwarded)`);
    ns += r.durationNs;
  }
  return ns / frames.length;
}

try {
  for (const [x, y] of [['p1', 'q1'], ['p2', 'q2'], ['p3', 'q3']]) execFileSync('ip', ['link', 'add', x!, 'type', 'veth', 'peer', 'name', y!]);
  const dp = openDatapath({ bpffsRoot: dir, instance: 'dp', objectPath: a.after, sizes: { maxInterfaces: 64, maxNextHops: 1024, maxRoutes } });
  const mgr = new DatapathManager(kernelOf(dp), { maxVrfs: 4096 }, pino({ level: 'silent' }));
  await mgr.load();
  const vif = (index: number, name: string) =>
    mgr.addInterface(vifSpec({ index, type: 'virtual', name, vrf: VRF, mac: parseMac(`02:00:00:00:0${index}:01`, 'mac'), hookPolicy: 'xdp' }));
  await vif(1, 'p1');
  await vif(2, 'p2');
  await mgr.addNextHop({ id: NH, vrf: VRF, kind: 'encap', encap: { vifIndex: 2, dmac: parseMac('02:aa:00:00:00:02', 'mac'), smac: undefined } });
  // before: the v3 build on the same vifs, next hops and counters, with tries of its own
  const shared = Object.fromEntries(Object.entries(dp.maps).filter(([n]) => !['vr_rt4', 'vr_rt6', 'vr_host4', 'vr_host6'].includes(n)));
  const v3 = BpfObject.load(BEFORE, { maxEntries: { vr_rt4: maxRoutes, vr_rt6: maxRoutes }, reuseFds: Object.fromEntries(Object.entries(shared).map(([n, m]) => [n, m.fd])) });
  const beforeTrie = new BpfMap(v3.mapFd('vr_rt4'), `${BEFORE}:vr_rt4`);
  const progs: Record<Build, BpfProgram> = { before: new BpfProgram(v3.progFd('vr_xdp_vif'), 'vr_xdp_vif (v3)', BEFORE), after: dp.xdp };
  // a test run of a program that is attached nowhere goes through an indirect call, and each
  // repeated run adds it to the XDP dispatcher and removes it (~24 ms): attached natively on a
  // spare veth, the v3 build is called the way the v4 one (on the vifs' veths) is
  const anchor = BpfLink.attachXdpUnpinned(progs.before.fd, ifindexOf('p3')!, 'native');
  const p1 = ifindexOf('p1');
  const [dstMac, srcMac] = [parseMac('02:00:00:00:01:01', 'mac'), parseMac('02:aa:00:00:00:01', 'mac')];
  const frameTo = (dst: number) => udp4Frame({ dstMac, srcMac, srcIp: '10.255.255.1', dstIp: ipOf(dst), ttl: TTL });
  const afterMaps = [dp.maps.vr_host4, dp.maps.vr_rt4];
  const out: RouteCost = {
    frameBytes: frameTo(0x0a000001).length, maxRoutes, samples, hotRuns: Math.ceil(HOT_RUNS / REPEAT) * REPEAT, repeat: REPEAT, spreadCalls: SPREAD_CALLS,
    objects: { before: BEFORE, after: a.after },
    emptyMemlockBytes: { before: memlock(beforeTrie), after: sum(afterMaps.map(memlock)) },
    rows: [],
  };
  for (const kind of kinds)
    for (const n of sizes) {
      progress(`lookup: ${n} ${kind === 'host' ? '/32' : '/24'} routes into each build's maps`);
      const batches = async (fn: (b: RouteBatch) => Promise<unknown>) => {
        for (let from = 0; from < n; from += CHUNK) {
          const b = new RouteBatch(Math.min(CHUNK, n - from));
          for (let i = from; i < Math.min(n, from + CHUNK); i++) {
            const r = routeOf(kind, i);
            b.pushV4(VRF, r.addr, r.plen, NH, 0);
          }
          await fn(b);
        }
      };
      // after: through the manager, as the daemon writes them; before: every route as an LPM entry of the v3 trie
      const fillAfter = await timed(() => batches((b) => mgr.addRoutes(b)));
      const fillBefore = await timed(() =>
        batches(async (b) => {
          const all = lpmPack(b);
          beforeTrie.updateBatch(all.keys, all.values, all.count);
        }),
      );
      if (beforeTrie.count() !== n) throw new Error(`before: ${beforeTrie.count()} of ${n} routes in the v3 trie`);
      const row: RouteCostRow = {
        kind, routes: n,
        hotNs: { before: 0, after: 0 }, spreadNs: { before: 0, after: 0 },
        samples: { before: { hot: [], spread: [] }, after: { hot: [], spread: [] } },
        memlockBytes: { before: memlock(beforeTrie), after: sum(afterMaps.map(memlock)) },
        fillSeconds: { before: fillBefore, after: fillAfter },
      };
      const hot = frameTo(routeOf(kind, n >> 1).dst);
      progress(`lookup: timing ${samples} samples per build (hot: ${out.hotRuns} runs; spread: ${SPREAD_CALLS} destinations)`);
      for (let s = 0; s < samples; s++) {
        const spread = Array.from({ length: SPREAD_CALLS }, () => frameTo(routeOf(kind, Math.floor(Math.random() * n)).dst));
        const order: Build[] = s % 2 ? ['after', 'before'] : ['before', 'after'];
        for (const build of order) {
          row.samples[build].hot.push(hotNs(progs[build], hot, p1));
          row.samples[build].spread.push(spreadNs(progs[build], spread, p1));
        }
      }
      for (const build of ['before', 'after'] as const) {
        row.hotNs[build] = median(row.samples[build].hot);
        row.spreadNs[build] = median(row.samples[build].spread);
      }
      const dropped = mgr.dropStats().filter((d) => d.packets > 0n);
      if (dropped.length) throw new Error(`drops during the runs: ${dropped.map((d) => `${d.name} ${d.packets}`).join(', ')}`);
      progress(`lookup: ${kind} ${n}: hot ${row.hotNs.before.toFixed(1)} -> ${row.hotNs.after.toFixed(1)} ns, spread ${row.spreadNs.before.toFixed(0)} -> ${row.spreadNs.after.toFixed(0)} ns`);
      out.rows.push(row);
      // emptied for the next size: the same keys out of both builds' maps
      await batches((b) => mgr.deleteRoutes(b));
      await batches(async (b) => {
        const all = lpmPack(b);
        beforeTrie.deleteBatch(all.keys, all.count);
      });
      if (mgr.routes.count(4) !== 0 || beforeTrie.count() !== 0) throw new Error('lookup: routes left after the delete');
    }
  anchor.close();
  v3.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
