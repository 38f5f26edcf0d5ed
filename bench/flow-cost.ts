/**
 * flow-cost: what an established flow costs per packet against the plain
 * route path, with 1k / 100k / 1M flows in vr_flows. One datapath, one
 * route, the same 60-byte IPv4/UDP frame through two vifs of VRF 1: vif 1
 * without policy (the plain path: route, next hop, rewrite) and vif 3 with
 * policy (the flow path: L4 parse, a vr_flows lookup by VRF + 5-tuple that
 * finds a FORWARD entry, the route, the flow's counters). Both entries
 * (vr_xdp_vif, vr_tc_vif) are timed with BPF_PROG_TEST_RUN, the plain path
 * in the same sample as the flow path at every table size.
 *
 * Two figures per row:
 * - hot: the frame's own flow over and over (the kernel's mean of a
 *   `repeat` loop): bucket and entry stay in the L1 cache, so this is the
 *   flow stage's instructions, not the table's size.
 * - spread: one run per call, each call a different flow of the table
 *   (SPREAD_CALLS random ones per sample): the lookup pays its cache misses
 *   as traffic over many flows does. A call's time includes the kernel
 *   timer's own reads (~tens of ns), on both paths alike: compare the
 *   difference, or the ratio within the column.
 *
 * The kernel reruns the program on the same buffer without restoring it,
 * so a `repeat` of 10^6 would forward the first 63 runs (the TTL runs down
 * in place) and measure TTL-exceeded drops after that. Hence a frame with
 * TTL 255 and calls of 254 runs, every call's verdict checked (the last
 * run of each forwards at TTL 2).
 *
 * Runs in a network namespace of its own (`unshare --net`, started by
 * run.ts): its veths (never up) and pins touch nothing else.
 *
 *   unshare --net node bench/flow-cost.ts --bpffs-dir DIR --flows 1000,100000,1000000 --samples 7
 *
 * Progress on stderr; prints one JSON line (FlowCost). DIR is removed before exit.
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { BpfMap } from '../src/bpf/map.ts';
import type { BpfProgram } from '../src/bpf/program.ts';
import { ifindexOf } from '../src/bpf/netdev.ts';
import { openDatapath } from '../src/maps/pinned-datapath.ts';
import { DatapathManager } from '../src/manager/datapath-manager.ts';
import { vifSpec } from '../src/manager/model.ts';
import { kernelOf } from '../src/maps/kernel.ts';
import { FLOW, FLOW_KEY } from '../src/maps/codecs.ts';
import { FlowActionCode } from '../src/maps/layout.ts';
import { parseMac, parsePrefix } from '../src/manager/net-addr.ts';
import { udp4Frame } from './frame.ts';
import { median, progress, timed } from './util.ts';

const OBJECT = fileURLToPath(new URL('../bpf/build/vr_xdp.o', import.meta.url));
/** the measured frame's TTL, and so the most runs of one call that all forward */
const TTL = 255;
const REPEAT = TTL - 1;
/** hot: runs per sample (in calls of REPEAT) */
const HOT_RUNS = 1_000_000;
/** spread: calls of one run per sample, each on another flow */
const SPREAD_CALLS = 20_000;
/** keys per updateBatch / deleteBatch call */
const CHUNK = 10_000;
const VRF = 1;
const SRC = '10.10.1.2';
const DST = '10.10.2.2';
const XDP_REDIRECT = 4;
const TC_ACT_REDIRECT = 7;

export type FlowHook = 'xdp' | 'tc';

export interface FlowHookRow {
  hook: FlowHook;
  /** medians over the samples, ns per packet */
  plainNs: number;
  flowNs: number;
  spreadPlainNs: number;
  spreadFlowNs: number;
  /** each sample, in the same order */
  samples: { plain: number[]; flow: number[]; spreadPlain: number[]; spreadFlow: number[] };
}

export interface FlowSizeRow {
  /** entries in vr_flows while measured, the measured frame's own included */
  flows: number;
  fillSeconds: number;
  deleteSeconds: number;
  /** the map's kernel memory (fdinfo memlock), undefined where the kernel does not say */
  memlockBytes: number | undefined;
  hooks: FlowHookRow[];
}

export interface FlowCost {
  frameBytes: number;
  /** vr_flows max_entries */
  maxFlows: number;
  samples: number;
  /** hot: runs per sample and runs per call */
  hotRuns: number;
  repeat: number;
  spreadCalls: number;
  /** vr_flows memlock with no entry */
  emptyMemlockBytes: number | undefined;
  rows: FlowSizeRow[];
}

const { values: a } = parseArgs({
  options: { 'bpffs-dir': { type: 'string' }, flows: { type: 'string', default: '1000,100000,1000000' }, samples: { type: 'string', default: '7' } },
});
const dir = a['bpffs-dir'];
if (!dir) throw new Error('--bpffs-dir is required');
const sizes = a.flows.split(',').map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--flows ${a.flows}: want positive integers`);
const samples = Number(a.samples);
const maxFlows = Math.max(...sizes) + 4096;

/* ---- the table's keys: a pure function of the index, so that the same keys can be deleted and sampled ---- */

/** fmix32 (MurmurHash3's finalizer): the ports of key i */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * tuple: flow i's source and ports. The source is 10.0.0.0/8 + an odd
 * multiple of i mod 2^24 (a bijection: distinct for i < 2^24) and the ports
 * are >= 1024, so no key equals another or the measured frame's (ports 9).
 * Every key goes to DST: the spread frames take the plain path's route too.
 */
function tuple(i: number): { src: number; sport: number; dport: number } {
  const h = mix(i + 1);
  return { src: ((10 << 24) | (Math.imul(i, 0x9e3779b1) & 0xffffff)) >>> 0, sport: 1024 + ((h >>> 16) % 64512), dport: 1024 + ((h & 0xffff) % 64512) };
}

const dstBytes = Buffer.alloc(16);
Buffer.from(DST.split('.').map(Number)).copy(dstBytes);
const srcScratch = Buffer.alloc(16);

function encodeKey(src: number, sport: number, dport: number, into: Buffer, at: number): void {
  srcScratch.writeUInt32BE(src, 0);
  FLOW_KEY.encode({ vrf: VRF, family: 4, proto: 17, sport, dport, src: srcScratch, dst: dstBytes }, into, at);
}

const ipOf = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
/** the measured frame's source as a number (its ports are 9 and 9) */
const SRC_N = SRC.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);

/** forEachChunk: the keys of flows 0..n-2 and the measured frame's, CHUNK at a time */
function forEachChunk(n: number, fn: (keys: Buffer, count: number) => void): void {
  const keys = Buffer.alloc(CHUNK * FLOW_KEY.size);
  let count = 0;
  const flush = () => {
    fn(keys, count);
    count = 0;
  };
  encodeKey(SRC_N, 9, 9, keys, count++ * FLOW_KEY.size); // the measured frame's
  for (let i = 0; i < n - 1; i++) {
    const t = tuple(i);
    encodeKey(t.src, t.sport, t.dport, keys, count++ * FLOW_KEY.size);
    if (count === CHUNK) flush();
  }
  if (count) flush();
}

/** memlock: the map's kernel memory as the kernel accounts it (a hash map without preallocation: its live entries) */
function memlock(m: BpfMap): number | undefined {
  const line = /^memlock:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${m.fd}`, 'utf8'));
  return line ? Number(line[1]) : undefined;
}

/* ---- timing ---- */

function hotNs(prog: BpfProgram, frame: Buffer, ifindex: number, want: number): number {
  const calls = Math.ceil(HOT_RUNS / REPEAT);
  let ns = 0;
  for (let c = 0; c < calls; c++) {
    const r = prog.testRun({ data: frame, ingressIfindex: ifindex, repeat: REPEAT });
    if (r.retval !== want) throw new Error(`${prog.name}: verdict ${r.retval}, want ${want} (the frame was not forwarded)`);
    ns += r.durationNs * REPEAT;
  }
  return ns / (calls * REPEAT);
}

function spreadNs(prog: BpfProgram, frames: Buffer[], ifindex: number, want: number): number {
  let ns = 0;
  for (const f of frames) {
    const r = prog.testRun({ data: f, ingressIfindex: ifindex });
    if (r.retval !== want) throw new Error(`${prog.name}: verdict ${r.retval}, want ${want} (a flow of the table was not forwarded)`);
    ns += r.durationNs;
  }
  return ns / frames.length;
}

try {
  for (const [x, y] of [['p1', 'q1'], ['p2', 'q2'], ['p3', 'q3']]) execFileSync('ip', ['link', 'add', x!, 'type', 'veth', 'peer', 'name', y!]);
  const dp = openDatapath({ bpffsRoot: dir, instance: 'dp', objectPath: OBJECT, sizes: { maxInterfaces: 64, maxNextHops: 1024, maxRoutes: 64, maxFlows } });
  const mgr = new DatapathManager(kernelOf(dp), { maxVrfs: 4096 }, pino({ level: 'silent' }));
  await mgr.load();
  const vif = (index: number, name: string, policyEnabled: boolean) =>
    mgr.addInterface(vifSpec({ index, type: 'virtual', name, vrf: VRF, mac: parseMac(`02:00:00:00:0${index}:01`, 'mac'), hookPolicy: 'xdp', policyEnabled }));
  await vif(1, 'p1', false);
  await vif(2, 'p2', false);
  await vif(3, 'p3', true);
  await mgr.addNextHop({ id: 12, vrf: VRF, kind: 'encap', encap: { vifIndex: 2, dmac: parseMac('02:aa:00:00:00:02', 'mac'), smac: undefined } });
  const p = parsePrefix(`${DST}/32`, 'prefix');
  await mgr.addRoutes([{ vrf: VRF, addr: p.addr, plen: p.plen, nhId: 12, proxyArp: false }]);
  // no destination MAC check on a vif: the very same bytes go through both
  const [dstMac, srcMac] = [parseMac('02:00:00:00:01:01', 'mac'), parseMac('02:aa:00:00:00:01', 'mac')];
  const frameOf = (srcIp: string, sport = 9, dport = 9) => udp4Frame({ dstMac, srcMac, srcIp, dstIp: DST, ttl: TTL, sport, dport });
  const frame = frameOf(SRC);
  const [plainIf, flowIf] = [ifindexOf('p1'), ifindexOf('p3')];
  const hooks = [
    { hook: 'xdp' as const, prog: dp.xdp, want: XDP_REDIRECT },
    { hook: 'tc' as const, prog: dp.tc, want: TC_ACT_REDIRECT },
  ];
  const flows = dp.maps.vr_flows;
  const value = Buffer.alloc(CHUNK * FLOW.size);
  const forward = FLOW.encode({
    action: FlowActionCode.FORWARD, flags: 0, tcpFlags: 0, holdCount: 0, holdId: 0n, createdNs: 0n, lastNs: 0n, packets: 0n, bytes: 0n,
    natSrc: Buffer.alloc(16), natDst: Buffer.alloc(16), natSport: 0, natDport: 0,
  });
  for (let i = 0; i < CHUNK; i++) forward.copy(value, i * FLOW.size);
  const out: FlowCost = {
    frameBytes: frame.length, maxFlows, samples, hotRuns: Math.ceil(HOT_RUNS / REPEAT) * REPEAT, repeat: REPEAT, spreadCalls: SPREAD_CALLS,
    emptyMemlockBytes: memlock(flows), rows: [],
  };
  for (const n of sizes) {
    progress(`flows: filling vr_flows with ${n} FORWARD entries`);
    const fillSeconds = await timed(() => forEachChunk(n, (keys, count) => flows.updateBatch(keys, value, count)));
    const memlockBytes = memlock(flows);
    const rows = hooks.map(({ hook }): FlowHookRow => ({ hook, plainNs: 0, flowNs: 0, spreadPlainNs: 0, spreadFlowNs: 0, samples: { plain: [], flow: [], spreadPlain: [], spreadFlow: [] } }));
    progress(`flows: ${n} in the table (${((memlockBytes ?? 0) / 2 ** 20).toFixed(0)} MiB), timing ${samples} samples per path and hook`);
    for (let s = 0; s < samples; s++) {
      // each sample its own random flows of the table (the measured one among them for the smallest tables)
      const spread = Array.from({ length: SPREAD_CALLS }, () => {
        const i = Math.floor(Math.random() * n) - 1;
        if (i < 0) return frame;
        const t = tuple(i);
        return frameOf(ipOf(t.src), t.sport, t.dport);
      });
      for (const [h, { prog, want }] of hooks.entries()) {
        const r = rows[h]!.samples;
        // plain and flow alternate which goes first, so that a drift weighs on both
        const pair = [
          () => { r.plain.push(hotNs(prog, frame, plainIf, want)); r.spreadPlain.push(spreadNs(prog, spread, plainIf, want)); },
          () => { r.flow.push(hotNs(prog, frame, flowIf, want)); r.spreadFlow.push(spreadNs(prog, spread, flowIf, want)); },
        ];
        if (s % 2) pair.reverse();
        for (const run of pair) run();
      }
    }
    for (const row of rows) {
      const m = row.samples;
      Object.assign(row, { plainNs: median(m.plain), flowNs: median(m.flow), spreadPlainNs: median(m.spreadPlain), spreadFlowNs: median(m.spreadFlow) });
    }
    // proof that the flow path was the one measured: every hot run was counted on the measured flow
    const probe = Buffer.alloc(FLOW_KEY.size);
    encodeKey(SRC_N, 9, 9, probe, 0);
    const counted = FLOW.decode(flows.lookup(probe)!).packets;
    const hotTotal = BigInt(samples * hooks.length * out.hotRuns);
    if (counted < hotTotal) throw new Error(`the measured flow counted ${counted} packets, want at least ${hotTotal}`);
    const dropped = mgr.dropStats().filter((d) => d.packets > 0n);
    if (dropped.length) throw new Error(`drops during the runs: ${dropped.map((d) => `${d.name} ${d.packets}`).join(', ')}`);
    progress(`flows: emptying vr_flows`);
    const deleteSeconds = await timed(() => forEachChunk(n, (keys, count) => flows.deleteBatch(keys, count)));
    if (!flows.keys().next().done) throw new Error('vr_flows is not empty after the delete');
    out.rows.push({ flows: n, fillSeconds, deleteSeconds, memlockBytes, hooks: rows });
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
