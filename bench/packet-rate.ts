/**
 * Packet rate through the host namespace, pod1 -> pod2: a generator process
 * in pod1 (pktgen.ts) offers 60-byte UDP frames for a fixed time; an
 * XDP_DROP sink on pod2's eth0 counts what arrived. The same generator and
 * sink serve every path, so that only the forwarding in between differs.
 *
 * Generator, router and sink all run on the generator's CPU (veth NAPI runs
 * in the sender's softirq), so a path's time per packet includes the
 * generator's and the sink's. The "floor" run (sink on the host end of
 * pod1's veth, nothing forwarded) measures those, and a path's forwarding
 * cost is its time per packet minus the floor's: the method of
 * /work/shared/perf (there: generator + drop 47 ns, bare redirect +30 ns,
 * Linux forwarding +220 ns).
 */
import { join } from 'node:path';
import { rmSync, rmdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../lab/topology.ts';
import type { TwoPods } from '../lab/two-pods.ts';
import type { PktgenResult } from './pktgen.ts';
import type { BenchOptions } from './options.ts';
import { median, mpps, progress } from './util.ts';

const PKTGEN = fileURLToPath(new URL('pktgen.ts', import.meta.url));
const SINK = fileURLToPath(new URL('../bpf/build/tools/sink.o', import.meta.url));
const BPFFS_BENCH_ROOT = '/sys/fs/bpf/vrouter-ebpf-bench';

export interface PpsRun {
  offered: number;
  delivered: number;
  seconds: number;
  offeredPps: number;
  deliveredPps: number;
}

export interface PathResult {
  path: string;
  /** where delivered frames were counted */
  sink: string;
  runs: PpsRun[];
  medianPps: number;
  medianOfferedPps: number;
}

/**
 * Sink: where delivered frames are dropped and counted.
 *  - 'xdp' (the default): sink.o, XDP_DROP in native mode; delivered = its
 *    rx_queue_*_xdp_drops. Sees only what reaches the device's XDP hook:
 *    frames redirected into the veth or sent by the peer's stack, not an skb
 *    that bpf_redirect_peer hands straight to the device's ingress.
 *  - 'tc': a clsact qdisc with one cls_bpf direct-action filter, the classic
 *    BPF program `ret #2` (TC_ACT_SHOT: no object to build, no action
 *    module); delivered = the clsact qdisc's drop count. It sits where every
 *    path's frame ends up as an skb (stack, XDP redirect + GRO, or
 *    bpf_redirect_peer), so it counts the TC hook's deliveries and the XDP
 *    hook's alike.
 */
export interface Sink {
  ns: string;
  dev: string;
  kind?: 'xdp' | 'tc';
}

/** TC_ACT_SHOT (2) for every packet, as cls_bpf classic BPF bytecode (count, then code jt jf k) */
const TC_DROP_BYTECODE = '1,6 0 0 2';

/** benchBpffsDir: where the generators of one lab pin their program and map. */
export function benchBpffsDir(lab: Lab): string {
  return join(BPFFS_BENCH_ROOT, lab.prefix);
}

/** removeBenchBpffs: the generators' bpffs directories of one lab (and the root if now empty). */
export function removeBenchBpffs(lab: Lab): void {
  rmSync(benchBpffsDir(lab), { recursive: true, force: true });
  try {
    rmdirSync(BPFFS_BENCH_ROOT);
  } catch {
    // another bench run still uses it, or it is already gone
  }
}

export interface PacketResults {
  frameBytes: number;
  floor: PathResult;
  linux: PathResult;
  xdp: PathResult;
  /** the limit: a bare XDP redirect (bench/xdp-bare.ts) to the same sink (absent if not measured) */
  bare?: PathResult;
  /** xdp / linux delivered packet rate (medians) */
  ratio: number;
  /** xdp / bare delivered packet rate (medians): our XDP path as a share of the limit */
  shareOfBare?: number;
  /** 1e9 / median pps of each run kind */
  nsPerPacket: { floor: number; linux: number; xdp: number };
  /** what forwarding adds to the floor per packet, and linux's over xdp's */
  forwardingNs: { linux: number; xdp: number; ratio: number };
  /** the datapath's own view after the XDP runs */
  xdpDatapath: Record<string, unknown>;
  /** the same paths and the TC hook, every one counted by a TC sink in pod2 (absent if not measured) */
  tcSink?: TcSinkResults;
}

/** TcSinkResults: the rows counted by a 'tc' sink; their floor is the tc sink on pod1's host veth. */
export interface TcSinkResults {
  floor: PathResult;
  linux: PathResult;
  xdp: PathResult;
  tc: PathResult;
  /** the bare XDP redirect to the same TC sink (absent if not measured) */
  bare?: PathResult;
  /** vrouter-xdp / bare (medians) */
  xdpShareOfBare?: number;
  nsPerPacket: { floor: number; linux: number; xdp: number; tc: number };
  forwardingNs: { linux: number; xdp: number; tc: number };
  /** delivered packet rates (medians): tc / linux, xdp / linux, xdp / tc */
  ratios: { tcVsLinux: number; xdpVsLinux: number; xdpVsTc: number };
  /** the datapath's own view after the TC runs */
  tcDatapath: Record<string, unknown>;
}

const nsPer = (r: PathResult) => 1e9 / r.medianPps;

export function summarize(
  frameBytes: number, floor: PathResult, linux: PathResult, xdp: PathResult, xdpDatapath: Record<string, unknown>, bare?: PathResult,
): PacketResults {
  const nsPerPacket = { floor: nsPer(floor), linux: nsPer(linux), xdp: nsPer(xdp) };
  const fwd = { linux: nsPerPacket.linux - nsPerPacket.floor, xdp: nsPerPacket.xdp - nsPerPacket.floor };
  return {
    frameBytes,
    floor,
    linux,
    xdp,
    ...(bare ? { bare, shareOfBare: xdp.medianPps / bare.medianPps } : {}),
    ratio: xdp.medianPps / linux.medianPps,
    nsPerPacket,
    forwardingNs: { ...fwd, ratio: fwd.linux / fwd.xdp },
    xdpDatapath,
  };
}

export function summarizeTcSink(
  r: { floor: PathResult; linux: PathResult; xdp: PathResult; tc: PathResult; bare?: PathResult }, tcDatapath: Record<string, unknown>,
): TcSinkResults {
  const nsPerPacket = { floor: nsPer(r.floor), linux: nsPer(r.linux), xdp: nsPer(r.xdp), tc: nsPer(r.tc) };
  return {
    ...r,
    ...(r.bare ? { xdpShareOfBare: r.xdp.medianPps / r.bare.medianPps } : {}),
    nsPerPacket,
    forwardingNs: { linux: nsPerPacket.linux - nsPerPacket.floor, xdp: nsPerPacket.xdp - nsPerPacket.floor, tc: nsPerPacket.tc - nsPerPacket.floor },
    ratios: { tcVsLinux: r.tc.medianPps / r.linux.medianPps, xdpVsLinux: r.xdp.medianPps / r.linux.medianPps, xdpVsTc: r.xdp.medianPps / r.tc.medianPps },
    tcDatapath,
  };
}

export class PacketBench {
  private readonly lab: Lab;
  private readonly t: TwoPods;
  private readonly opts: BenchOptions;
  private generated = 0;

  constructor(lab: Lab, t: TwoPods, opts: BenchOptions) {
    this.lab = lab;
    this.t = t;
    this.opts = opts;
  }

  attachSink(s: Sink): void {
    if (s.kind === 'tc') {
      this.lab.exec(s.ns, 'tc', ['qdisc', 'add', 'dev', s.dev, 'clsact']);
      this.lab.exec(s.ns, 'tc', ['filter', 'add', 'dev', s.dev, 'ingress', 'bpf', 'da', 'bytecode', TC_DROP_BYTECODE]);
    } else this.lab.ip(s.ns, ['link', 'set', 'dev', s.dev, 'xdpdrv', 'obj', SINK, 'sec', 'xdp']);
  }

  detachSink(s: Sink): void {
    if (s.kind === 'tc') this.lab.exec(s.ns, 'tc', ['qdisc', 'del', 'dev', s.dev, 'clsact']);
    else this.lab.ip(s.ns, ['link', 'set', 'dev', s.dev, 'xdpdrv', 'off']);
  }

  /** delivered: frames the sink dropped so far (xdp: all rx queues; tc: the clsact qdisc). */
  private delivered(s: Sink): number {
    if (s.kind === 'tc') {
      const out = this.lab.exec(s.ns, 'tc', ['-s', '-j', 'qdisc', 'show', 'dev', s.dev]);
      const q = (JSON.parse(out) as { kind: string; drops?: number }[]).find((x) => x.kind === 'clsact');
      if (q?.drops === undefined) throw new Error(`no clsact qdisc with a drop count on ${s.dev} in ${s.ns}:\n${out}`);
      return q.drops;
    }
    const out = this.lab.exec(s.ns, 'ethtool', ['-S', s.dev]);
    const counts = [...out.matchAll(/rx_queue_\d+_xdp_drops:\s*(\d+)/g)].map((m) => Number(m[1]));
    if (!counts.length) throw new Error(`no rx_queue_*_xdp_drops counter on ${s.dev} in ${s.ns}:\n${out}`);
    return counts.reduce((a, b) => a + b, 0);
  }

  /** generate: one generator run in pod1, bounded by a kill timer. */
  private async generate(): Promise<PktgenResult> {
    const [pod1, pod2] = this.t.pods;
    const o = this.opts;
    const node = [
      process.execPath, PKTGEN,
      '--bpffs-dir', join(benchBpffsDir(this.lab), `gen${this.generated++}`),
      '--dst-mac', pod1.hostMac,
      '--src-ip', pod1.ip4,
      '--dst-ip', pod2.ip4,
      '--seconds', String(o.dur),
      '--repeat', String(o.repeat),
      '--batch', String(o.genBatch),
    ];
    const cmd = o.cpu === undefined ? node : ['taskset', '-c', String(o.cpu), ...node];
    const p = this.lab.spawnIn(pod1.ns, cmd[0]!, cmd.slice(1));
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    // node start-up and the program load come on top of the traffic time
    const kill = setTimeout(() => p.kill('SIGKILL'), (o.dur + 60) * 1000);
    const code = await new Promise<number | null>((resolve) => p.once('exit', (c) => resolve(c)));
    clearTimeout(kill);
    if (code !== 0) throw new Error(`pktgen exited with ${code ?? 'a signal'}:\n${stderr}${stdout}`);
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as PktgenResult;
  }

  /** measure: RUNS runs of DUR seconds through whatever forwards now to the sink; the label is for the report. */
  async measure(path: string, sink: Sink): Promise<PathResult> {
    const runs: PpsRun[] = [];
    for (let i = 0; i < this.opts.runs; i++) {
      const before = this.delivered(sink);
      const g = await this.generate();
      const delivered = this.delivered(sink) - before;
      const run = { offered: g.offered, delivered, seconds: g.seconds, offeredPps: g.offered / g.seconds, deliveredPps: delivered / g.seconds };
      runs.push(run);
      progress(`${path} run ${i + 1}/${this.opts.runs}: ${mpps(run.deliveredPps)} Mpps delivered, ${mpps(run.offeredPps)} offered`);
    }
    return {
      path,
      sink: `${sink.kind ?? 'xdp'}:${sink.dev}@${sink.ns}`,
      runs,
      medianPps: median(runs.map((r) => r.deliveredPps)),
      medianOfferedPps: median(runs.map((r) => r.offeredPps)),
    };
  }
}
