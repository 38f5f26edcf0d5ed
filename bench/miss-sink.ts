/**
 * The flow-miss benchmark's sink (bpf/tools/pktgen_flows.c, vr_flowsink):
 * at tcx ingress of pod2's eth0 it counts and drops the generator's frames
 * that arrive there, i.e. the held packets the daemon re-injected once the
 * agent set their flow, with the first and last arrival and a histogram of
 * arrival - the frame's making (the generator's bpf_ktime_get_ns()); each
 * flow counted once (a bitmap by the frame's flow number: a second arrival
 * is a duplicate), and only flows from the one reset() names on.
 *
 * Attached by a process inside pod2's netns (ifindexes resolve there), which
 * pins the link and the two maps under DIR and exits:
 *
 *   node bench/miss-sink.ts --bpffs-dir DIR [--ifname eth0]
 *
 * MissSink then reads and resets the pinned maps from the bench process
 * (bpffs is global). Removing DIR detaches the sink.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import { BpfObject } from '../src/bpf/object.ts';
import { BpfLink } from '../src/bpf/link.ts';
import { BpfMap } from '../src/bpf/map.ts';
import { netdev } from '../src/bpf/netdev.ts';

const OBJECT = fileURLToPath(new URL('../bpf/build/tools/pktgen_flows.o', import.meta.url));

/** the histogram's shape: must match FS_SUB_BITS / FS_MAX_EXP in pktgen_flows.c */
const SUB_BITS = 5;
const SUB = 1 << SUB_BITS;
const MAX_EXP = 34;
export const SINK_BUCKETS = SUB + (MAX_EXP - SUB_BITS + 1) * SUB;
/** the histogram's unit: latency >> 10 */
const UNIT_NS = 1024;

/** struct fs_stats */
const STATS_FIELDS = ['count', 'firstNs', 'lastNs', 'latSumNs', 'latMaxNs', 'other', 'early', 'dups'] as const;
/** FS_SEEN_WORDS: u64 words of the per-flow bitmap */
const SEEN_WORDS = 1 << 16;

export interface SinkStats {
  /** frames of the counted flows that arrived (and were dropped there), each flow once */
  count: number;
  /** frames of a counted flow that had arrived already */
  dups: number;
  /** frames of earlier flows (a warm-up's) */
  early: number;
  /** CLOCK_MONOTONIC of the first and last of them, ns (decimal strings; "0": none) */
  firstNs: string;
  lastNs: string;
  /** arrival - made, µs: mean, percentiles from the histogram (each within 3 %), exact max */
  latencyUs: { mean: number; p50: number; p90: number; p99: number; max: number } | undefined;
  /** other frames that reached the sink (passed on) */
  other: number;
}

/** bucketMidNs: the middle of a histogram bucket, ns */
function bucketMidNs(i: number): number {
  if (i < SUB) return (i + 0.5) * UNIT_NS;
  const e = SUB_BITS + Math.floor((i - SUB) / SUB);
  const m = (i - SUB) % SUB;
  const width = 2 ** (e - SUB_BITS);
  return ((SUB + m) * width + width / 2) * UNIT_NS;
}

export class MissSink {
  private readonly stats: BpfMap;
  private readonly hist: BpfMap;

  /** open: the maps a sink attached under dir pinned */
  private readonly cfg: BpfMap;
  private readonly seen: BpfMap;

  constructor(dir: string) {
    this.stats = BpfMap.open(join(dir, 'fs_stats'));
    this.hist = BpfMap.open(join(dir, 'fs_hist'));
    this.cfg = BpfMap.open(join(dir, 'fs_cfg'));
    this.seen = BpfMap.open(join(dir, 'fs_seen'));
  }

  /** reset: every counter, bucket and seen bit to zero; flows below `first` are not counted from now on */
  reset(first: number): void {
    const key = Buffer.alloc(4);
    const v = Buffer.alloc(4);
    v.writeUInt32LE(first);
    this.cfg.update(key, v);
    this.stats.update(key, Buffer.alloc(8 * STATS_FIELDS.length));
    for (const [map, n] of [[this.hist, SINK_BUCKETS], [this.seen, SEEN_WORDS]] as const) {
      const keys = Buffer.alloc(4 * n);
      for (let i = 0; i < n; i++) keys.writeUInt32LE(i, 4 * i);
      map.updateBatch(keys, Buffer.alloc(8 * n), n);
    }
  }

  read(): SinkStats {
    const key = Buffer.alloc(4);
    const v = this.stats.lookup(key)!;
    const f = Object.fromEntries(STATS_FIELDS.map((name, i) => [name, v.readBigUInt64LE(8 * i)])) as Record<(typeof STATS_FIELDS)[number], bigint>;
    const count = Number(f.count);
    const buckets: number[] = [];
    for (let i = 0; i < SINK_BUCKETS; i++) {
      key.writeUInt32LE(i);
      buckets.push(Number(this.hist.lookup(key)!.readBigUInt64LE(0)));
    }
    const total = buckets.reduce((s, x) => s + x, 0);
    const maxUs = Number(f.latMaxNs) / 1000;
    // a bucket's middle, never above the exact maximum
    const pct = (q: number) => {
      const want = Math.ceil(q * total);
      let seen = 0;
      for (let i = 0; i < buckets.length; i++) if ((seen += buckets[i]!) >= want) return Math.min(maxUs, bucketMidNs(i) / 1000);
      return NaN;
    };
    return {
      count,
      dups: Number(f.dups),
      early: Number(f.early),
      firstNs: String(f.firstNs),
      lastNs: String(f.lastNs),
      latencyUs: total
        ? { mean: Number(f.latSumNs) / count / 1000, p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: maxUs }
        : undefined,
      other: Number(f.other),
    };
  }

  close(): void {
    for (const m of [this.stats, this.hist, this.cfg, this.seen]) m.close();
  }
}

/** attach: run inside pod2's netns; the link and maps pinned under dir */
function attach(dir: string, ifname: string): void {
  const dev = netdev(ifname);
  if (!dev) throw new Error(`miss-sink: no ${ifname} in this network namespace`);
  mkdirSync(dir, { recursive: true });
  const obj = BpfObject.load(OBJECT);
  try {
    for (const m of ['fs_stats', 'fs_hist', 'fs_cfg', 'fs_seen']) obj.pinMap(m, join(dir, m));
    BpfLink.attachTcx(obj.progFd('vr_flowsink'), dev.ifindex, join(dir, 'link')).close();
  } finally {
    obj.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: a } = parseArgs({ options: { 'bpffs-dir': { type: 'string' }, ifname: { type: 'string', default: 'eth0' } } });
  if (!a['bpffs-dir']) throw new Error('miss-sink: --bpffs-dir is required');
  attach(a['bpffs-dir'], a.ifname);
}
