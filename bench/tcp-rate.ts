/**
 * TCP throughput pod1 -> pod2 with iperf3, the same traffic through five
 * paths in the same run, each on a topology of its own, built for its rows
 * (one MTU, every stream count) and removed right after them, so that rows
 * do not disturb each other and only one topology exists at a time:
 *
 *  - veth-pair: the two pod namespaces joined by one veth pair, no router:
 *    what TCP between two namespaces reaches at all (the limit);
 *  - linux: two pods behind a host namespace that forwards (ip_forward=1);
 *  - tc-bare: the same, a bare bpf_redirect_peer forwarder at tcx ingress of
 *    the host veths (bench/tc-bare.ts): the floor of any TC router here;
 *  - vrouter-tc: vrouter-ebpfd in the host namespace, both vifs with
 *    hook_policy TC (tcx ingress on the host veths, bpf_redirect_peer into
 *    the other pod);
 *  - vrouter-xdp: the same daemon with hook_policy XDP.
 *
 * Pods keep the kernel's default offloads (no ethtool at all), except on the
 * XDP path, which needs GRO on and TX checksum offload off in the pods
 * (lab Pod offloads 'xdp'; see DESIGN.md's veth facts).
 *
 * CPU: busy time of the whole machine (/proc/stat, every CPU) from the
 * client's start to its exit, over the gigabits received: "CPU-s per Gbit".
 * It counts both iperf3 ends, the forwarding and anything else running;
 * the daemon of the vrouter rows is idle during a run.
 */
import type { ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Lab } from '../lab/topology.ts';
import { buildTwoPods, programTwoPods } from '../lab/two-pods.ts';
import { AttachHook } from '../src/gen/vrouter/ebpf/v1/interface_pb.js';
import type { BenchOptions, TcpPath } from './options.ts';
import type { Rigs } from './rigs.ts';
import { enableLinuxForwarding } from './linux-forwarding.ts';
import { attachBarePeerForwarder } from './tc-bare.ts';
import { datapathView, requireHook } from './datapath-view.ts';
import { cpuBusySeconds, median, progress, sleep } from './util.ts';

const PORT = 5201;
/** iperf3 start-up, connection set-up and the final exchange, on top of -t */
const IPERF_SLACK_S = 20;

export interface TcpRun {
  /** end.sum_received: what the server got */
  gbps: number;
  bytes: number;
  seconds: number;
  /** end.sum_sent.retransmits */
  retransmits: number;
  /** busy CPU time of the machine over the client's lifetime */
  cpuBusySeconds: number;
  wallSeconds: number;
  cpuSecondsPerGbit: number;
}

export interface TcpRow {
  path: TcpPath;
  mtu: number;
  streams: number;
  runs: TcpRun[];
  medianGbps: number;
  medianCpuSecondsPerGbit: number;
  /** medianGbps over the veth-pair / linux row of the same MTU and streams (when measured) */
  vsVethPair?: number;
  vsLinux?: number;
  /** medianCpuSecondsPerGbit over the linux row's */
  cpuVsLinux?: number;
}

export interface TcpTopology {
  path: TcpPath;
  mtu: number;
  prefix: string;
  podOffloads: 'xdp' | 'default';
  /** the daemon's view after the rows (vrouter paths): hooks, attach modes, drops, vif counters */
  datapath?: Record<string, unknown>;
}

export interface TcpResults {
  seconds: number;
  runs: number;
  rows: TcpRow[];
  topologies: TcpTopology[];
}

/** Ends: where the iperf3 client and server run, and the server's address. */
export interface Ends {
  client: string;
  server: string;
  serverIp: string;
}

const HOOK: Partial<Record<TcpPath, AttachHook.TC | AttachHook.XDP>> = { 'vrouter-tc': AttachHook.TC, 'vrouter-xdp': AttachHook.XDP };

/** build: the topology of one path at one MTU, ready to carry TCP. */
async function build(rigs: Rigs, lab: Lab, path: TcpPath, mtu: number, topo: TcpTopology): Promise<Ends> {
  if (path === 'veth-pair') {
    const pod1 = lab.ns('pod1');
    // pod2's eth0 with its peer, also named eth0, in pod1: one veth pair, no host between
    const pod2 = lab.pod('pod2', pod1, 'eth0', '10.10.2.2/24', '10.10.2.1', 'fd00:10:2::2/64', 'fd00:10:2::1', mtu, { offloads: 'default' });
    lab.ip(pod1, ['addr', 'add', '10.10.2.1/24', 'dev', 'eth0']);
    return { client: pod1, server: pod2.ns, serverIp: pod2.ip4 };
  }
  const t = buildTwoPods(lab, mtu, { offloads: topo.podOffloads });
  const ends = { client: t.pods[0].ns, server: t.pods[1].ns, serverIp: t.pods[1].ip4 };
  if (path === 'linux') {
    // removed with the topology: nothing to undo
    enableLinuxForwarding(lab, t, { hostGro: false });
    return ends;
  }
  if (path === 'tc-bare') {
    attachBarePeerForwarder(lab, t);
    return ends;
  }
  const hook = HOOK[path]!;
  const daemon = await rigs.startDaemon(lab, t.host);
  await programTwoPods(daemon.client!, t, hook);
  await requireHook(daemon.client!, hook);
  return ends;
}

/** run: resolves with the exit code and output of a process, killed after timeoutMs. */
function run(p: ChildProcess, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  p.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const kill = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    const done = (code: number | null) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    };
    if (p.exitCode !== null || p.signalCode !== null) done(p.exitCode);
    else p.once('exit', done);
  });
}

/** listening: polls until a TCP socket listens on port in ns (bounded). */
async function listening(lab: Lab, ns: string, port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!lab.exec(ns, 'ss', ['-Hltn', `sport = :${port}`]).trim()) {
    if (Date.now() > deadline) throw new Error(`iperf3 server in ${ns} not listening on ${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

interface IperfJson {
  error?: string;
  end?: { sum_received?: { bytes: number; seconds: number; bits_per_second: number }; sum_sent?: { retransmits?: number } };
}

/** iperf: one iperf3 run client -> server, with the machine's busy CPU time over it. */
export async function iperf(lab: Lab, ends: Ends, streams: number, seconds: number, what: string): Promise<TcpRun> {
  const server = lab.spawnIn(ends.server, 'iperf3', ['-s', '-1', '-p', String(PORT)]);
  const served = run(server, (seconds + 2 * IPERF_SLACK_S) * 1000);
  try {
    await listening(lab, ends.server, PORT);
    const cpu0 = cpuBusySeconds();
    const t0 = performance.now();
    const client = lab.spawnIn(ends.client, 'iperf3', [
      '-c', ends.serverIp, '-p', String(PORT), '-t', String(seconds), '-P', String(streams), '-J', '--connect-timeout', '3000',
    ]);
    const c = await run(client, (seconds + IPERF_SLACK_S) * 1000);
    const wallSeconds = (performance.now() - t0) / 1000;
    const cpu = cpuBusySeconds() - cpu0;
    let j: IperfJson;
    try {
      j = JSON.parse(c.stdout) as IperfJson;
    } catch {
      throw new Error(`${what}: iperf3 client exited with ${c.code ?? 'a signal'} without JSON: ${(c.stderr || c.stdout).slice(0, 500)}`);
    }
    if (j.error) throw new Error(`${what}: iperf3: ${j.error}`);
    const r = j.end?.sum_received;
    if (!r || !(r.bytes > 0)) throw new Error(`${what}: the run carried no data (iperf3 end.sum_received.bytes = ${r?.bytes ?? 'missing'})`);
    const gbit = (r.bytes * 8) / 1e9;
    return {
      gbps: r.bits_per_second / 1e9,
      bytes: r.bytes,
      seconds: r.seconds,
      retransmits: j.end?.sum_sent?.retransmits ?? 0,
      cpuBusySeconds: cpu,
      wallSeconds,
      cpuSecondsPerGbit: cpu / gbit,
    };
  } finally {
    // the server exits after its one test; one that never got it is killed
    if (server.exitCode === null && server.signalCode === null) setTimeout(() => server.kill('SIGKILL'), 3000).unref();
    await served;
  }
}

/** ratios: each row against the veth-pair and linux rows of the same MTU and stream count. */
function addRatios(rows: TcpRow[]): void {
  for (const row of rows) {
    const base = (path: TcpPath) => rows.find((b) => b.path === path && b.mtu === row.mtu && b.streams === row.streams);
    const pair = base('veth-pair');
    const linux = base('linux');
    if (pair) row.vsVethPair = row.medianGbps / pair.medianGbps;
    if (linux) {
      row.vsLinux = row.medianGbps / linux.medianGbps;
      row.cpuVsLinux = row.medianCpuSecondsPerGbit / linux.medianCpuSecondsPerGbit;
    }
  }
}

/**
 * measureTcp: every path at every MTU and stream count, opts.tcpRuns runs
 * each. The runs go round the paths (run 1 of every path, then run 2, ...),
 * each round on freshly built topologies, so that a machine that gets
 * slower or faster for a while (this one is shared and noisy) weighs on
 * every path alike instead of on one path's whole row.
 */
export async function measureTcp(rigs: Rigs, opts: BenchOptions): Promise<TcpResults> {
  const runs = new Map<string, TcpRun[]>();
  const key = (path: TcpPath, mtu: number, streams: number) => `${path}/${mtu}/${streams}`;
  const topologies: TcpTopology[] = [];
  for (const mtu of opts.tcpMtus) {
    for (let i = 0; i < opts.tcpRuns; i++) {
      for (const path of opts.tcpPaths) {
        const lab = rigs.lab('vrtcp');
        const topo: TcpTopology = { path, mtu, prefix: lab.prefix, podOffloads: path === 'vrouter-xdp' ? 'xdp' : 'default' };
        topologies.push(topo);
        progress(`tcp ${path} MTU ${mtu} run ${i + 1}/${opts.tcpRuns}: lab ${lab.prefix}`);
        const ends = await build(rigs, lab, path, mtu, topo);
        lab.ping(ends.client, ends.serverIp, 2);
        for (const streams of opts.tcpStreams) {
          const what = `tcp ${path} MTU ${mtu} -P ${streams} run ${i + 1}`;
          const r = await iperf(lab, ends, streams, opts.tcpDur, what);
          const k = key(path, mtu, streams);
          runs.set(k, [...(runs.get(k) ?? []), r]);
          progress(`${what}: ${r.gbps.toFixed(2)} Gbit/s, ${r.cpuSecondsPerGbit.toFixed(3)} CPU-s/Gbit, ${r.retransmits} retransmits`);
        }
        const daemon = rigs.daemonOf(lab);
        if (daemon?.client) topo.datapath = await datapathView(daemon.client);
        await rigs.release(lab);
      }
    }
  }
  const rows: TcpRow[] = [];
  for (const mtu of opts.tcpMtus)
    for (const streams of opts.tcpStreams)
      for (const path of opts.tcpPaths) {
        const rs = runs.get(key(path, mtu, streams))!;
        rows.push({
          path, mtu, streams, runs: rs,
          medianGbps: median(rs.map((r) => r.gbps)),
          medianCpuSecondsPerGbit: median(rs.map((r) => r.cpuSecondsPerGbit)),
        });
      }
  addRatios(rows);
  return { seconds: opts.tcpDur, runs: opts.tcpRuns, rows, topologies };
}
