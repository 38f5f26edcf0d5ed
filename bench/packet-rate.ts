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

/** Sink: an XDP_DROP program on one device, whose drop counter is the delivered count. */
export interface Sink {
  ns: string;
  dev: string;
}

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
  /** xdp / linux delivered packet rate (medians) */
  ratio: number;
  /** 1e9 / median pps of each run kind */
  nsPerPacket: { floor: number; linux: number; xdp: number };
  /** what forwarding adds to the floor per packet, and linux's over xdp's */
  forwardingNs: { linux: number; xdp: number; ratio: number };
  /** the datapath's own view after the XDP runs */
  xdpDatapath: Record<string, unknown>;
}

export function summarize(frameBytes: number, floor: PathResult, linux: PathResult, xdp: PathResult, xdpDatapath: Record<string, unknown>): PacketResults {
  const ns = (r: PathResult) => 1e9 / r.medianPps;
  const nsPerPacket = { floor: ns(floor), linux: ns(linux), xdp: ns(xdp) };
  const fwd = { linux: nsPerPacket.linux - nsPerPacket.floor, xdp: nsPerPacket.xdp - nsPerPacket.floor };
  return {
    frameBytes,
    floor,
    linux,
    xdp,
    ratio: xdp.medianPps / linux.medianPps,
    nsPerPacket,
    forwardingNs: { ...fwd, ratio: fwd.linux / fwd.xdp },
    xdpDatapath,
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
    this.lab.ip(s.ns, ['link', 'set', 'dev', s.dev, 'xdpdrv', 'obj', SINK, 'sec', 'xdp']);
  }

  detachSink(s: Sink): void {
    this.lab.ip(s.ns, ['link', 'set', 'dev', s.dev, 'xdpdrv', 'off']);
  }

  /** delivered: frames the sink dropped so far (all rx queues). */
  private delivered(s: Sink): number {
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
      sink: `${sink.dev}@${sink.ns}`,
      runs,
      medianPps: median(runs.map((r) => r.deliveredPps)),
      medianOfferedPps: median(runs.map((r) => r.offeredPps)),
    };
  }
}
