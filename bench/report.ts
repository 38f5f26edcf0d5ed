/** The bench's output: a table for people, JSON for machines (bench/results/). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PacketResults, PathResult } from './packet-rate.ts';
import type { RateResult } from './route-rate.ts';
import type { ProgramCost } from './program-cost.ts';
import type { FlowCost } from './flow-cost.ts';
import type { RouteCost } from './route-cost.ts';
import type { TcpResults, TcpRow } from './tcp-rate.ts';
import { formatOverlay, type OverlayResults } from './overlay-rate.ts';
import { formatMisses, type MissResults } from './miss-report.ts';
import { TCP_PATHS } from './options.ts';
import { mpps, table } from './util.ts';

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
  overlay?: OverlayResults;
  lookup?: RouteCost;
  misses?: MissResults;
}

export { table };

/** the goal of the XDP path: >= 0.95 x the bare XDP redirect's packets per second (issue 9) */
export const BARE_SHARE_GOAL = 0.95;

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

/** the lookup phase's goal: per-packet cost at the largest table within +10% of the smallest's */
export const LOOKUP_GOAL = 1.1;

function formatLookup(l: RouteCost): string[] {
  const ns = (x: number) => x.toFixed(1);
  const pct = (a: number, b: number) => `${a >= b ? '+' : ''}${((a / b - 1) * 100).toFixed(0)}%`;
  const mib = (b: number | undefined) => (b === undefined ? '-' : (b / 2 ** 20).toFixed(1));
  const first = (kind: string) => l.rows.find((r) => r.kind === kind)!;
  const label = (kind: string) => (kind === 'host' ? '/32s' : '/24s');
  const out = [
    `Route lookup: BPF_PROG_TEST_RUN of vr_xdp_vif, one ${l.frameBytes} B IPv4/UDP frame forwarded, median of ${l.samples}; max-routes ${l.maxRoutes} at every size`,
    'before: the v3 build (every route in the vr_rt4 trie); after: this build (a /32 in the vr_host4 hash, looked up first; other prefixes in the trie)',
    `hot: one destination of the table, ${l.hotRuns} runs per sample (calls of ${l.repeat}); spread: ${l.spreadCalls} calls of one run, each to a random destination of the table (incl. the kernel timer's reads); "vs first": against the smallest table of the same build`,
    table(
      ['table', 'routes', 'hot before', 'hot after', 'after/before', 'vs first: before', 'after', 'spread before', 'spread after', 'after/before', 'vs first: before', 'after'],
      l.rows.map((r) => {
        const f = first(r.kind);
        return [
          label(r.kind), String(r.routes),
          ns(r.hotNs.before), ns(r.hotNs.after), `${(r.hotNs.after / r.hotNs.before).toFixed(2)}x`, pct(r.hotNs.before, f.hotNs.before), pct(r.hotNs.after, f.hotNs.after),
          ns(r.spreadNs.before), ns(r.spreadNs.after), `${(r.spreadNs.after / r.spreadNs.before).toFixed(2)}x`, pct(r.spreadNs.before, f.spreadNs.before), pct(r.spreadNs.after, f.spreadNs.after),
        ];
      }),
    ),
  ];
  for (const kind of new Set(l.rows.map((r) => r.kind))) {
    const rows = l.rows.filter((r) => r.kind === kind);
    const [a, z] = [rows[0]!, rows[rows.length - 1]!];
    if (a === z) continue;
    const met = (x: number, y: number) => (y / x <= LOOKUP_GOAL ? 'met' : 'not met');
    out.push(`${label(kind)}, ${a.routes} -> ${z.routes} routes, goal <= +${Math.round((LOOKUP_GOAL - 1) * 100)}%: hot ${met(a.hotNs.after, z.hotNs.after)} (before ${pct(z.hotNs.before, a.hotNs.before)}, after ${pct(z.hotNs.after, a.hotNs.after)}), spread ${met(a.spreadNs.after, z.spreadNs.after)} (before ${pct(z.spreadNs.before, a.spreadNs.before)}, after ${pct(z.spreadNs.after, a.spreadNs.after)})`);
  }
  out.push(
    `kernel memory of the table's maps (fdinfo memlock; empty: before ${mib(l.emptyMemlockBytes.before)} MiB, after ${mib(l.emptyMemlockBytes.after)} MiB: vr_host4's buckets)`,
    table(
      ['table', 'routes', 'MiB before (vr_rt4)', 'MiB after (vr_host4 + vr_rt4)', 'fill s before (raw)', 'fill s after (manager)'],
      l.rows.map((r) => [label(r.kind), String(r.routes), mib(r.memlockBytes.before), mib(r.memlockBytes.after), r.fillSeconds.before.toFixed(3), r.fillSeconds.after.toFixed(3)]),
    ),
    '',
  );
  return out;
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
    const above = (x: PathResult, floor: PathResult) => 1e9 / x.medianPps - 1e9 / floor.medianPps;
    const rows: (readonly [PathResult, number | undefined, string])[] = [
      [p.floor, undefined, 'xdp'],
      [p.linux, p.forwardingNs.linux, 'xdp'],
      ...(p.bare ? ([[p.bare, above(p.bare, p.floor), 'xdp']] as const) : []),
      [p.xdp, p.forwardingNs.xdp, 'xdp'],
      ...(tcs
        ? ([
            [tcs.floor, undefined, 'tc'],
            [tcs.linux, tcs.forwardingNs.linux, 'tc'],
            ...(tcs.bare ? ([[tcs.bare, above(tcs.bare, tcs.floor), 'tc']] as const) : []),
            [tcs.xdp, tcs.forwardingNs.xdp, 'tc'],
            [tcs.tc, tcs.forwardingNs.tc, 'tc'],
          ] as const)
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
    if (p.shareOfBare !== undefined) {
      const tcShare = tcs?.xdpShareOfBare === undefined ? '' : `, tc sink ${(100 * tcs.xdpShareOfBare).toFixed(1)}%`;
      out.push(`vrouter-xdp as a share of the bare XDP redirect (the limit): xdp sink ${(100 * p.shareOfBare).toFixed(1)}%${tcShare}; goal >= ${100 * BARE_SHARE_GOAL}%`);
    }
    if (tcs)
      out.push(`tc sink: vrouter-tc / linux ${tcs.ratios.tcVsLinux.toFixed(2)}x, vrouter-xdp / linux ${tcs.ratios.xdpVsLinux.toFixed(2)}x, vrouter-xdp / vrouter-tc ${tcs.ratios.xdpVsTc.toFixed(2)}x packets/s`);
    out.push(`(floor: generator + the sink on pod1's host veth, nothing forwarded; xdp-redirect: a bare XDP redirect there, the limit; forwarding ns/pkt = ns/pkt - the floor's of the same sink;`);
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
        ['empty (XDP_DROP sink)', p.baselineNs.toFixed(1), '-'],
        ['vr_xdp_vif, IPv4 forward, 1 route', p.forwardNs.toFixed(1), (p.forwardNs - p.baselineNs).toFixed(1)],
        [`vr_xdp_vif, IPv4 forward, ${p.routes} routes`, p.forwardManyRoutesNs.toFixed(1), (p.forwardManyRoutesNs - p.baselineNs).toFixed(1)],
      ],
    ));
    out.push('');
  }
  if (r.flows) out.push(...formatFlows(r.flows));
  if (r.lookup) out.push(...formatLookup(r.lookup));
  if (r.overlay) out.push(...formatOverlay(r.overlay, { runs: o.runs, dur: o.dur, tcpDur: o.tcpDur, tcpRuns: o.tcpRuns }));
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
