/**
 * The overlay phase: pod → remote pod across two simulated hosts
 * (lab/multihost.ts: a namespace per host, an underlay router the kernel
 * runs, pods at MTU 1500, fabric at OVERLAY_FABRIC_MTU), the same traffic
 * through each path in the same run, each on a topology of its own built
 * for it and removed right after:
 *  - linux-vxlan: both hosts plain Linux routers with a vxlan device
 *    (lab/linux-vxlan.ts): the baseline;
 *  - vrouter-vxlan, vrouter-mplsoudp: a daemon per host programmed by
 *    programOverlay (lab/overlay-program.ts); measured only where this
 *    build has the tunnel API (else the results say why they are absent);
 *  - vrouter-local (TCP only): two pods behind one host through our TC
 *    path (lab/two-pods.ts): our own local figure, which the overlay's TCP
 *    is held to (≥ 90%).
 * Packet rate: the packet-rate phase's generator in pod 1 of host 1
 * (60-byte UDP, one flow), sinks on pod 1 of host 2 (xdp and tc, in turn);
 * our paths on the XDP hook, pods with GRO on and TX checksum off (what
 * XDP redirect into a veth needs; the Linux path gets the same pods).
 * TCP: iperf3 between the same pods, pods with the kernel's default
 * offloads, our paths on the TC hook (GSO kept through the tunnel).
 */
import type { Lab } from '../lab/topology.ts';
import { buildMultiHost, podOf, type MultiHost } from '../lab/multihost.ts';
import { enableLinuxVxlan } from '../lab/linux-vxlan.ts';
import { programOverlay } from '../lab/overlay-program.ts';
import { findTunnelApi, type Encap, type TunnelApi } from '../lab/tunnel-api.ts';
import { buildTwoPods, programTwoPods } from '../lab/two-pods.ts';
import { AttachHook } from '../src/gen/vrouter/ebpf/v1/interface_pb.js';
import type { BenchOptions } from './options.ts';
import type { Rigs } from './rigs.ts';
import { PacketBench, type PathResult, type Sink } from './packet-rate.ts';
import { setGro } from './linux-forwarding.ts';
import { iperf, type Ends, type TcpRun } from './tcp-rate.ts';
import { datapathView, requireHook } from './datapath-view.ts';
import { median, mpps, progress, table } from './util.ts';

export type OverlayPath = 'linux-vxlan' | 'vrouter-vxlan' | 'vrouter-mplsoudp';
export type OverlayTcpPath = OverlayPath | 'vrouter-local';
const OURS: Record<Exclude<OverlayPath, 'linux-vxlan'>, Encap> = { 'vrouter-vxlan': 'vxlan', 'vrouter-mplsoudp': 'mplsoudp' };

/** the goals of issue 9: packets ≥ 2× Linux vxlan; TCP ≥ Linux vxlan and ≥ 90% of our local pod → pod */
export const OVERLAY_GOALS = { ppsVsLinux: 2, tcpVsLinux: 1, tcpVsLocal: 0.9 } as const;

export interface OverlayPacketRow {
  path: OverlayPath;
  sink: 'xdp' | 'tc';
  result: PathResult;
  /** medianPps over linux-vxlan's with the same sink */
  vsLinux?: number;
}

export interface OverlayTcpRow {
  path: OverlayTcpPath;
  streams: number;
  runs: TcpRun[];
  medianGbps: number;
  medianCpuSecondsPerGbit: number;
  /** medianGbps over linux-vxlan's / vrouter-local's of the same stream count */
  vsLinux?: number;
  vsLocal?: number;
}

export interface OverlayResults {
  podMtu: number;
  fabricMtu: number;
  /** why our rows are absent (this build has no tunnel API), if they are */
  oursMissing?: string;
  packets: OverlayPacketRow[];
  tcp: OverlayTcpRow[];
  /** per topology: the path, the lab prefix and our daemons' own view afterwards */
  topologies: { path: OverlayTcpPath; kind: 'packets' | 'tcp'; prefix: string; datapath?: Record<string, unknown>[] }[];
}

type Topology = OverlayResults['topologies'][number];

/** overlay: a two-host topology with the path's forwarding in place */
async function overlay(rigs: Rigs, lab: Lab, path: OverlayPath, api: TunnelApi | undefined, o: BenchOptions, kind: 'packets' | 'tcp'): Promise<MultiHost> {
  const t = buildMultiHost(lab, { hosts: 2, offloads: kind === 'packets' ? 'xdp' : 'default', fabricMtu: o.overlayFabricMtu });
  const [p1, p2] = [podOf(t, 1), podOf(t, 2)];
  if (path === 'linux-vxlan') {
    enableLinuxVxlan(lab, t);
    if (kind === 'packets') {
      // the generator XDP-transmits into pod 1's veth: its host end takes such frames only with GRO (or XDP) on
      setGro(lab, t.hosts[0]!.ns, p1.hostIf, 'on');
      // the sinks drop ARP requests too: pod 2's neighbour entry is given
      lab.ip(t.hosts[1]!.ns, ['neigh', 'replace', p2.ip4, 'lladdr', p2.mac, 'dev', p2.hostIf, 'nud', 'permanent']);
    }
  } else {
    if (!api) throw new Error(`${path}: no tunnel API in this build`);
    const hook = kind === 'packets' ? AttachHook.XDP : AttachHook.TC;
    const daemons = await rigs.startHostDaemons(lab, t.hosts.map((h) => h.ns));
    await programOverlay(daemons.map((d) => d.client), t, OURS[path], api, { hook });
    for (const d of daemons) await requireHook(d.client!, hook);
  }
  // neighbours (the underlay's too) resolved before anything is measured
  lab.ping(p1.ns, p2.ip4, 2);
  return t;
}

async function ourView(rigs: Rigs, lab: Lab, topo: Topology): Promise<void> {
  const daemons = rigs.daemonsOf(lab);
  if (daemons.length) topo.datapath = await Promise.all(daemons.map((d) => datapathView(d.client!)));
}

async function packetRows(rigs: Rigs, path: OverlayPath, api: TunnelApi | undefined, o: BenchOptions, topologies: Topology[]): Promise<OverlayPacketRow[]> {
  const lab = rigs.lab('vrovp');
  const topo: Topology = { path, kind: 'packets', prefix: lab.prefix };
  topologies.push(topo);
  progress(`overlay packets ${path}: lab ${lab.prefix}`);
  const t = await overlay(rigs, lab, path, api, o, 'packets');
  const [p1, p2] = [podOf(t, 1), podOf(t, 2)];
  const bench = new PacketBench(lab, { host: t.hosts[0]!.ns, pods: [p1, p2] }, o);
  const rows: OverlayPacketRow[] = [];
  for (const kind of ['xdp', 'tc'] as const) {
    const sink: Sink = { ns: p2.ns, dev: 'eth0', kind };
    bench.attachSink(sink);
    const result = await bench.measure(`${path} (${kind} sink)`, sink);
    bench.detachSink(sink);
    const empty = result.runs.findIndex((r) => r.delivered <= 0);
    if (empty >= 0) throw new Error(`overlay ${path}: run ${empty + 1} delivered nothing to the ${kind} sink (offered ${result.runs[empty]!.offered})`);
    rows.push({ path, sink: kind, result: { ...result, path } });
  }
  await ourView(rigs, lab, topo);
  await rigs.release(lab);
  return rows;
}

/** tcpTopology: the path's topology for TCP; its iperf3 ends */
async function tcpTopology(rigs: Rigs, lab: Lab, path: OverlayTcpPath, api: TunnelApi | undefined, o: BenchOptions): Promise<Ends> {
  if (path === 'vrouter-local') {
    const t = buildTwoPods(lab, 1500, { offloads: 'default' });
    const daemon = await rigs.startDaemon(lab, t.host);
    await programTwoPods(daemon.client!, t, AttachHook.TC);
    await requireHook(daemon.client!, AttachHook.TC);
    return { client: t.pods[0].ns, server: t.pods[1].ns, serverIp: t.pods[1].ip4 };
  }
  const t = await overlay(rigs, lab, path, api, o, 'tcp');
  return { client: podOf(t, 1).ns, server: podOf(t, 2).ns, serverIp: podOf(t, 2).ip4 };
}

/**
 * measureOverlay: packet rows (each path, both sinks), then TCP rows: the
 * runs go round the paths (run 1 of each, then run 2, ...), each round on
 * fresh topologies, as in the tcp phase.
 */
export async function measureOverlay(rigs: Rigs, o: BenchOptions): Promise<OverlayResults> {
  const found = await findTunnelApi();
  const api = typeof found === 'string' ? undefined : found;
  const paths: OverlayPath[] = api ? ['linux-vxlan', 'vrouter-vxlan', 'vrouter-mplsoudp'] : ['linux-vxlan'];
  if (!api) progress(`overlay: our rows left out: ${found as string}`);
  const topologies: Topology[] = [];
  const packets: OverlayPacketRow[] = [];
  for (const path of paths) packets.push(...(await packetRows(rigs, path, api, o, topologies)));
  for (const row of packets) {
    const linux = packets.find((r) => r.path === 'linux-vxlan' && r.sink === row.sink);
    if (linux && row.path !== 'linux-vxlan') row.vsLinux = row.result.medianPps / linux.result.medianPps;
  }
  const tcpPaths: OverlayTcpPath[] = [...paths, 'vrouter-local'];
  const runs = new Map<string, TcpRun[]>();
  for (let i = 0; i < o.tcpRuns; i++)
    for (const path of tcpPaths) {
      const lab = rigs.lab('vrovt');
      const topo: Topology = { path, kind: 'tcp', prefix: lab.prefix };
      topologies.push(topo);
      progress(`overlay tcp ${path} run ${i + 1}/${o.tcpRuns}: lab ${lab.prefix}`);
      const ends = await tcpTopology(rigs, lab, path, api, o);
      for (const streams of o.tcpStreams) {
        const what = `overlay tcp ${path} -P ${streams} run ${i + 1}`;
        const r = await iperf(lab, ends, streams, o.tcpDur, what);
        runs.set(`${path}/${streams}`, [...(runs.get(`${path}/${streams}`) ?? []), r]);
        progress(`${what}: ${r.gbps.toFixed(2)} Gbit/s, ${r.retransmits} retransmits`);
      }
      await ourView(rigs, lab, topo);
      await rigs.release(lab);
    }
  const tcp: OverlayTcpRow[] = [];
  for (const streams of o.tcpStreams)
    for (const path of tcpPaths) {
      const rs = runs.get(`${path}/${streams}`)!;
      tcp.push({ path, streams, runs: rs, medianGbps: median(rs.map((r) => r.gbps)), medianCpuSecondsPerGbit: median(rs.map((r) => r.cpuSecondsPerGbit)) });
    }
  for (const row of tcp) {
    const base = (p: OverlayTcpPath) => tcp.find((b) => b.path === p && b.streams === row.streams)!.medianGbps;
    if (row.path !== 'linux-vxlan') row.vsLinux = row.medianGbps / base('linux-vxlan');
    if (row.path !== 'vrouter-local') row.vsLocal = row.medianGbps / base('vrouter-local');
  }
  return { podMtu: 1500, fabricMtu: o.overlayFabricMtu, ...(api ? {} : { oursMissing: found as string }), packets, tcp, topologies };
}

/** overlayBudgetSeconds: the phase's bound, for the bench's time budget */
export function overlayBudgetSeconds(o: BenchOptions): number {
  const paths = 3;
  return paths * 2 * o.runs * (o.dur + 20) + (paths + 1) * o.tcpRuns * (30 + o.tcpStreams.length * (o.tcpDur + 25));
}

/** formatOverlay: the phase's tables and goal lines */
export function formatOverlay(r: OverlayResults, o: { runs: unknown; dur: unknown; tcpDur: unknown; tcpRuns: unknown }): string[] {
  const x = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(2)}x`);
  const out = [`Overlay: pod (host 1) -> pod (host 2), two simulated hosts and an underlay router; pods MTU ${r.podMtu}, fabric MTU ${r.fabricMtu}`];
  if (r.oursMissing) out.push(`our rows absent: ${r.oursMissing}`);
  out.push(`packet rate: 60 B IPv4/UDP, median of ${String(o.runs)} x ${String(o.dur)} s; ours on the XDP hook`);
  out.push(table(
    ['path', 'sink', 'Mpps delivered', 'Mpps offered', 'ns/pkt', 'vs linux-vxlan', 'runs (Mpps delivered)'],
    r.packets.map((row) => [
      row.path, row.sink, mpps(row.result.medianPps), mpps(row.result.medianOfferedPps), (1e9 / row.result.medianPps).toFixed(0), x(row.vsLinux),
      row.result.runs.map((run) => mpps(run.deliveredPps)).join(' '),
    ]),
  ));
  out.push(`TCP: iperf3 -t ${String(o.tcpDur)}, median of ${String(o.tcpRuns)} run(s); pods with default offloads, ours on the TC hook; vrouter-local: two pods on one host through our TC path`);
  out.push(table(
    ['path', 'streams', 'Gbit/s', 'vs linux-vxlan', 'vs vrouter-local', 'CPU-s/Gbit', 'retransmits', 'runs (Gbit/s)'],
    r.tcp.map((row) => [
      row.path, String(row.streams), row.medianGbps.toFixed(2), x(row.vsLinux), x(row.vsLocal), row.medianCpuSecondsPerGbit.toFixed(3),
      String(Math.round(row.runs.reduce((a, run) => a + run.retransmits, 0) / row.runs.length)), row.runs.map((run) => run.gbps.toFixed(2)).join(' '),
    ]),
  ));
  const ours = (rows: { path: string }[]) => rows.filter((row) => row.path === 'vrouter-vxlan' || row.path === 'vrouter-mplsoudp');
  if (ours(r.packets).length) {
    const g = OVERLAY_GOALS;
    const pps = ours(r.packets) as OverlayPacketRow[];
    const tcp = ours(r.tcp) as OverlayTcpRow[];
    out.push(`goal packets >= ${g.ppsVsLinux}x linux-vxlan: met in ${pps.filter((row) => row.vsLinux! >= g.ppsVsLinux).length} of ${pps.length} rows`);
    out.push(`goal TCP >= linux-vxlan and >= ${g.tcpVsLocal * 100}% of vrouter-local: met in ${tcp.filter((row) => row.vsLinux! >= g.tcpVsLinux && row.vsLocal! >= g.tcpVsLocal).length} of ${tcp.length} rows`);
  }
  out.push('');
  return out;
}
