/** The bench's output: a table for people, JSON for machines (bench/results/). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PacketResults, PathResult } from './packet-rate.ts';
import type { RateResult } from './route-rate.ts';
import type { ProgramCost } from './program-cost.ts';
import type { FlowCost } from './flow-cost.ts';
import type { TcpResults, TcpRow } from './tcp-rate.ts';
import { formatMisses, type MissResults } from './miss-report.ts';
import { TCP_PATHS } from './options.ts';
import { mpps } from './util.ts';

const RESULTS = fileURLToPath(new URL('results/', import.meta.url));

export interface BenchResult {
  startedAt: string;
  wallSeconds: number;
  host: { kernel: string; cpus: number; node: string };
  options: Record<string, unknown>;
  tcp?: TcpResults;
  packets?: PacketResults;
  routes?: RateResult[];
  program?: ProgramCost;
  flows?: FlowCost;
  misses?: MissResults;
}

export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** the goal of the TC hook: vrouter-tc >= 0.95 x veth-pair, at every MTU and stream count */
export const TC_GOAL = 0.95;

function formatTcp(t: TcpResults): string[] {
  const out: string[] = [];
  const x = (v: number | undefined, digits = 2) => (v === undefined ? '-' : `${v.toFixed(digits)}x`);
  out.push(`TCP pod1 -> pod2: iperf3 -t ${t.seconds}, median of ${t.runs} run(s) per row; CPU-s/Gbit = busy CPU time of the whole machine over the run / Gbit received`);
  const order = (row: TcpRow) => [row.mtu, row.streams, TCP_PATHS.indexOf(row.path)];
  const rows = [...t.rows].sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
  });
  out.push(table(
    ['path', 'MTU', 'streams', 'Gbit/s', 'vs veth-pair', 'vs linux', 'CPU-s/Gbit', 'CPU vs linux', 'retransmits', 'runs (Gbit/s)'],
    rows.map((row) => [
      row.path,
      String(row.mtu),
      String(row.streams),
      row.medianGbps.toFixed(2),
      x(row.vsVethPair),
      x(row.vsLinux),
      row.medianCpuSecondsPerGbit.toFixed(3),
      x(row.cpuVsLinux),
      String(Math.round(row.runs.reduce((a, r) => a + r.retransmits, 0) / row.runs.length)),
      row.runs.map((r) => r.gbps.toFixed(2)).join(' '),
    ]),
  ));
  const tc = t.rows.filter((row) => row.path === 'vrouter-tc' && row.vsVethPair !== undefined);
  if (tc.length) {
    const met = tc.filter((row) => row.vsVethPair! >= TC_GOAL).length;
    out.push(`goal vrouter-tc >= ${TC_GOAL} x veth-pair: met in ${met} of ${tc.length} rows (${tc.map((row) => `${row.mtu}/${row.streams}: ${row.vsVethPair!.toFixed(2)}x`).join(', ')})`);
  }
  out.push('(veth-pair: the pods joined by one veth, no router; pods keep default offloads except on vrouter-xdp: gro on, tx off)', '');
  return out;
}

function formatFlows(f: FlowCost): string[] {
  const ns = (x: number) => x.toFixed(1);
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const mib = (b: number | undefined) => (b === undefined ? '-' : (b / 2 ** 20).toFixed(1));
  return [
    `Flows: BPF_PROG_TEST_RUN, one ${f.frameBytes} B IPv4/UDP frame, plain route path (vif without policy) vs an established FORWARD flow (policy vif), median of ${f.samples}`,
    `hot: the frame's own flow, ${f.hotRuns} runs per sample (calls of ${f.repeat}); spread: ${f.spreadCalls} calls of one run, each on a random flow of the table (incl. the kernel timer's reads)`,
    table(
      ['hook', 'flows in table', 'plain ns', 'flow ns', 'flow/plain', 'flow - plain', 'spread plain ns', 'spread flow ns', 'flow/plain', 'flow - plain'],
      f.rows.flatMap((row) =>
        row.hooks.map((h) => [
          h.hook,
          String(row.flows),
          ns(h.plainNs),
          ns(h.flowNs),
          x(h.flowNs, h.plainNs),
          ns(h.flowNs - h.plainNs),
          ns(h.spreadPlainNs),
          ns(h.spreadFlowNs),
          x(h.spreadFlowNs, h.spreadPlainNs),
          ns(h.spreadFlowNs - h.spreadPlainNs),
        ]),
      ),
    ),
    `vr_flows (HASH, no prealloc, max_entries ${f.maxFlows}): kernel memory (fdinfo memlock; ${mib(f.emptyMemlockBytes)} MiB empty)`,
    table(
      ['flows in table', 'MiB', 'bytes/flow', 'fill s', 'fill flows/s', 'delete s'],
      f.rows.map((row) => [
        String(row.flows),
        mib(row.memlockBytes),
        row.memlockBytes === undefined || f.emptyMemlockBytes === undefined ? '-' : ((row.memlockBytes - f.emptyMemlockBytes) / row.flows).toFixed(0),
        row.fillSeconds.toFixed(3),
        Math.round(row.flows / row.fillSeconds).toString(),
        row.deleteSeconds.toFixed(3),
      ]),
    ),
    '',
  ];
}

export function formatReport(r: BenchResult): string {
  const out: string[] = [];
  const o = r.options;
  if (r.tcp) out.push(...formatTcp(r.tcp));
  if (r.packets) {
    const p = r.packets;
    out.push(`Packet rate: ${p.frameBytes} B IPv4/UDP, pod1 -> host ns -> pod2, median of ${o.runs} x ${o.dur} s, generator on CPU ${o.cpu ?? 'any'}`);
    const fwd = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(0));
    const tcs = p.tcSink;
    const rows: (readonly [PathResult, number | undefined, string])[] = [
      [p.floor, undefined, 'xdp'],
      [p.linux, p.forwardingNs.linux, 'xdp'],
      [p.xdp, p.forwardingNs.xdp, 'xdp'],
      ...(tcs
        ? ([[tcs.floor, undefined, 'tc'], [tcs.linux, tcs.forwardingNs.linux, 'tc'], [tcs.xdp, tcs.forwardingNs.xdp, 'tc'], [tcs.tc, tcs.forwardingNs.tc, 'tc']] as const)
        : []),
    ];
    out.push(table(
      ['path', 'sink', 'Mpps delivered', 'Mpps offered', 'ns/pkt', 'forwarding ns/pkt', 'runs (Mpps delivered)'],
      rows.map(([x, f, sink]) => [
        x.path,
        sink,
        mpps(x.medianPps),
        mpps(x.medianOfferedPps),
        (1e9 / x.medianPps).toFixed(0),
        fwd(f),
        x.runs.map((run) => mpps(run.deliveredPps)).join(' '),
      ]),
    ));
    out.push(`ratio ${p.xdp.path} / ${p.linux.path} (xdp sink): ${p.ratio.toFixed(2)}x packets/s; forwarding cost linux / xdp: ${p.forwardingNs.ratio.toFixed(2)}x`);
    if (tcs)
      out.push(`tc sink: vrouter-tc / linux ${tcs.ratios.tcVsLinux.toFixed(2)}x, vrouter-xdp / linux ${tcs.ratios.xdpVsLinux.toFixed(2)}x, vrouter-xdp / vrouter-tc ${tcs.ratios.xdpVsTc.toFixed(2)}x packets/s`);
    out.push(`(floor: generator + the sink on pod1's host veth, nothing forwarded; forwarding ns/pkt = ns/pkt - the floor's of the same sink;`);
    out.push(` sink xdp: XDP_DROP on pod2's eth0; tc: a TC ingress drop there, which sees the skb bpf_redirect_peer delivers; vrouter-tc on a topology of its own)`, '');
  }
  if (r.routes) {
    out.push('Route programming: IPv4 /32 routes, gRPC over the unix socket vs ip -batch into a fresh netns');
    out.push(table(
      ['method', 'routes', 'seconds', 'routes/s', 'vs ip -batch'],
      r.routes.map((x) => [x.name, String(x.routes), x.seconds.toFixed(3), Math.round(x.perSecond).toString(), `${(x.vsBaseline ?? 0).toFixed(2)}x`]),
    ));
    out.push('');
  }
  if (r.program) {
    const p = r.program;
    out.push(`XDP program alone: BPF_PROG_TEST_RUN, ${p.repeat} runs on one 60 B IPv4 frame, median of ${p.samples}`);
    out.push(table(
      ['program', 'ns/run', 'above empty'],
      [
        ['empty (XDP_DROP sink)', String(p.baselineNs), '-'],
        ['vr_xdp_vif, IPv4 forward, 1 route', String(p.forwardNs), String(p.forwardNs - p.baselineNs)],
        [`vr_xdp_vif, IPv4 forward, ${p.routes} routes`, String(p.forwardManyRoutesNs), String(p.forwardManyRoutesNs - p.baselineNs)],
      ],
    ));
    out.push('');
  }
  if (r.flows) out.push(...formatFlows(r.flows));
  if (r.misses) out.push(...formatMisses(r.misses));
  out.push(`wall time ${r.wallSeconds.toFixed(1)} s`);
  return out.join('\n');
}

/** writeResults: latest.json and a timestamped copy; returns the copy's path. */
export function writeResults(r: BenchResult): string {
  mkdirSync(RESULTS, { recursive: true });
  const json = `${JSON.stringify(r, null, 2)}\n`;
  const stamped = join(RESULTS, `${r.startedAt.replaceAll(':', '-')}.json`);
  writeFileSync(join(RESULTS, 'latest.json'), json);
  writeFileSync(stamped, json);
  return stamped;
}
